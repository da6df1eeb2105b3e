/**
 * TPM 2.0 structures (TCG TPM 2.0 Library Part 2), each declared once as a schema value and
 * coded by the generic marshaller in `schema.ts`. Names keep the specification's spelling.
 * Maximum sizes are the specification's `sizeof` bounds for a TPM that implements RSA 4096,
 * ECC P-521 and SHA-512; a larger size on the wire is a decode error, not an allocation.
 * @module
 */
import { alias, empty, fixed, i32, type Infer, list, sized, sized8, sizedStruct, struct, u16, u32, u64, u8, union } from "./schema.ts";
import { HASH_SIZE, TPM_ALG, TPM_CAP, TPM_ST } from "./constants.ts";

// ---- TPM2B byte buffers ----
/** TPM2B_DIGEST: up to sizeof(TPMU_HA) = 64 bytes. */
export const TPM2B_DIGEST = sized("TPM2B_DIGEST", 64);
/** TPM2B_DATA: up to sizeof(TPMT_HA) = 66 bytes. */
export const TPM2B_DATA = sized("TPM2B_DATA", 66);
/** TPM2B_NONCE: a TPM2B_DIGEST. */
export const TPM2B_NONCE = sized("TPM2B_NONCE", 64);
/** TPM2B_AUTH: a TPM2B_DIGEST. */
export const TPM2B_AUTH = sized("TPM2B_AUTH", 64);
/** TPM2B_OPERAND: a TPM2B_DIGEST. */
export const TPM2B_OPERAND = sized("TPM2B_OPERAND", 64);
/** TPM2B_EVENT: up to 1024 bytes. */
export const TPM2B_EVENT = sized("TPM2B_EVENT", 1024);
/** TPM2B_MAX_BUFFER: up to MAX_DIGEST_BUFFER (1024). */
export const TPM2B_MAX_BUFFER = sized("TPM2B_MAX_BUFFER", 1024);
/** TPM2B_MAX_NV_BUFFER: up to MAX_NV_BUFFER_SIZE (2048 covers every TPM seen). */
export const TPM2B_MAX_NV_BUFFER = sized("TPM2B_MAX_NV_BUFFER", 2048);
/** TPM2B_TIMEOUT: up to 8 bytes. */
export const TPM2B_TIMEOUT = sized("TPM2B_TIMEOUT", 8);
/** TPM2B_IV: up to MAX_SYM_BLOCK_SIZE (16). */
export const TPM2B_IV = sized("TPM2B_IV", 16);
/** TPM2B_NAME: up to sizeof(TPMU_NAME) = 66 bytes (a TPMT_HA or a handle). */
export const TPM2B_NAME = sized("TPM2B_NAME", 66);
/** TPM2B_PUBLIC_KEY_RSA: up to MAX_RSA_KEY_BYTES (512, RSA 4096). */
export const TPM2B_PUBLIC_KEY_RSA = sized("TPM2B_PUBLIC_KEY_RSA", 512);
/** TPM2B_ECC_PARAMETER: up to MAX_ECC_KEY_BYTES (66 for P-521; 128 allowed). */
export const TPM2B_ECC_PARAMETER = sized("TPM2B_ECC_PARAMETER", 128);
/** TPM2B_ENCRYPTED_SECRET: up to sizeof(TPMU_ENCRYPTED_SECRET) (512). */
export const TPM2B_ENCRYPTED_SECRET = sized("TPM2B_ENCRYPTED_SECRET", 512);
/** TPM2B_ID_OBJECT: a credential blob, sizeof(TPMS_ID_OBJECT) = 132 bytes at most. */
export const TPM2B_ID_OBJECT = sized("TPM2B_ID_OBJECT", 132);
/** TPM2B_PRIVATE: a wrapped private area, up to sizeof(_PRIVATE) (2048 covers RSA 4096). */
export const TPM2B_PRIVATE = sized("TPM2B_PRIVATE", 2048);
/** TPM2B_ATTEST: the signed bytes of a TPMS_ATTEST, kept raw because signatures are over these exact bytes. */
export const TPM2B_ATTEST = sized("TPM2B_ATTEST", 4096);
/** TPM2B_SENSITIVE_DATA: up to MAX_SYM_DATA (128). */
export const TPM2B_SENSITIVE_DATA = sized("TPM2B_SENSITIVE_DATA", 128);
/** TPM2B_DIGEST as used for TPM2B_TEMPLATE-like opaque public areas up to sizeof(TPMT_PUBLIC). */
export const TPM2B_TEMPLATE = sized("TPM2B_TEMPLATE", 1024);

// ---- PCR selection and digests ----
/** TPMS_PCR_SELECTION: a hash bank and a bitmap of PCRs (PCR n is bit n%8 of byte n/8). */
export const TPMS_PCR_SELECTION = struct("TPMS_PCR_SELECTION", { hash: u16, pcrSelect: sized8("TPMS_PCR_SELECT", 32) });
/** TPML_PCR_SELECTION: up to HASH_COUNT (16) banks. */
export const TPML_PCR_SELECTION = list("TPML_PCR_SELECTION", TPMS_PCR_SELECTION, 16);
/** TPML_DIGEST: up to 8 digests. */
export const TPML_DIGEST = list("TPML_DIGEST", TPM2B_DIGEST, 8);

const digestArms = Object.fromEntries(Object.entries(HASH_SIZE).map(([alg, size]) => [alg, fixed(`TPMU_HA(${alg})`, size)])) as Record<
  number,
  ReturnType<typeof fixed>
>;
/** TPMT_HA: a hash algorithm and a digest of exactly that algorithm's size. */
export const TPMT_HA = struct("TPMT_HA", { hashAlg: u16, digest: union("TPMU_HA", "hashAlg", { ...digestArms, [TPM_ALG.NULL]: fixed("TPMU_HA(null)", 0) }) });
/** TPML_DIGEST_VALUES: one TPMT_HA per bank (PCR_Extend). */
export const TPML_DIGEST_VALUES = list("TPML_DIGEST_VALUES", TPMT_HA, 16);

// ---- Clock, time ----
/** TPMS_CLOCK_INFO. */
export const TPMS_CLOCK_INFO = struct("TPMS_CLOCK_INFO", { clock: u64, resetCount: u32, restartCount: u32, safe: u8 });
/** TPMS_TIME_INFO. */
export const TPMS_TIME_INFO = struct("TPMS_TIME_INFO", { time: u64, clockInfo: TPMS_CLOCK_INFO });

// ---- Attestation ----
/** TPMS_CERTIFY_INFO. */
export const TPMS_CERTIFY_INFO = struct("TPMS_CERTIFY_INFO", { name: TPM2B_NAME, qualifiedName: TPM2B_NAME });
/** TPMS_QUOTE_INFO. */
export const TPMS_QUOTE_INFO = struct("TPMS_QUOTE_INFO", { pcrSelect: TPML_PCR_SELECTION, pcrDigest: TPM2B_DIGEST });
/** TPMS_COMMAND_AUDIT_INFO. */
export const TPMS_COMMAND_AUDIT_INFO = struct("TPMS_COMMAND_AUDIT_INFO", {
  auditCounter: u64,
  digestAlg: u16,
  auditDigest: TPM2B_DIGEST,
  commandDigest: TPM2B_DIGEST,
});
/** TPMS_SESSION_AUDIT_INFO. */
export const TPMS_SESSION_AUDIT_INFO = struct("TPMS_SESSION_AUDIT_INFO", { exclusiveSession: u8, sessionDigest: TPM2B_DIGEST });
/** TPMS_CREATION_INFO. */
export const TPMS_CREATION_INFO = struct("TPMS_CREATION_INFO", { objectName: TPM2B_NAME, creationHash: TPM2B_DIGEST });
/** TPMS_NV_CERTIFY_INFO. */
export const TPMS_NV_CERTIFY_INFO = struct("TPMS_NV_CERTIFY_INFO", { indexName: TPM2B_NAME, offset: u16, nvContents: TPM2B_MAX_NV_BUFFER });
/** TPMS_NV_DIGEST_CERTIFY_INFO. */
export const TPMS_NV_DIGEST_CERTIFY_INFO = struct("TPMS_NV_DIGEST_CERTIFY_INFO", { indexName: TPM2B_NAME, nvDigest: TPM2B_DIGEST });
/** TPMS_TIME_ATTEST_INFO. */
export const TPMS_TIME_ATTEST_INFO = struct("TPMS_TIME_ATTEST_INFO", { time: TPMS_TIME_INFO, firmwareVersion: u64 });

/** TPMS_ATTEST: what Quote, Certify, CertifyCreation, NV_Certify, GetTime and the audit commands sign. */
export const TPMS_ATTEST = struct("TPMS_ATTEST", {
  magic: u32,
  type: u16,
  qualifiedSigner: TPM2B_NAME,
  extraData: TPM2B_DATA,
  clockInfo: TPMS_CLOCK_INFO,
  firmwareVersion: u64,
  attested: union("TPMU_ATTEST", "type", {
    [TPM_ST.ATTEST_CERTIFY]: TPMS_CERTIFY_INFO,
    [TPM_ST.ATTEST_CREATION]: TPMS_CREATION_INFO,
    [TPM_ST.ATTEST_QUOTE]: TPMS_QUOTE_INFO,
    [TPM_ST.ATTEST_COMMAND_AUDIT]: TPMS_COMMAND_AUDIT_INFO,
    [TPM_ST.ATTEST_SESSION_AUDIT]: TPMS_SESSION_AUDIT_INFO,
    [TPM_ST.ATTEST_TIME]: TPMS_TIME_ATTEST_INFO,
    [TPM_ST.ATTEST_NV]: TPMS_NV_CERTIFY_INFO,
    [TPM_ST.ATTEST_NV_DIGEST]: TPMS_NV_DIGEST_CERTIFY_INFO,
  }),
});

// ---- Schemes ----
/** TPMS_SCHEME_HASH. */
export const TPMS_SCHEME_HASH = struct("TPMS_SCHEME_HASH", { hashAlg: u16 });
/** TPMS_SCHEME_ECDAA. */
export const TPMS_SCHEME_ECDAA = struct("TPMS_SCHEME_ECDAA", { hashAlg: u16, count: u16 });
/** TPMS_SCHEME_XOR. */
export const TPMS_SCHEME_XOR = struct("TPMS_SCHEME_XOR", { hashAlg: u16, kdf: u16 });

const asymSchemeArms = {
  [TPM_ALG.RSASSA]: TPMS_SCHEME_HASH,
  [TPM_ALG.RSAPSS]: TPMS_SCHEME_HASH,
  [TPM_ALG.OAEP]: TPMS_SCHEME_HASH,
  [TPM_ALG.RSAES]: empty,
  [TPM_ALG.ECDSA]: TPMS_SCHEME_HASH,
  [TPM_ALG.ECDH]: TPMS_SCHEME_HASH,
  [TPM_ALG.ECMQV]: TPMS_SCHEME_HASH,
  [TPM_ALG.SM2]: TPMS_SCHEME_HASH,
  [TPM_ALG.ECSCHNORR]: TPMS_SCHEME_HASH,
  [TPM_ALG.ECDAA]: TPMS_SCHEME_ECDAA,
  [TPM_ALG.NULL]: empty,
};
/** TPMT_SIG_SCHEME. */
export const TPMT_SIG_SCHEME = struct("TPMT_SIG_SCHEME", {
  scheme: u16,
  details: union("TPMU_SIG_SCHEME", "scheme", {
    [TPM_ALG.RSASSA]: TPMS_SCHEME_HASH,
    [TPM_ALG.RSAPSS]: TPMS_SCHEME_HASH,
    [TPM_ALG.ECDSA]: TPMS_SCHEME_HASH,
    [TPM_ALG.SM2]: TPMS_SCHEME_HASH,
    [TPM_ALG.ECSCHNORR]: TPMS_SCHEME_HASH,
    [TPM_ALG.ECDAA]: TPMS_SCHEME_ECDAA,
    [TPM_ALG.HMAC]: TPMS_SCHEME_HASH,
    [TPM_ALG.NULL]: empty,
  }),
});
/** TPMT_RSA_SCHEME. */
export const TPMT_RSA_SCHEME = struct("TPMT_RSA_SCHEME", { scheme: u16, details: union("TPMU_ASYM_SCHEME", "scheme", asymSchemeArms) });
/**
 * TPMT_RSA_DECRYPT (Part 2, 11.2.4.3): the scheme of TPM2_RSA_Encrypt / TPM2_RSA_Decrypt — OAEP with its hash,
 * RSAES (PKCS #1 v1.5), or NULL (the key's own scheme). Only those three selectors code; any other is an error.
 */
export const TPMT_RSA_DECRYPT = struct("TPMT_RSA_DECRYPT", {
  scheme: u16,
  details: union("TPMU_ASYM_SCHEME", "scheme", {
    [TPM_ALG.OAEP]: TPMS_SCHEME_HASH,
    [TPM_ALG.RSAES]: empty,
    [TPM_ALG.NULL]: empty,
  }),
});
/** TPMT_ECC_SCHEME. */
export const TPMT_ECC_SCHEME = struct("TPMT_ECC_SCHEME", { scheme: u16, details: union("TPMU_ASYM_SCHEME", "scheme", asymSchemeArms) });
/** TPMT_KDF_SCHEME. */
export const TPMT_KDF_SCHEME = struct("TPMT_KDF_SCHEME", {
  scheme: u16,
  details: union("TPMU_KDF_SCHEME", "scheme", {
    [TPM_ALG.MGF1]: TPMS_SCHEME_HASH,
    [TPM_ALG.KDF1_SP800_56A]: TPMS_SCHEME_HASH,
    [TPM_ALG.KDF2]: TPMS_SCHEME_HASH,
    [TPM_ALG.KDF1_SP800_108]: TPMS_SCHEME_HASH,
    [TPM_ALG.NULL]: empty,
  }),
});
/** TPMT_KEYEDHASH_SCHEME. */
export const TPMT_KEYEDHASH_SCHEME = struct("TPMT_KEYEDHASH_SCHEME", {
  scheme: u16,
  details: union("TPMU_SCHEME_KEYEDHASH", "scheme", { [TPM_ALG.HMAC]: TPMS_SCHEME_HASH, [TPM_ALG.XOR]: TPMS_SCHEME_XOR, [TPM_ALG.NULL]: empty }),
});
/** TPMT_SYM_DEF (sessions) and TPMT_SYM_DEF_OBJECT (objects): same wire form. */
export const TPMT_SYM_DEF_OBJECT = struct("TPMT_SYM_DEF_OBJECT", {
  algorithm: u16,
  keyBits: union("TPMU_SYM_KEY_BITS", "algorithm", {
    [TPM_ALG.AES]: u16,
    [TPM_ALG.SM4]: u16,
    [TPM_ALG.CAMELLIA]: u16,
    [TPM_ALG.XOR]: u16,
    [TPM_ALG.NULL]: empty,
  }),
  mode: union("TPMU_SYM_MODE", "algorithm", {
    [TPM_ALG.AES]: u16,
    [TPM_ALG.SM4]: u16,
    [TPM_ALG.CAMELLIA]: u16,
    [TPM_ALG.XOR]: empty,
    [TPM_ALG.NULL]: empty,
  }),
});
/** TPMT_SYM_DEF. */
export const TPMT_SYM_DEF = alias("TPMT_SYM_DEF", TPMT_SYM_DEF_OBJECT);

// ---- Public areas ----
/** TPMS_RSA_PARMS. An exponent of 0 means the default 65537. */
export const TPMS_RSA_PARMS = struct("TPMS_RSA_PARMS", { symmetric: TPMT_SYM_DEF_OBJECT, scheme: TPMT_RSA_SCHEME, keyBits: u16, exponent: u32 });
/** TPMS_ECC_PARMS. */
export const TPMS_ECC_PARMS = struct("TPMS_ECC_PARMS", { symmetric: TPMT_SYM_DEF_OBJECT, scheme: TPMT_ECC_SCHEME, curveID: u16, kdf: TPMT_KDF_SCHEME });
/** TPMS_KEYEDHASH_PARMS. */
export const TPMS_KEYEDHASH_PARMS = struct("TPMS_KEYEDHASH_PARMS", { scheme: TPMT_KEYEDHASH_SCHEME });
/** TPMS_SYMCIPHER_PARMS. */
export const TPMS_SYMCIPHER_PARMS = struct("TPMS_SYMCIPHER_PARMS", { sym: TPMT_SYM_DEF_OBJECT });
/** TPMS_ECC_POINT. */
export const TPMS_ECC_POINT = struct("TPMS_ECC_POINT", { x: TPM2B_ECC_PARAMETER, y: TPM2B_ECC_PARAMETER });
/** TPM2B_ECC_POINT. */
export const TPM2B_ECC_POINT = sizedStruct("TPM2B_ECC_POINT", TPMS_ECC_POINT);

/** TPMT_PUBLIC: an object's public area. `parameters` and `unique` are chosen by `type`. */
export const TPMT_PUBLIC = struct("TPMT_PUBLIC", {
  type: u16,
  nameAlg: u16,
  objectAttributes: u32,
  authPolicy: TPM2B_DIGEST,
  parameters: union("TPMU_PUBLIC_PARMS", "type", {
    [TPM_ALG.RSA]: TPMS_RSA_PARMS,
    [TPM_ALG.ECC]: TPMS_ECC_PARMS,
    [TPM_ALG.KEYEDHASH]: TPMS_KEYEDHASH_PARMS,
    [TPM_ALG.SYMCIPHER]: TPMS_SYMCIPHER_PARMS,
  }),
  unique: union("TPMU_PUBLIC_ID", "type", {
    [TPM_ALG.RSA]: TPM2B_PUBLIC_KEY_RSA,
    [TPM_ALG.ECC]: TPMS_ECC_POINT,
    [TPM_ALG.KEYEDHASH]: TPM2B_DIGEST,
    [TPM_ALG.SYMCIPHER]: TPM2B_DIGEST,
  }),
});
/** TPM2B_PUBLIC. */
export const TPM2B_PUBLIC = sizedStruct("TPM2B_PUBLIC", TPMT_PUBLIC);

/** TPMS_SENSITIVE_CREATE. */
export const TPMS_SENSITIVE_CREATE = struct("TPMS_SENSITIVE_CREATE", { userAuth: TPM2B_AUTH, data: TPM2B_SENSITIVE_DATA });
/** TPM2B_SENSITIVE_CREATE. */
export const TPM2B_SENSITIVE_CREATE = sizedStruct("TPM2B_SENSITIVE_CREATE", TPMS_SENSITIVE_CREATE);

// ---- Signatures ----
/** TPMS_SIGNATURE_RSA (RSASSA and RSAPSS). */
export const TPMS_SIGNATURE_RSA = struct("TPMS_SIGNATURE_RSA", { hash: u16, sig: TPM2B_PUBLIC_KEY_RSA });
/** TPMS_SIGNATURE_ECC (ECDSA, ECDAA, SM2, ECSCHNORR). */
export const TPMS_SIGNATURE_ECC = struct("TPMS_SIGNATURE_ECC", { hash: u16, signatureR: TPM2B_ECC_PARAMETER, signatureS: TPM2B_ECC_PARAMETER });
/** TPMT_SIGNATURE. */
export const TPMT_SIGNATURE = struct("TPMT_SIGNATURE", {
  sigAlg: u16,
  signature: union("TPMU_SIGNATURE", "sigAlg", {
    [TPM_ALG.RSASSA]: TPMS_SIGNATURE_RSA,
    [TPM_ALG.RSAPSS]: TPMS_SIGNATURE_RSA,
    [TPM_ALG.ECDSA]: TPMS_SIGNATURE_ECC,
    [TPM_ALG.ECDAA]: TPMS_SIGNATURE_ECC,
    [TPM_ALG.SM2]: TPMS_SIGNATURE_ECC,
    [TPM_ALG.ECSCHNORR]: TPMS_SIGNATURE_ECC,
    [TPM_ALG.HMAC]: TPMT_HA,
    [TPM_ALG.NULL]: empty,
  }),
});

// ---- NV ----
/** TPMS_NV_PUBLIC. */
export const TPMS_NV_PUBLIC = struct("TPMS_NV_PUBLIC", { nvIndex: u32, nameAlg: u16, attributes: u32, authPolicy: TPM2B_DIGEST, dataSize: u16 });
/** TPM2B_NV_PUBLIC. */
export const TPM2B_NV_PUBLIC = sizedStruct("TPM2B_NV_PUBLIC", TPMS_NV_PUBLIC);

// ---- Creation data and tickets ----
/** TPMS_CREATION_DATA. */
export const TPMS_CREATION_DATA = struct("TPMS_CREATION_DATA", {
  pcrSelect: TPML_PCR_SELECTION,
  pcrDigest: TPM2B_DIGEST,
  locality: u8,
  parentNameAlg: u16,
  parentName: TPM2B_NAME,
  parentQualifiedName: TPM2B_NAME,
  outsideInfo: TPM2B_DATA,
});
/** TPM2B_CREATION_DATA. */
export const TPM2B_CREATION_DATA = sizedStruct("TPM2B_CREATION_DATA", TPMS_CREATION_DATA);
/** TPMT_TK_CREATION / TPMT_TK_VERIFIED / TPMT_TK_AUTH / TPMT_TK_HASHCHECK: same wire form. */
export const TPMT_TK = struct("TPMT_TK", { tag: u16, hierarchy: u32, digest: TPM2B_DIGEST });

// ---- Capabilities ----
/** TPMS_ALG_PROPERTY. */
export const TPMS_ALG_PROPERTY = struct("TPMS_ALG_PROPERTY", { alg: u16, algProperties: u32 });
/** TPMS_TAGGED_PROPERTY. */
export const TPMS_TAGGED_PROPERTY = struct("TPMS_TAGGED_PROPERTY", { property: u32, value: u32 });
/** TPMS_TAGGED_PCR_SELECT. */
export const TPMS_TAGGED_PCR_SELECT = struct("TPMS_TAGGED_PCR_SELECT", { tag: u32, pcrSelect: sized8("TPMS_PCR_SELECT", 32) });
/** TPMS_TAGGED_POLICY. */
export const TPMS_TAGGED_POLICY = struct("TPMS_TAGGED_POLICY", { handle: u32, policyHash: TPMT_HA });
/** TPMS_ACT_DATA. */
export const TPMS_ACT_DATA = struct("TPMS_ACT_DATA", { handle: u32, timeout: u32, attributes: u32 });
/** TPML_HANDLE. */
export const TPML_HANDLE = list("TPML_HANDLE", u32, 1024);
/** TPML_CC / TPML_CCA (TPMA_CC values are 32-bit too). */
export const TPML_CC = list("TPML_CC", u32, 1024);
/** TPML_ALG_PROPERTY. */
export const TPML_ALG_PROPERTY = list("TPML_ALG_PROPERTY", TPMS_ALG_PROPERTY, 1024);
/** TPML_TAGGED_TPM_PROPERTY. */
export const TPML_TAGGED_TPM_PROPERTY = list("TPML_TAGGED_TPM_PROPERTY", TPMS_TAGGED_PROPERTY, 1024);
/** TPML_TAGGED_PCR_PROPERTY. */
export const TPML_TAGGED_PCR_PROPERTY = list("TPML_TAGGED_PCR_PROPERTY", TPMS_TAGGED_PCR_SELECT, 1024);
/** TPML_ECC_CURVE. */
export const TPML_ECC_CURVE = list("TPML_ECC_CURVE", u16, 1024);
/** TPML_TAGGED_POLICY. */
export const TPML_TAGGED_POLICY = list("TPML_TAGGED_POLICY", TPMS_TAGGED_POLICY, 1024);
/** TPML_ACT_DATA. */
export const TPML_ACT_DATA = list("TPML_ACT_DATA", TPMS_ACT_DATA, 1024);

/** TPMS_CAPABILITY_DATA: `data` is chosen by `capability`. */
export const TPMS_CAPABILITY_DATA = struct("TPMS_CAPABILITY_DATA", {
  capability: u32,
  data: union("TPMU_CAPABILITIES", "capability", {
    [TPM_CAP.ALGS]: TPML_ALG_PROPERTY,
    [TPM_CAP.HANDLES]: TPML_HANDLE,
    [TPM_CAP.COMMANDS]: TPML_CC,
    [TPM_CAP.PP_COMMANDS]: TPML_CC,
    [TPM_CAP.AUDIT_COMMANDS]: TPML_CC,
    [TPM_CAP.PCRS]: TPML_PCR_SELECTION,
    [TPM_CAP.TPM_PROPERTIES]: TPML_TAGGED_TPM_PROPERTY,
    [TPM_CAP.PCR_PROPERTIES]: TPML_TAGGED_PCR_PROPERTY,
    [TPM_CAP.ECC_CURVES]: TPML_ECC_CURVE,
    [TPM_CAP.AUTH_POLICIES]: TPML_TAGGED_POLICY,
    [TPM_CAP.ACT]: TPML_ACT_DATA,
  }),
});

// ---- Policy ----
/** INT32, as PolicySecret's `expiration`. */
export const INT32 = i32;

/** TPMS_PCR_SELECTION value. */
export type TpmsPcrSelection = Infer<typeof TPMS_PCR_SELECTION>;
/** TPMT_HA value. */
export type TpmtHa = Infer<typeof TPMT_HA>;
/** TPMS_CLOCK_INFO value. */
export type TpmsClockInfo = Infer<typeof TPMS_CLOCK_INFO>;
/** TPMS_ATTEST value. */
export type TpmsAttest = Infer<typeof TPMS_ATTEST>;
/** TPMS_QUOTE_INFO value. */
export type TpmsQuoteInfo = Infer<typeof TPMS_QUOTE_INFO>;
/** TPMS_CERTIFY_INFO value. */
export type TpmsCertifyInfo = Infer<typeof TPMS_CERTIFY_INFO>;
/** TPMT_PUBLIC value. */
export type TpmtPublic = Infer<typeof TPMT_PUBLIC>;
/** TPMS_RSA_PARMS value. */
export type TpmsRsaParms = Infer<typeof TPMS_RSA_PARMS>;
/** TPMS_ECC_PARMS value. */
export type TpmsEccParms = Infer<typeof TPMS_ECC_PARMS>;
/** TPMS_ECC_POINT value. */
export type TpmsEccPoint = Infer<typeof TPMS_ECC_POINT>;
/** TPMT_SIGNATURE value. */
export type TpmtSignature = Infer<typeof TPMT_SIGNATURE>;
/** TPMS_SIGNATURE_RSA value. */
export type TpmsSignatureRsa = Infer<typeof TPMS_SIGNATURE_RSA>;
/** TPMS_SIGNATURE_ECC value. */
export type TpmsSignatureEcc = Infer<typeof TPMS_SIGNATURE_ECC>;
/** TPMT_SIG_SCHEME value. */
export type TpmtSigScheme = Infer<typeof TPMT_SIG_SCHEME>;
/** TPMT_RSA_DECRYPT value. */
export type TpmtRsaDecrypt = Infer<typeof TPMT_RSA_DECRYPT>;
/** TPMS_NV_PUBLIC value. */
export type TpmsNvPublic = Infer<typeof TPMS_NV_PUBLIC>;
/** TPMS_CAPABILITY_DATA value. */
export type TpmsCapabilityData = Infer<typeof TPMS_CAPABILITY_DATA>;
/** TPMS_SENSITIVE_CREATE value. */
export type TpmsSensitiveCreate = Infer<typeof TPMS_SENSITIVE_CREATE>;
/** TPMT_SYM_DEF value. */
export type TpmtSymDef = Infer<typeof TPMT_SYM_DEF_OBJECT>;
/** TPMS_CREATION_DATA value. */
export type TpmsCreationData = Infer<typeof TPMS_CREATION_DATA>;
/** TPMT_TK value. */
export type TpmtTk = Infer<typeof TPMT_TK>;

// ---- Authorization area ----
/** TPMS_AUTH_COMMAND: one session's entry in a command's authorization area. */
export const TPMS_AUTH_COMMAND = struct("TPMS_AUTH_COMMAND", { sessionHandle: u32, nonce: TPM2B_NONCE, sessionAttributes: u8, hmac: TPM2B_AUTH });
/** TPMS_AUTH_RESPONSE: one session's entry in a response's authorization area. */
export const TPMS_AUTH_RESPONSE = struct("TPMS_AUTH_RESPONSE", { nonce: TPM2B_NONCE, sessionAttributes: u8, hmac: TPM2B_AUTH });
/** TPMS_AUTH_COMMAND value. */
export type TpmsAuthCommand = Infer<typeof TPMS_AUTH_COMMAND>;
/** TPMS_AUTH_RESPONSE value. */
export type TpmsAuthResponse = Infer<typeof TPMS_AUTH_RESPONSE>;
