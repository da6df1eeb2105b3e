/**
 * Wrapping and unwrapping keys with a provider's primary key on its key server (KMIP Encrypt/Decrypt/MAC), in the
 * wrapped form of {@link encodeWrapped}, with the provider and key version as AAD.
 * @module
 */
import type { KmipClient } from "@tessera/kmip-client";
import { ProviderKeyError } from "./errors.ts";
import { open, seal, type KeyRef } from "./_wrap_modes.ts";
import { wrapAad } from "./wrap_aad.ts";
import { decodeWrapped, encodeWrapped, type WrapMode } from "./wrapped_form.ts";

/** One version of a provider's primary key: the key on the key server and the mode it wraps in. */
export interface ProviderKey {
  /** Provider name. */
  provider: string;
  /** Primary-key version, 1, 2, … */
  version: number;
  /** The key's Unique Identifier on the key server. */
  keyId: string;
  /** The mode new keys are wrapped in (as {@link probeProvider} chose it). */
  mode: WrapMode;
}

/** A provider's key versions: the key of version `kv`, or undefined when it has none. */
export type KeyVersions = (kv: number) => ProviderKey | undefined;

function ref(key: ProviderKey): KeyRef {
  return { keyId: key.keyId, label: `provider ${JSON.stringify(key.provider)} key version ${key.version}` };
}

/**
 * Wraps `plaintext` with `key` on the key server, in `key.mode`, and returns the wrapped form.
 * @throws KeyServersUnreachableError when no key server answers; ProviderKeyError KEY_NOT_FOUND / KEY_NOT_ACTIVE /
 *   MODE_UNSUPPORTED; WrappedKeyError for a provider name or version the wrapped form cannot carry;
 *   KmipOutcomeUnknownError and other KMIP refusals (KmipResultError) unchanged
 * @example const wrapped = await wrap(client, { provider: "kms-1", version: 1, keyId: "42", mode: "A256GCM" }, dataKey);
 */
export async function wrap(client: KmipClient, key: ProviderKey, plaintext: Uint8Array): Promise<string> {
  // Check the form's fields first, so that a name it cannot carry costs no KMIP request.
  const probe = { v: 1, provider: key.provider, kv: key.version, mode: key.mode } as const;
  const blank = { iv: new Uint8Array(key.mode === "A256GCM" ? 12 : 16), ct: new Uint8Array(16), tag: new Uint8Array(key.mode === "A256GCM" ? 16 : 32) };
  encodeWrapped({ ...probe, ...blank });
  const sealed = await seal(client, ref(key), key.mode, wrapAad(key.provider, key.version), plaintext);
  return encodeWrapped({ ...probe, ...sealed });
}

/**
 * Unwraps a wrapped form: looks its key version up in `versions`, checks that it is that provider's, and opens it
 * on the key server in the mode the form records.
 * @throws WrappedKeyError (`WRAPPED_MALFORMED`); ProviderKeyError KEY_VERSION_UNKNOWN (no such version),
 *   UNWRAP_FAILED (another provider's key, or authentication failed: tampered, wrong AAD), KEY_NOT_FOUND,
 *   KEY_NOT_ACTIVE, MODE_UNSUPPORTED; KeyServersUnreachableError; KmipOutcomeUnknownError unchanged
 */
export async function unwrap(client: KmipClient, versions: KeyVersions, wrapped: string): Promise<Uint8Array> {
  const w = decodeWrapped(wrapped);
  const key = versions(w.kv);
  if (key === undefined || key.version !== w.kv) {
    throw new ProviderKeyError(
      "KEY_VERSION_UNKNOWN",
      `The wrapped key names key version ${w.kv} of provider ${JSON.stringify(w.provider)}, which is not known here`,
    );
  }
  if (key.provider !== w.provider) {
    throw new ProviderKeyError("UNWRAP_FAILED", `The wrapped key belongs to provider ${JSON.stringify(w.provider)}, not ${JSON.stringify(key.provider)}`);
  }
  return open(client, ref(key), w.mode, wrapAad(w.provider, w.kv), w);
}

/**
 * Moves a wrapped key to `current` (the provider's current key version and mode): unwraps it (checked as
 * {@link unwrap} checks) and wraps it again. The key itself is never returned.
 * @throws as {@link unwrap} and {@link wrap}
 */
export async function rewrap(client: KmipClient, versions: KeyVersions, current: ProviderKey, wrapped: string): Promise<string> {
  const plaintext = await unwrap(client, versions, wrapped);
  try {
    return await wrap(client, current, plaintext);
  } finally {
    plaintext.fill(0);
  }
}
