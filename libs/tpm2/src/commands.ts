/**
 * The TPM 2.0 commands Tessera uses (TCG TPM 2.0 Library Part 3), declared as data. Run them
 * with `execute` from @tessera/tss.
 * @module
 */
import { command } from "./command.ts";
import { TPM_CC } from "./constants.ts";
import { i32, u16, u32, u8 } from "./schema.ts";
import {
  TPM2B_ATTEST,
  TPM2B_AUTH,
  TPM2B_CREATION_DATA,
  TPM2B_DATA,
  TPM2B_DIGEST,
  TPM2B_ENCRYPTED_SECRET,
  TPM2B_ID_OBJECT,
  TPM2B_MAX_BUFFER,
  TPM2B_MAX_NV_BUFFER,
  TPM2B_NAME,
  TPM2B_NONCE,
  TPM2B_NV_PUBLIC,
  TPM2B_PRIVATE,
  TPM2B_PUBLIC,
  TPM2B_PUBLIC_KEY_RSA,
  TPM2B_SENSITIVE_CREATE,
  TPM2B_SENSITIVE_DATA,
  TPM2B_TIMEOUT,
  TPML_DIGEST,
  TPML_DIGEST_VALUES,
  TPML_PCR_SELECTION,
  TPMS_CAPABILITY_DATA,
  TPMT_RSA_DECRYPT,
  TPMT_SIG_SCHEME,
  TPMT_SIGNATURE,
  TPMT_SYM_DEF,
  TPMT_TK,
} from "./structures.ts";

/** TPM2_Startup. */
export const Startup = command(TPM_CC.Startup, { params: { startupType: u16 } });
/** TPM2_Shutdown. */
export const Shutdown = command(TPM_CC.Shutdown, { params: { shutdownType: u16 } });
/** TPM2_SelfTest. */
export const SelfTest = command(TPM_CC.SelfTest, { params: { fullTest: u8 } });
/** TPM2_GetCapability. */
export const GetCapability = command(TPM_CC.GetCapability, {
  params: { capability: u32, property: u32, propertyCount: u32 },
  response: { moreData: u8, capabilityData: TPMS_CAPABILITY_DATA },
});
/** TPM2_GetRandom. */
export const GetRandom = command(TPM_CC.GetRandom, { params: { bytesRequested: u16 }, response: { randomBytes: TPM2B_DIGEST } });
/** TPM2_PCR_Read. */
export const PCR_Read = command(TPM_CC.PCR_Read, {
  params: { pcrSelectionIn: TPML_PCR_SELECTION },
  response: { pcrUpdateCounter: u32, pcrSelectionOut: TPML_PCR_SELECTION, pcrValues: TPML_DIGEST },
});
/** TPM2_PCR_Extend. */
export const PCR_Extend = command(TPM_CC.PCR_Extend, { handles: { pcrHandle: "auth" }, params: { digests: TPML_DIGEST_VALUES } });
/** TPM2_CreatePrimary. */
export const CreatePrimary = command(TPM_CC.CreatePrimary, {
  handles: { primaryHandle: "auth" },
  params: { inSensitive: TPM2B_SENSITIVE_CREATE, inPublic: TPM2B_PUBLIC, outsideInfo: TPM2B_DATA, creationPCR: TPML_PCR_SELECTION },
  responseHandle: "objectHandle",
  response: { outPublic: TPM2B_PUBLIC, creationData: TPM2B_CREATION_DATA, creationHash: TPM2B_DIGEST, creationTicket: TPMT_TK, name: TPM2B_NAME },
});
/** TPM2_Create. */
export const Create = command(TPM_CC.Create, {
  handles: { parentHandle: "auth" },
  params: { inSensitive: TPM2B_SENSITIVE_CREATE, inPublic: TPM2B_PUBLIC, outsideInfo: TPM2B_DATA, creationPCR: TPML_PCR_SELECTION },
  response: { outPrivate: TPM2B_PRIVATE, outPublic: TPM2B_PUBLIC, creationData: TPM2B_CREATION_DATA, creationHash: TPM2B_DIGEST, creationTicket: TPMT_TK },
});
/** TPM2_Load. */
export const Load = command(TPM_CC.Load, {
  handles: { parentHandle: "auth" },
  params: { inPrivate: TPM2B_PRIVATE, inPublic: TPM2B_PUBLIC },
  responseHandle: "objectHandle",
  response: { name: TPM2B_NAME },
});
/** TPM2_ReadPublic. */
export const ReadPublic = command(TPM_CC.ReadPublic, {
  handles: { objectHandle: "noauth" },
  response: { outPublic: TPM2B_PUBLIC, name: TPM2B_NAME, qualifiedName: TPM2B_NAME },
});
/** TPM2_FlushContext (the handle to flush is a parameter, not a handle). */
export const FlushContext = command(TPM_CC.FlushContext, { params: { flushHandle: u32 } });
/** TPM2_EvictControl. */
export const EvictControl = command(TPM_CC.EvictControl, { handles: { auth: "auth", objectHandle: "noauth" }, params: { persistentHandle: u32 } });
/** TPM2_NV_DefineSpace. */
export const NV_DefineSpace = command(TPM_CC.NV_DefineSpace, { handles: { authHandle: "auth" }, params: { auth: TPM2B_AUTH, publicInfo: TPM2B_NV_PUBLIC } });
/** TPM2_NV_UndefineSpace. */
export const NV_UndefineSpace = command(TPM_CC.NV_UndefineSpace, { handles: { authHandle: "auth", nvIndex: "noauth" } });
/** TPM2_NV_Write. */
export const NV_Write = command(TPM_CC.NV_Write, { handles: { authHandle: "auth", nvIndex: "noauth" }, params: { data: TPM2B_MAX_NV_BUFFER, offset: u16 } });
/** TPM2_NV_Read. */
export const NV_Read = command(TPM_CC.NV_Read, {
  handles: { authHandle: "auth", nvIndex: "noauth" },
  params: { size: u16, offset: u16 },
  response: { data: TPM2B_MAX_NV_BUFFER },
});
/** TPM2_NV_ReadPublic. */
export const NV_ReadPublic = command(TPM_CC.NV_ReadPublic, { handles: { nvIndex: "noauth" }, response: { nvPublic: TPM2B_NV_PUBLIC, nvName: TPM2B_NAME } });
/** TPM2_StartAuthSession. */
export const StartAuthSession = command(TPM_CC.StartAuthSession, {
  handles: { tpmKey: "noauth", bind: "noauth" },
  params: { nonceCaller: TPM2B_NONCE, encryptedSalt: TPM2B_ENCRYPTED_SECRET, sessionType: u8, symmetric: TPMT_SYM_DEF, authHash: u16 },
  responseHandle: "sessionHandle",
  response: { nonceTPM: TPM2B_NONCE },
});
/** TPM2_PolicySecret. */
export const PolicySecret = command(TPM_CC.PolicySecret, {
  handles: { authHandle: "auth", policySession: "noauth" },
  params: { nonceTPM: TPM2B_NONCE, cpHashA: TPM2B_DIGEST, policyRef: TPM2B_NONCE, expiration: i32 },
  response: { timeout: TPM2B_TIMEOUT, policyTicket: TPMT_TK },
});
/** TPM2_PolicyPCR. */
export const PolicyPCR = command(TPM_CC.PolicyPCR, { handles: { policySession: "noauth" }, params: { pcrDigest: TPM2B_DIGEST, pcrs: TPML_PCR_SELECTION } });
/** TPM2_PolicyGetDigest. */
export const PolicyGetDigest = command(TPM_CC.PolicyGetDigest, { handles: { policySession: "noauth" }, response: { policyDigest: TPM2B_DIGEST } });
/** TPM2_PolicyRestart. */
export const PolicyRestart = command(TPM_CC.PolicyRestart, { handles: { sessionHandle: "noauth" } });
/** TPM2_PolicyAuthValue. */
export const PolicyAuthValue = command(TPM_CC.PolicyAuthValue, { handles: { policySession: "noauth" } });
/** TPM2_PolicyCommandCode. */
export const PolicyCommandCode = command(TPM_CC.PolicyCommandCode, { handles: { policySession: "noauth" }, params: { code: u32 } });
/** TPM2_ActivateCredential. */
export const ActivateCredential = command(TPM_CC.ActivateCredential, {
  handles: { activateHandle: "auth", keyHandle: "auth" },
  params: { credentialBlob: TPM2B_ID_OBJECT, secret: TPM2B_ENCRYPTED_SECRET },
  response: { certInfo: TPM2B_DIGEST },
});
/** TPM2_MakeCredential (the TPM's own; Tessera computes it in software with `makeCredential`). */
export const MakeCredential = command(TPM_CC.MakeCredential, {
  handles: { handle: "noauth" },
  params: { credential: TPM2B_DIGEST, objectName: TPM2B_NAME },
  response: { credentialBlob: TPM2B_ID_OBJECT, secret: TPM2B_ENCRYPTED_SECRET },
});
/** TPM2_Quote. */
export const Quote = command(TPM_CC.Quote, {
  handles: { signHandle: "auth" },
  params: { qualifyingData: TPM2B_DATA, inScheme: TPMT_SIG_SCHEME, pcrSelect: TPML_PCR_SELECTION },
  response: { quoted: TPM2B_ATTEST, signature: TPMT_SIGNATURE },
});
/** TPM2_Certify. */
export const Certify = command(TPM_CC.Certify, {
  handles: { objectHandle: "auth", signHandle: "auth" },
  params: { qualifyingData: TPM2B_DATA, inScheme: TPMT_SIG_SCHEME },
  response: { certifyInfo: TPM2B_ATTEST, signature: TPMT_SIGNATURE },
});
/** TPM2_Sign. */
export const Sign = command(TPM_CC.Sign, {
  handles: { keyHandle: "auth" },
  params: { digest: TPM2B_DIGEST, inScheme: TPMT_SIG_SCHEME, validation: TPMT_TK },
  response: { signature: TPMT_SIGNATURE },
});
/** TPM2_RSA_Decrypt (Part 3, 14.3): `keyHandle` is an unrestricted RSA decryption key; `label` is OAEP's (a NUL-terminated string or empty). */
export const RSA_Decrypt = command(TPM_CC.RSA_Decrypt, {
  handles: { keyHandle: "auth" },
  params: { cipherText: TPM2B_PUBLIC_KEY_RSA, inScheme: TPMT_RSA_DECRYPT, label: TPM2B_DATA },
  response: { message: TPM2B_PUBLIC_KEY_RSA },
});
/** TPM2_RSA_Encrypt (Part 3, 14.2): the public-key operation, no authorization. */
export const RSA_Encrypt = command(TPM_CC.RSA_Encrypt, {
  handles: { keyHandle: "noauth" },
  params: { message: TPM2B_PUBLIC_KEY_RSA, inScheme: TPMT_RSA_DECRYPT, label: TPM2B_DATA },
  response: { outData: TPM2B_PUBLIC_KEY_RSA },
});
/** TPM2_Hash. */
export const Hash = command(TPM_CC.Hash, {
  params: { data: TPM2B_MAX_BUFFER, hashAlg: u16, hierarchy: u32 },
  response: { outHash: TPM2B_DIGEST, validation: TPMT_TK },
});
/** TPM2_Unseal. */
export const Unseal = command(TPM_CC.Unseal, { handles: { itemHandle: "auth" }, response: { outData: TPM2B_SENSITIVE_DATA } });
