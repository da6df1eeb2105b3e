/**
 * Well-known EFI GUIDs, in the canonical lower-case 8-4-4-4-12 form this library prints GUIDs in.
 * @module
 */

/** Vendor GUIDs of variables and signature types that event logs measure. */
export const EFI_GUID = {
  /** EFI_GLOBAL_VARIABLE: SecureBoot, PK, KEK, Boot####, BootOrder… */
  GLOBAL_VARIABLE: "8be4df61-93ca-11d2-aa0d-00e098032b8c",
  /** EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx, dbt, dbr. */
  IMAGE_SECURITY_DATABASE: "d719b2cb-3d3a-4596-a3bc-dad00e67656f",
  /** EFI_CERT_X509_GUID: a DER X.509 certificate. */
  CERT_X509: "a5c059a1-94e4-4aa7-87b5-ab155c2bf072",
  /** EFI_CERT_SHA256_GUID: a SHA-256 image digest. */
  CERT_SHA256: "c1c41626-504c-4092-aca9-41f936934328",
  /** EFI_CERT_SHA1_GUID: a SHA-1 image digest. */
  CERT_SHA1: "826ca512-cf10-4ac9-b187-be01496631bd",
  /** EFI_CERT_RSA2048_GUID: an RSA-2048 public key modulus. */
  CERT_RSA2048: "3c5766e8-269c-4e34-aa14-ed776e85b3b6",
  /** EFI_CERT_X509_SHA256_GUID: the SHA-256 of a certificate's TBS, with a revocation time. */
  CERT_X509_SHA256: "3bd2a492-96c0-4079-b420-fcf98ef103ed",
  /** EFI_CERT_X509_SHA384_GUID. */
  CERT_X509_SHA384: "7076876e-80c2-4ee6-aad2-28b349a6865b",
  /** EFI_CERT_X509_SHA512_GUID. */
  CERT_X509_SHA512: "446dbf63-2502-4cda-bcfa-2465d2b0fe9d",
  /** SHIM_LOCK_GUID: shim's variables (MokList, SbatLevel, the "Shim" authority). */
  SHIM_LOCK: "605dab50-e046-4300-abb6-3dd810dd8b23",
  /** The owner GUID Microsoft uses for its db/dbx/KEK entries. */
  MICROSOFT: "77fa9abd-0359-4d32-bd60-28f4e78f784b",
} as const;

/** Short names of the signature types of EFI_SIGNATURE_LIST, by GUID. */
export const SIGNATURE_TYPE_NAMES: Readonly<Record<string, string>> = {
  [EFI_GUID.CERT_X509]: "x509",
  [EFI_GUID.CERT_SHA256]: "sha256",
  [EFI_GUID.CERT_SHA1]: "sha1",
  [EFI_GUID.CERT_RSA2048]: "rsa2048",
  [EFI_GUID.CERT_X509_SHA256]: "x509-sha256",
  [EFI_GUID.CERT_X509_SHA384]: "x509-sha384",
  [EFI_GUID.CERT_X509_SHA512]: "x509-sha512",
};
