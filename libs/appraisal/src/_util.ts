/**
 * Helpers of the appraisal's checks (private).
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { algName, TPMT_SIGNATURE, unmarshal, verifySignature, type TpmtPublic, type TpmtSignature } from "@tessera/tpm2";
import type { AppraisalPolicy } from "./types.ts";

const DEFAULT_SIGNATURE_ALGS = ["rsassa", "rsapss", "ecdsa"];
export const DEFAULT_HASH_ALGS = ["sha1", "sha256", "sha384", "sha512"];

const ALG_NAMES = new Map<number, string>();

/** @tessera/tpm2's algName, remembered (it searches every TPM_ALG entry per call). */
export function bankName(alg: number): string {
  let n = ALG_NAMES.get(alg);
  if (n === undefined) {
    n = algName(alg);
    if (ALG_NAMES.size < 64) ALG_NAMES.set(alg, n);
  }
  return n;
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Constant-time equality of two byte strings (the length is not secret). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && (a.length === 0 || timingSafeEqual(a, b));
}

/** Checks the signature by `ak` over `signed`: decodes, allowed by policy, verifies. Returns a failure detail or undefined. */
export function signatureProblem(ak: TpmtPublic, signed: Uint8Array, sigBytes: Uint8Array, policy: AppraisalPolicy, what: string): string | undefined {
  let sig: TpmtSignature;
  try {
    sig = unmarshal(TPMT_SIGNATURE, sigBytes);
  } catch (e) {
    return `the ${what} signature is not a TPMT_SIGNATURE: ${message(e)}`;
  }
  const scheme = bankName(sig.sigAlg);
  const hashAlg = (sig.signature as { hash?: number }).hash;
  if (!(policy.signatureAlgorithms ?? DEFAULT_SIGNATURE_ALGS).includes(scheme)) return `the ${what} signature scheme ${scheme} is not allowed by the policy`;
  if (hashAlg === undefined || !(policy.hashAlgorithms ?? DEFAULT_HASH_ALGS).includes(bankName(hashAlg))) {
    return `the ${what} signature hash ${hashAlg === undefined ? "none" : algName(hashAlg)} is not allowed by the policy`;
  }
  try {
    verifySignature(ak, signed, sig);
  } catch (e) {
    return `the ${what} signature does not verify with the AK: ${message(e)}`;
  }
  return undefined;
}
