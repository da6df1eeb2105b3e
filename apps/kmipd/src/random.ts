/**
 * The RNG attribute of generated keys (identifiers are @tessera/service's `uuidV7`).
 * @module
 */
import { item, struct, type Ttlv } from "@tessera/kmip";

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
