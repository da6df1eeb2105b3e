/**
 * Checks a provider's primary key before it is used: it exists, it is Active, and the key server can wrap with it
 * in a mode (a real round trip, plus a refused wrong AAD: a server that ignored the AAD would pass a round trip).
 * @module
 */
import { randomBytes } from "node:crypto";
import { enumText, KmipResultError, maskValue, TTLV_TYPE } from "@tessera/kmip";
import type { KmipClient } from "@tessera/kmip-client";
import { ProviderKeyError } from "./errors.ts";
import { kmipCall } from "./_kmip_faults.ts";
import { open, seal, type KeyRef } from "./_wrap_modes.ts";
import { wrapAad } from "./wrap_aad.ts";
import { WRAP_MODES, type WrapMode } from "./wrapped_form.ts";

/** The mode asked for: one of the wrap modes, or `auto` (A256GCM if the server has it, else CBC-HMAC-SHA256). */
export type WrapModePreference = "auto" | WrapMode;

/** What {@link probeProvider} found. */
export interface ProbeResult {
  /** The mode to wrap in. */
  mode: WrapMode;
  /** The key's State as KMIP names it (always `Active` when the probe succeeds). */
  keyState: string;
}

/**
 * Probes key `keyId` through `client`: Get Attributes (State, usage mask), then a wrap/unwrap round trip of a
 * random block in each mode allowed by `preferred`, in the order of {@link WRAP_MODES}; the first that works wins.
 * @throws ProviderKeyError KEY_NOT_FOUND (also when the server hides the key from this client), KEY_NOT_ACTIVE,
 *   MODE_UNSUPPORTED naming each mode tried and the server's answer; KeyServersUnreachableError;
 *   KmipOutcomeUnknownError unchanged
 * @example const { mode } = await probeProvider(client, "42", "auto"); // "A256GCM" on kmipd
 */
export async function probeProvider(client: KmipClient, keyId: string, preferred: WrapModePreference = "auto"): Promise<ProbeResult> {
  const attrs = await kmipCall(
    keyId,
    () => client.getAttributes(keyId, ["State", "CryptographicUsageMask"]),
    (e) =>
      e.reason === "PermissionDenied"
        ? new ProviderKeyError("KEY_NOT_FOUND", `The key server does not let this client see key ${JSON.stringify(keyId)}: ${e.message}`, { cause: e })
        : e,
  );
  const stateItem = attrs.get("State")?.[0];
  const keyState = stateItem?.type === TTLV_TYPE.Enumeration ? enumText(stateItem, client.version) : undefined;
  if (keyState === undefined) throw new ProviderKeyError("KEY_NOT_ACTIVE", `The key server reports no State for key ${JSON.stringify(keyId)}`);
  if (keyState !== "Active") throw new ProviderKeyError("KEY_NOT_ACTIVE", `Key ${JSON.stringify(keyId)} is ${keyState}, not Active`);
  const maskItem = attrs.get("Cryptographic Usage Mask")?.[0];
  const mask = maskItem?.type === TTLV_TYPE.Integer ? maskItem.value : undefined;

  const key: KeyRef = { keyId, label: `key ${JSON.stringify(keyId)}` };
  const answers: string[] = [];
  for (const mode of preferred === "auto" ? WRAP_MODES : [preferred]) {
    const missing = missingUses(mask, mode);
    if (missing.length > 0) {
      answers.push(`${mode}: the key's Cryptographic Usage Mask lacks ${missing.join(", ")}`);
      continue;
    }
    const answer = await roundTrip(client, key, mode);
    if (answer === undefined) return { mode, keyState };
    answers.push(`${mode}: ${answer}`);
  }
  throw new ProviderKeyError(
    "MODE_UNSUPPORTED",
    `Key ${JSON.stringify(keyId)} cannot wrap in ${preferred === "auto" ? "any mode" : preferred}: ${answers.join("; ")}`,
  );
}

function missingUses(mask: number | undefined, mode: WrapMode): string[] {
  // A server that does not report the mask gets the benefit of the doubt: the round trip decides.
  if (mask === undefined) return [];
  const uses = mode === "A256GCM" ? ["Encrypt", "Decrypt"] : ["Encrypt", "Decrypt", "MACGenerate"];
  return uses.filter((u) => (mask & maskValue("CryptographicUsageMask", u)) === 0).map((u) => (u === "MACGenerate" ? "MAC Generate" : u));
}

/** Undefined when `mode` works; else the server's answer. Unreachable servers and lost answers are thrown. */
async function roundTrip(client: KmipClient, key: KeyRef, mode: WrapMode): Promise<string | undefined> {
  const block = new Uint8Array(randomBytes(32));
  const aad = wrapAad("tessera-kmx-probe", 0);
  try {
    const sealed = await seal(client, key, mode, aad, block);
    const back = await open(client, key, mode, aad, sealed);
    if (Buffer.compare(back, block) !== 0) return "the round trip gave back other bytes";
    try {
      await open(client, key, mode, wrapAad("tessera-kmx-probe", 1), sealed);
      return "a wrong AAD was accepted";
    } catch (e) {
      if (!(e instanceof ProviderKeyError && e.code === "UNWRAP_FAILED")) throw e;
    }
    return undefined;
  } catch (e) {
    if (e instanceof KmipResultError) return e.message;
    if (e instanceof ProviderKeyError && (e.code === "MODE_UNSUPPORTED" || e.code === "UNWRAP_FAILED")) return e.message;
    throw e;
  }
}
