/**
 * Digests and HMACs by TPM_ALG_ID, over node:crypto (synchronous, which keeps TPM framing and HMAC chains
 * simple and fast), and byte helpers.
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { HASH_NAME, HASH_SIZE } from "./constants.ts";
import { TpmUnsupportedError } from "./errors.ts";

/** The node:crypto name of a hash algorithm; TpmUnsupportedError for unknown ones. */
export function hashName(alg: number): string {
  const n = HASH_NAME[alg];
  if (!n) throw new TpmUnsupportedError(`hash algorithm 0x${alg.toString(16).padStart(4, "0")} is not supported`);
  return n;
}

/** The digest size of a hash algorithm; TpmUnsupportedError for unknown ones. */
export function hashSize(alg: number): number {
  const n = HASH_SIZE[alg];
  if (!n) throw new TpmUnsupportedError(`hash algorithm 0x${alg.toString(16).padStart(4, "0")} is not supported`);
  return n;
}

/** H_alg(parts…). */
export function hash(alg: number, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(hashName(alg));
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** HMAC_alg(key, parts…). */
export function hmac(alg: number, key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac(hashName(alg), key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Concatenation of byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A big-endian UINT32. */
export function u32be(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

/** A big-endian UINT16. */
export function u16be(v: number): Uint8Array {
  return new Uint8Array([(v >> 8) & 0xff, v & 0xff]);
}

/** Constant-time equality (false when lengths differ). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
