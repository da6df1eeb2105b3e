/**
 * The TPM's key derivation functions (Part 1, 11.4.10): KDFa (SP 800-108 counter mode with HMAC)
 * and KDFe (SP 800-56A concatenation KDF).
 * @module
 */
import { concat, hash, hashSize, hmac, u32be } from "./digest.ts";

const encoder = new TextEncoder();

function labelBytes(label: string | Uint8Array): Uint8Array {
  const l = typeof label === "string" ? encoder.encode(label) : label;
  // The label is used with its terminating zero octet; add one unless the caller gave it.
  return l.length > 0 && l[l.length - 1] === 0 ? l : concat(l, new Uint8Array([0]));
}

function truncate(out: Uint8Array, bits: number): Uint8Array {
  const bytes = Math.ceil(bits / 8);
  const r = out.slice(0, bytes);
  if (bits % 8 !== 0) r[0] &= (1 << (bits % 8)) - 1;
  return r;
}

/**
 * KDFa(hashAlg, key, label, contextU, contextV, bits): SP 800-108 counter-mode KDF with HMAC-hashAlg.
 * @example kdfa(TPM_ALG.SHA256, seed, "STORAGE", akName, new Uint8Array(), 128)
 */
export function kdfa(hashAlg: number, key: Uint8Array, label: string | Uint8Array, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const size = hashSize(hashAlg);
  const l = labelBytes(label);
  const parts: Uint8Array[] = [];
  const bitsBytes = u32be(bits);
  for (let i = 1, got = 0; got * 8 < bits; i++, got += size) {
    parts.push(hmac(hashAlg, key, u32be(i), l, contextU, contextV, bitsBytes));
  }
  return truncate(concat(...parts), bits);
}

/**
 * KDFe(hashAlg, Z, label, partyUInfo, partyVInfo, bits): SP 800-56A concatenation KDF.
 * `z` is the x-coordinate of the ECDH shared point; partyU/V are the x-coordinates of the ephemeral and static keys.
 */
export function kdfe(hashAlg: number, z: Uint8Array, label: string | Uint8Array, partyUInfo: Uint8Array, partyVInfo: Uint8Array, bits: number): Uint8Array {
  const size = hashSize(hashAlg);
  const l = labelBytes(label);
  const parts: Uint8Array[] = [];
  for (let i = 1, got = 0; got * 8 < bits; i++, got += size) {
    parts.push(hash(hashAlg, u32be(i), z, l, partyUInfo, partyVInfo));
  }
  return truncate(concat(...parts), bits);
}
