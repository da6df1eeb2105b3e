/**
 * The EK fingerprint: how attestd names an EK in pins, enrollments and logs.
 * @module
 */
import { hash, publicKeyDer, TPM_ALG, toHex, unmarshalPublic, type TpmtPublic } from "@tessera/tpm2";
import { EkTrustError } from "./errors.ts";

/**
 * The hex SHA-256 of the EK's public key as DER SubjectPublicKeyInfo: the same value whether the key came
 * from a TPM public area or from an EK certificate (`openssl x509 -pubkey -noout | openssl pkey -pubin
 * -outform der | sha256sum` gives it too), and independent of the public area's attributes and policy.
 *
 * @param ekPublic the EK's public area, decoded or as TPM2B_PUBLIC / TPMT_PUBLIC bytes
 * @example
 * ```ts
 * ekFingerprint(await readFile("ek.pub")); // "3f9a…" (64 hex digits)
 * ```
 * @throws EkTrustError EK_TRUST_PARSE when the bytes do not decode or hold no usable RSA/ECC key.
 */
export function ekFingerprint(ekPublic: TpmtPublic | Uint8Array): string {
  try {
    const pub = ekPublic instanceof Uint8Array ? unmarshalPublic(ekPublic) : ekPublic;
    return toHex(hash(TPM_ALG.SHA256, publicKeyDer(pub)));
  } catch (cause) {
    throw new EkTrustError("EK_TRUST_PARSE", `Cannot fingerprint the EK public area: ${(cause as Error).message}`, { cause });
  }
}
