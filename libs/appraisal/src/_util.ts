/**
 * Helpers of the appraisal's checks (private).
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { ContentCache } from "@tessera/eventlog";
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

/**
 * Signatures that verified, per decoded AK object (see `signatureProblem`'s `remember`): each AK's set holds the
 * content keys of the (signed bytes, signature) pairs that verified with it. Keyed by the object, not its bytes:
 * _ak_cache.ts hands out one object per AK content, and an AK it evicts takes its verified signatures with it.
 */
const VERIFIED = new WeakMap<TpmtPublic, ContentCache<true>>();

/** How many verified pairs are kept per AK (a host has one binding key; a few more cover its renewals). */
const VERIFIED_PER_AK = 4;

/** The signed bytes and the signature as one input whose content names both (the signed length comes first). */
function signedPair(signed: Uint8Array, sigBytes: Uint8Array): Uint8Array {
  const pair = new Uint8Array(4 + signed.length + sigBytes.length);
  new DataView(pair.buffer).setUint32(0, signed.length);
  pair.set(signed, 4);
  pair.set(sigBytes, 4 + signed.length);
  return pair;
}

/**
 * Checks the signature by `ak` over `signed`: decodes, allowed by policy, verifies. Returns a failure detail or
 * undefined. With `remember`, a pair of signed bytes and signature that verified with this AK object is not verified
 * again (a signature's check is a pure function of the key and those bytes; the policy's checks still run each
 * time): for what a host sends unchanged with every attestation, its binding key's certification. A quote is signed
 * over a fresh nonce and is never remembered.
 */
export function signatureProblem(
  ak: TpmtPublic,
  signed: Uint8Array,
  sigBytes: Uint8Array,
  policy: AppraisalPolicy,
  what: string,
  remember = false,
): string | undefined {
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
  const verified = remember ? VERIFIED.get(ak) : undefined;
  const verifyOnce = (): true => {
    verifySignature(ak, signed, sig);
    return true;
  };
  try {
    if (!remember) verifyOnce();
    else if (verified !== undefined) verified.get(signedPair(signed, sigBytes), verifyOnce, "verified");
    else {
      const cache = new ContentCache<true>(VERIFIED_PER_AK, 64 * 1024);
      cache.get(signedPair(signed, sigBytes), verifyOnce, "verified");
      VERIFIED.set(ak, cache);
    }
  } catch (e) {
    return `the ${what} signature does not verify with the AK: ${message(e)}`;
  }
  return undefined;
}
