/**
 * Hashing for the replay and the digest checks (private): node:crypto's one-shot `hash`, several times cheaper than
 * a Hash object for the small inputs of a log (a PCR extend, an event's data), with @tessera/tpm2's `hash` as the
 * reference for anything it does not know.
 * @module
 */
import { hash as oneShot } from "node:crypto";
import { algName, HASH_NAME, HASH_SIZE, hash as tpmHash } from "@tessera/tpm2";

/** H_alg(data) as a new Uint8Array (the same bytes and type as @tessera/tpm2's `hash`). */
export function digest(alg: number, data: Uint8Array): Uint8Array {
  const name = HASH_NAME[alg];
  if (name !== undefined) {
    try {
      return new Uint8Array(oneShot(name, data, "buffer"));
    } catch {
      // an algorithm this OpenSSL lacks: tpm2's hash says so in its own words below
    }
  }
  return tpmHash(alg, data);
}

/** H_alg(pcr ‖ measured): one PCR extend. */
export function extend(alg: number, pcr: Uint8Array, measured: Uint8Array): Uint8Array {
  const both = new Uint8Array(pcr.length + measured.length);
  both.set(pcr, 0);
  both.set(measured, pcr.length);
  return digest(alg, both);
}

/** The lower-case hex SHA-256 of `data`. */
export function sha256Hex(data: Uint8Array): string {
  return oneShot("sha256", data, "hex");
}

const NAMES = new Map<number, string>();

/** @tessera/tpm2's `algName`, remembered (it searches every TPM_ALG entry on each call). */
export function bankName(alg: number): string {
  let n = NAMES.get(alg);
  if (n === undefined) {
    n = algName(alg);
    // Only ids a digest can have: the map stays as small as the set of hash algorithms (and a few unknown ids).
    if (HASH_SIZE[alg] !== undefined || NAMES.size < 64) NAMES.set(alg, n);
  }
  return n;
}
