/**
 * Key templates: the TCG default EK templates (TCG EK Credential Profile 2.x, Annex B: L-1, L-2 low range,
 * H-1, H-2 high range) and Tessera's attestation key (AK) templates.
 * @module
 */
import { TPM_ALG, TPM_ECC_CURVE, TPMA_OBJECT as A } from "./constants.ts";
import type { TpmtPublic } from "./structures.ts";
import { fromHex } from "./hex.ts";

/** PolicyA (SHA-256): PolicySecret(TPM_RH_ENDORSEMENT), the authPolicy of the low-range EK templates. */
export const EK_POLICY_A_SHA256 = fromHex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa");
/** PolicyB (SHA-256): the authPolicy of the high-range EK templates (H-1, H-2). */
export const EK_POLICY_B_SHA256 = fromHex("ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0");

const EK_LOW_ATTRS = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.adminWithPolicy | A.restricted | A.decrypt;
const EK_HIGH_ATTRS = EK_LOW_ATTRS | A.userWithAuth;
// Templates are built fresh on every call: callers may edit what they get.
const aes128cfb = () => ({ algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB });

/** EK NV indexes (TCG EK Credential Profile, 2.2.1.4): certificates, and the low range's nonce and template. */
export const EK_NV = {
  RSA2048_CERT: 0x01c00002,
  RSA2048_NONCE: 0x01c00003,
  RSA2048_TEMPLATE: 0x01c00004,
  ECC_P256_CERT: 0x01c0000a,
  ECC_P256_NONCE: 0x01c0000b,
  ECC_P256_TEMPLATE: 0x01c0000c,
  H1_RSA2048_CERT: 0x01c00012,
  H2_ECC_P256_CERT: 0x01c00014,
  H3_ECC_P384_CERT: 0x01c00016,
  H4_ECC_P521_CERT: 0x01c00018,
  H6_RSA3072_CERT: 0x01c0001c,
  H7_RSA4096_CERT: 0x01c0001e,
} as const;

/** The EK kinds Tessera recreates. */
export type EkKind = "rsa2048" | "ecc-p256" | "rsa2048-high" | "ecc-p256-high";

/** Where an EK kind keeps its certificate, and (low range only) its template and nonce. */
export const EK_KINDS: Readonly<Record<EkKind, { cert: number; nonce?: number; template?: number }>> = {
  rsa2048: { cert: EK_NV.RSA2048_CERT, nonce: EK_NV.RSA2048_NONCE, template: EK_NV.RSA2048_TEMPLATE },
  "ecc-p256": { cert: EK_NV.ECC_P256_CERT, nonce: EK_NV.ECC_P256_NONCE, template: EK_NV.ECC_P256_TEMPLATE },
  "rsa2048-high": { cert: EK_NV.H1_RSA2048_CERT },
  "ecc-p256-high": { cert: EK_NV.H2_ECC_P256_CERT },
};

/**
 * The default EK template of a kind. For the low range, a nonce stored in NV fills the unique field as the
 * profile says: RSA puts it at the start of the 256-byte modulus, ECC at the start of the 32-byte x.
 */
export function ekTemplate(kind: EkKind, nonce?: Uint8Array): TpmtPublic {
  const high = kind.endsWith("-high");
  const base = {
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: high ? EK_HIGH_ATTRS : EK_LOW_ATTRS,
    authPolicy: (high ? EK_POLICY_B_SHA256 : EK_POLICY_A_SHA256).slice(),
  };
  if (kind.startsWith("rsa")) {
    const unique = high ? new Uint8Array() : new Uint8Array(256);
    if (nonce && !high) unique.set(nonce.subarray(0, 256));
    return {
      type: TPM_ALG.RSA,
      ...base,
      parameters: { symmetric: aes128cfb(), scheme: { scheme: TPM_ALG.NULL, details: null }, keyBits: 2048, exponent: 0 },
      unique,
    };
  }
  const x = high ? new Uint8Array() : new Uint8Array(32);
  if (nonce && !high) x.set(nonce.subarray(0, 32));
  return {
    type: TPM_ALG.ECC,
    ...base,
    parameters: {
      symmetric: aes128cfb(),
      scheme: { scheme: TPM_ALG.NULL, details: null },
      curveID: TPM_ECC_CURVE.NIST_P256,
      kdf: { scheme: TPM_ALG.NULL, details: null },
    },
    unique: { x, y: high ? new Uint8Array() : new Uint8Array(32) },
  };
}

/** AK kinds. */
export type AkKind = "rsa" | "ecc";

/**
 * An attestation key template: a restricted signing key (fixedTPM, fixedParent, sensitiveDataOrigin,
 * userWithAuth, restricted, sign) with RSASSA-SHA256 (RSA 2048) or ECDSA-SHA256 (P-256), as tpm2_createak makes.
 */
export function akTemplate(kind: AkKind): TpmtPublic {
  const base = {
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.restricted | A.sign,
    authPolicy: new Uint8Array(),
  };
  const NULL_SYM = { algorithm: TPM_ALG.NULL, keyBits: null, mode: null };
  if (kind === "rsa") {
    return {
      type: TPM_ALG.RSA,
      ...base,
      parameters: { symmetric: NULL_SYM, scheme: { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA256 } }, keyBits: 2048, exponent: 0 },
      unique: new Uint8Array(),
    };
  }
  return {
    type: TPM_ALG.ECC,
    ...base,
    parameters: {
      symmetric: NULL_SYM,
      scheme: { scheme: TPM_ALG.ECDSA, details: { hashAlg: TPM_ALG.SHA256 } },
      curveID: TPM_ECC_CURVE.NIST_P256,
      kdf: { scheme: TPM_ALG.NULL, details: null },
    },
    unique: { x: new Uint8Array(), y: new Uint8Array() },
  };
}

/**
 * A binding key template (PROTOCOL.md §3): an RSA-2048 decryption key that cannot leave its TPM (fixedTPM,
 * fixedParent, sensitiveDataOrigin, userWithAuth, decrypt; not sign, not restricted), scheme null, so that
 * whatever is encrypted to it (RSA-OAEP-256, a JWE's content key) only that TPM can read. `unique` holds the
 * modulus of an existing key (default empty, for TPM2_Create).
 */
export function bindingKeyTemplate(modulus: Uint8Array = new Uint8Array()): TpmtPublic {
  return {
    type: TPM_ALG.RSA,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.decrypt,
    authPolicy: new Uint8Array(),
    parameters: {
      symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null },
      scheme: { scheme: TPM_ALG.NULL, details: null },
      keyBits: 2048,
      exponent: 0,
    },
    unique: modulus,
  };
}

/**
 * The TCG storage root key template (TCG TPM v2.0 Provisioning Guidance, ECC P-256 SRK): a restricted
 * decryption key with AES-128-CFB, under which objects such as sealed data are created.
 */
export function srkTemplate(): TpmtPublic {
  return {
    type: TPM_ALG.ECC,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.noDA | A.restricted | A.decrypt,
    authPolicy: new Uint8Array(),
    parameters: {
      symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB },
      scheme: { scheme: TPM_ALG.NULL, details: null },
      curveID: TPM_ECC_CURVE.NIST_P256,
      kdf: { scheme: TPM_ALG.NULL, details: null },
    },
    unique: { x: new Uint8Array(32), y: new Uint8Array(32) },
  };
}

/** A sealed-data object template: a KEYEDHASH object holding caller-supplied data, released by TPM2_Unseal. */
export function sealedDataTemplate(authPolicy: Uint8Array = new Uint8Array()): TpmtPublic {
  return {
    type: TPM_ALG.KEYEDHASH,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.noDA | (authPolicy.length ? 0 : A.userWithAuth),
    authPolicy,
    parameters: { scheme: { scheme: TPM_ALG.NULL, details: null } },
    unique: new Uint8Array(),
  };
}
