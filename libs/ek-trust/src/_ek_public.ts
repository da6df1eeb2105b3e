/**
 * The EK public area that goes with an EK certificate's key, when the host sent only the certificate.
 * @module
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { ekTemplate, fitInteger, keyMaterial, TPM_ECC_CURVE, type TpmtPublic } from "@tessera/tpm2";

/** The certificate's SubjectPublicKeyInfo as a key. @throws Error naming what is wrong with it. */
export function spkiKey(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
}

/**
 * The TCG default low-range EK template (EK Credential Profile, Annex B: L-1 RSA 2048, L-2 ECC NIST P-256) with
 * the certificate's key in `unique`: exactly what TPM2_CreatePrimary returns for the default EK of a TPM that
 * keeps no template or nonce in NV (tpm2_createek without options).
 * @throws Error for other keys (RSA 3072, P-384 …: high-range templates whose public area the host must send).
 */
export function ekPublicFromCertificateKey(key: KeyObject): TpmtPublic {
  const m = keyMaterial(key);
  if (m.type === "rsa") {
    const n = fitModulus(m.n);
    if (n.length !== 256) throw new Error(`the certificate's RSA ${n.length * 8} key has no TCG default low-range EK template (RSA 2048): send ekPublic`);
    const pub = ekTemplate("rsa2048");
    return { ...pub, parameters: { ...(pub.parameters as object), exponent: m.e === 65537 ? 0 : m.e } as TpmtPublic["parameters"], unique: n };
  }
  if (m.curveID !== TPM_ECC_CURVE.NIST_P256) {
    throw new Error(`the certificate's ECC key (TPM curve 0x${m.curveID.toString(16).padStart(4, "0")}) has no TCG default low-range EK template (NIST P-256): send ekPublic`);
  }
  const pub = ekTemplate("ecc-p256");
  return { ...pub, unique: { x: fitInteger(m.x, 32), y: fitInteger(m.y, 32) } };
}

function fitModulus(n: Uint8Array): Uint8Array {
  let start = 0;
  while (start < n.length - 1 && n[start] === 0) start++;
  return n.slice(start);
}
