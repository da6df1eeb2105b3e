/**
 * Random bytes from a pool refilled 4 KiB at a time: one CSPRNG call serves many keys and nonces, instead of
 * one call (and its fixed cost) for every 12-byte nonce. Every byte is handed out once.
 * @module
 */
import { randomFillSync } from "node:crypto";
import { item, struct, type Ttlv } from "@tessera/kmip";

const POOL = new Uint8Array(4096);
let at = POOL.length;

/** `n` fresh random bytes (a copy; the pool bytes are wiped as they are taken). */
export function randomBytesFromPool(n: number): Uint8Array {
  if (n > POOL.length) return randomFillSync(new Uint8Array(n));
  if (at + n > POOL.length) {
    randomFillSync(POOL);
    at = 0;
  }
  const out = POOL.slice(at, at + n);
  POOL.fill(0, at, at + n);
  at += n;
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A new Unique Identifier: a UUID version 7 (RFC 9562 §5.7), the creation time in milliseconds followed by 74
 * random bits. Identifiers made close in time sort together, so a new object's index entries land on the pages
 * the previous ones were written to (random version-4 identifiers scatter every insert over the whole index),
 * and they stay unguessable.
 */
export function uuidV7(nowMs: number = Date.now()): string {
  const b = randomBytesFromPool(16);
  let t = nowMs;
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i]];
  }
  return s;
}

/**
 * The Random Number Generator attribute (KMIP 1.3+, 2.1 §4.48) of key material this server generates: every
 * key comes from OpenSSL's default generator (`randomFillSync`, `generateKeyPairSync`), the NIST SP 800-90A
 * CTR_DRBG over AES-256. A client that registers material or names another RNG keeps its own value.
 */
export function serverRngAttribute(): Ttlv {
  return struct("RandomNumberGenerator", [
    item("RNGAlgorithm", "DRBG"),
    item("CryptographicAlgorithm", "AES"),
    item("CryptographicLength", 256),
    item("DRBGAlgorithm", "CTR"),
  ]);
}
