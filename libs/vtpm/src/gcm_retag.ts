/**
 * AES-GCM's tag for other associated data, without the content: what lets a rewrap bind the envelope's new header to
 * content it does not read again.
 *
 * NIST SP 800-38D, 6.4 and 7.1: the tag is T = E_K(J0) ⊕ S with S = GHASH_H(A ‖ 0* ‖ C ‖ 0* ‖ [len A]64 ‖ [len C]64),
 * H = E_K(0^128), and GHASH_H(X_1 … X_m) = Σ X_i • H^(m−i+1) in GF(2^128). With a blocks of A and c blocks of C, A's
 * blocks carry H^(c+1) times GHASH_H(A), C's blocks powers that do not depend on a, the length block H^1. So for
 * associated data A′ instead of A, the same key, nonce and ciphertext:
 *
 *   T′ = T ⊕ (GHASH_H(A) ⊕ GHASH_H(A′)) • H^(c+1) ⊕ (L ⊕ L′) • H
 *
 * which needs H (one AES block of the key), A, A′ and the ciphertext's length — not the ciphertext. The tag stays as
 * strong as before: T′ is exactly the tag node:crypto computes for (A′, C) (tested against it), and a ciphertext
 * changed before or after still fails it. The caller must know that K is the content's key (a wrong K gives a tag
 * that no key opens).
 * @module
 */
import { createCipheriv, type KeyObject } from "node:crypto";

/** GCM's reduction constant R = 11100001 ‖ 0^120, as a 128-bit integer (bit 0 of the block is its most significant bit). */
const R = 0xe1n << 120n;
const MASK = (1n << 128n) - 1n;

/** A 16-byte block as a big-endian integer. */
function toInt(b: Uint8Array, at = 0): bigint {
  let x = 0n;
  for (let i = 0; i < 16; i++) x = (x << 8n) | BigInt(at + i < b.length ? b[at + i] : 0);
  return x;
}

function toBytes(x: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** X • Y in GF(2^128), SP 800-38D Algorithm 1. */
function mul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127; i >= 0; i--) {
    if ((x >> BigInt(i)) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z & MASK;
}

/** H^n, n ≥ 1. */
function pow(h: bigint, n: number): bigint {
  let result = 1n << 127n; // the field's 1 (x^0 is the block's first bit)
  let base = h;
  for (let e = BigInt(n); e > 0n; e >>= 1n) {
    if (e & 1n) result = mul(result, base);
    base = mul(base, base);
  }
  return result;
}

/** GHASH_H of `a` padded with zeros to whole blocks. */
function ghash(h: bigint, a: Uint8Array): bigint {
  let y = 0n;
  for (let at = 0; at < a.length; at += 16) y = mul(y ^ toInt(a, at), h);
  return y;
}

/** The length block [len(A)]64 ‖ [len(C)]64, in bits. */
function lengths(aadBytes: number, contentBytes: number): bigint {
  return (BigInt(aadBytes * 8) << 64n) | BigInt(contentBytes * 8);
}

/** H = E_K(0^128). */
function hashKey(key: KeyObject): bigint {
  const c = createCipheriv("aes-256-ecb", key, null);
  c.setAutoPadding(false);
  const h = c.update(new Uint8Array(16));
  c.final();
  const x = toInt(h);
  h.fill(0);
  return x;
}

/**
 * The AES-256-GCM tag of the same key, nonce and ciphertext (of `contentBytes` bytes) under `newAad` instead of
 * `oldAad`, from the old tag.
 * @param key the content's AES-256 key
 * @param tag the 16-byte tag under `oldAad`
 */
export function gcmRetag(key: KeyObject, tag: Uint8Array, oldAad: Uint8Array, newAad: Uint8Array, contentBytes: number): Uint8Array {
  if (tag.length !== 16) throw new RangeError(`a GCM tag is 16 bytes, got ${tag.length}`);
  const h = hashKey(key);
  const blocks = Math.ceil(contentBytes / 16);
  const dA = mul(ghash(h, oldAad) ^ ghash(h, newAad), pow(h, blocks + 1));
  const dL = mul(lengths(oldAad.length, contentBytes) ^ lengths(newAad.length, contentBytes), h);
  return toBytes(toInt(tag) ^ dA ^ dL);
}
