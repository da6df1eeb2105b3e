/**
 * How the KMIP client's failures become this lib's errors: every server unreachable → KeyServersUnreachableError
 * naming each; a missing or inactive key → ProviderKeyError; the rest unchanged (KmipOutcomeUnknownError above all:
 * its request may have been applied and must not be repeated blindly).
 * @module
 */
import { KmipResultError, KmipTransportError } from "@tessera/kmip";
import { KeyServersUnreachableError, ProviderKeyError } from "./errors.ts";

/** `host:port: failure` for each server the client tried, from its KmipTransportError. */
export function serversTried(e: KmipTransportError): string[] {
  const cause = e.cause;
  const errors = cause instanceof AggregateError ? (cause.errors as unknown[]) : cause instanceof Error ? [cause] : [e];
  return errors.map((x) => {
    const message = x instanceof Error ? x.message : String(x);
    // The connection names its server at the start of each message it makes.
    const m = /^KMIP server (\S+): ([\s\S]*)$/.exec(message);
    return m ? `${m[1]}: ${m[2]}` : message;
  });
}

/**
 * Runs one KMIP call with key `keyId`, translating its failures. `refused`, when given, turns any other refusal by
 * the server into the caller's error (e.g. UNWRAP_FAILED for a Decrypt).
 */
export async function kmipCall<T>(keyId: string, fn: () => Promise<T>, refused?: (e: KmipResultError) => Error): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KmipTransportError) throw new KeyServersUnreachableError(serversTried(e), { cause: e });
    if (e instanceof KmipResultError) {
      if (e.reason === "ItemNotFound")
        throw new ProviderKeyError("KEY_NOT_FOUND", `The key server has no key ${JSON.stringify(keyId)}: ${e.message}`, { cause: e });
      if (e.reason === "WrongKeyLifecycleState") {
        throw new ProviderKeyError("KEY_NOT_ACTIVE", `Key ${JSON.stringify(keyId)} is not usable in its state: ${e.message}`, { cause: e });
      }
      if (refused) throw refused(e);
    }
    throw e;
  }
}
