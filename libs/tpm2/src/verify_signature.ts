/**
 * Verification of TPM signatures (TPMT_SIGNATURE) by a TPM public area: RSASSA-PKCS1-v1_5, RSASSA-PSS
 * (any salt length, as TPMs differ) and ECDSA.
 * @module
 */
import { constants, verify } from "node:crypto";
import { algName, TPM_ALG } from "./constants.ts";
import { hashName } from "./digest.ts";
import { ecdsaDer } from "./ecdsa_sig.ts";
import { TpmVerifyError } from "./errors.ts";
import { eccCurve, eccParms, publicKeyOf, rsaParms } from "./public_key.ts";
import type { TpmsSignatureEcc, TpmsSignatureRsa, TpmtPublic, TpmtSignature } from "./structures.ts";

/**
 * Checks that `signature` is a signature by `pub` over `message` (the signed bytes; they are hashed with the
 * signature's hash algorithm). When the key fixes a scheme (restricted keys), the signature must use it.
 * Throws {@link TpmVerifyError} (`TPM2_VERIFY_SCHEME` or `TPM2_VERIFY_SIGNATURE`) saying what failed.
 */
export function verifySignature(pub: TpmtPublic, message: Uint8Array, signature: TpmtSignature): void {
  const alg = signature.sigAlg;
  let ok: boolean;
  if (alg === TPM_ALG.RSASSA || alg === TPM_ALG.RSAPSS) {
    if (pub.type !== TPM_ALG.RSA) throw new TpmVerifyError("TPM2_VERIFY_SCHEME", `${algName(alg)} signature but the key is ${algName(pub.type)}`);
    const sig = signature.signature as TpmsSignatureRsa;
    checkScheme(rsaParms(pub).scheme, alg, sig.hash);
    // PKCS#1 v1.5 is an RSA key's default: the key object is passed bare, which node:crypto takes ~50 µs faster than
    // an options object (its key-type probe of a plain object is slow).
    ok =
      alg === TPM_ALG.RSASSA
        ? verify(hashName(sig.hash), message, publicKeyOf(pub), sig.sig)
        : verify(hashName(sig.hash), message, { key: publicKeyOf(pub), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.sig);
  } else if (alg === TPM_ALG.ECDSA) {
    if (pub.type !== TPM_ALG.ECC) throw new TpmVerifyError("TPM2_VERIFY_SCHEME", `ecdsa signature but the key is ${algName(pub.type)}`);
    const parms = eccParms(pub);
    const sig = signature.signature as TpmsSignatureEcc;
    checkScheme(parms.scheme, alg, sig.hash);
    const size = eccCurve(parms.curveID).size;
    if (sig.signatureR.length > size + 1 || sig.signatureS.length > size + 1) {
      throw new TpmVerifyError("TPM2_VERIFY_SIGNATURE", "ECDSA signature values are longer than the curve allows");
    }
    // DER (node:crypto's default encoding for ECDSA) so that the key object is passed bare: see the RSA case.
    ok = verify(hashName(sig.hash), message, publicKeyOf(pub), ecdsaDer(strip(sig.signatureR, size), strip(sig.signatureS, size)));
  } else {
    throw new TpmVerifyError("TPM2_VERIFY_SCHEME", `signature algorithm ${algName(alg)} cannot be verified with a public key`);
  }
  if (!ok) throw new TpmVerifyError("TPM2_VERIFY_SIGNATURE", `${algName(alg)} signature does not verify with the key`);
}

function strip(b: Uint8Array, size: number): Uint8Array {
  let i = 0;
  while (b.length - i > size && b[i] === 0) i++;
  if (b.length - i > size) throw new TpmVerifyError("TPM2_VERIFY_SIGNATURE", "ECDSA signature value exceeds the curve size");
  return b.subarray(i);
}

function checkScheme(scheme: { scheme: number; details: unknown }, alg: number, hashAlg: number): void {
  if (scheme.scheme === TPM_ALG.NULL) return;
  if (scheme.scheme !== alg) {
    throw new TpmVerifyError("TPM2_VERIFY_SCHEME", `the key's scheme is ${algName(scheme.scheme)} but the signature is ${algName(alg)}`);
  }
  const keyHash = (scheme.details as { hashAlg?: number } | null)?.hashAlg;
  if (keyHash !== undefined && keyHash !== hashAlg) {
    throw new TpmVerifyError("TPM2_VERIFY_SCHEME", `the key's scheme hash is ${algName(keyHash)} but the signature used ${algName(hashAlg)}`);
  }
}
