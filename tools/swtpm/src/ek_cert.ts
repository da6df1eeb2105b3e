/**
 * Where a manufactured swtpm keeps its EK certificates, and how {@link startSwtpm} reports them.
 * @module
 */

/** NV indices of the TCG EK certificates and the swtpm platform certificate. */
export const EK_CERT_NV_INDEX = {
  /** RSA 2048 EK certificate (low range, default template L-1). */
  rsa2048: 0x01c00002,
  /** ECC NIST P-256 EK certificate (low range, default template L-2). */
  eccNistP256: 0x01c0000a,
  /** ECC NIST P-384 EK certificate (high range, template H-3), written by swtpm_setup. */
  eccNistP384: 0x01c00016,
  /** RSA 3072 EK certificate (high range, template H-6), written by swtpm_setup with `rsaKeySize: 3072`. */
  rsa3072: 0x01c0001c,
  /** swtpm_setup's platform certificate. */
  platform: 0x01c08000,
} as const;

/** Key type of an EK certificate that {@link startSwtpm} provisioned. */
export type EkCertKind = "rsa2048" | "rsa3072" | "eccNistP256" | "eccNistP384";

/** An EK certificate provisioned into the TPM's NV. */
export interface SwtpmEkCert {
  /** Key type of the certified EK. */
  readonly kind: EkCertKind;
  /** NV index holding the DER certificate. */
  readonly nvIndex: number;
  /** DER encoded X.509 certificate (byte-identical to the NV contents). */
  readonly der: Uint8Array;
}
