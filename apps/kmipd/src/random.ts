/**
 * Identifiers and the RNG attribute of generated keys; random bytes come from @tessera/service's pool.
 * @module
 */
import { randomBytesFromPool } from "@tessera/service";
import { item, struct, type Ttlv } from "@tessera/kmip";

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
