/**
 * The associated data bound to every wrapped key, so that a wrapped key cannot be passed off as another
 * provider's or another key version's (both AEAD modes authenticate it).
 * @module
 */

/** The AAD's fixed prefix; the version in it changes only with the wrapped form's. */
export const AAD_PREFIX = "tessera-kmx/v1";

/**
 * The AAD of a key wrapped by `provider`'s primary key version `kv`: UTF-8 of `tessera-kmx/v1\0<provider>\0<kv>`.
 * @example wrapAad("kms-1", 2) // bytes of "tessera-kmx/v1\u0000kms-1\u00002"
 */
export function wrapAad(provider: string, kv: number): Uint8Array {
  return new TextEncoder().encode(`${AAD_PREFIX}\u0000${provider}\u0000${kv}`);
}
