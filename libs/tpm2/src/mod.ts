/**
 * @tessera/tpm2 — TPM 2.0 types as schemas, one generic marshaller, command framing, response codes,
 * and the cryptography of TPM objects (Names, KDFa/KDFe, MakeCredential, signature and quote verification).
 * Pure: no I/O.
 * @module
 */
export * from "./errors.ts";
export * from "./schema.ts";
export * from "./constants.ts";
export * from "./structures.ts";
export * from "./command.ts";
export * from "./commands.ts";
export * from "./response_code.ts";
export * from "./kdf.ts";
export * from "./name.ts";
export * from "./pcr.ts";
export * from "./public_key.ts";
export * from "./unmarshal_public.ts";
export * from "./verify_signature.ts";
export * from "./ecdsa_sig.ts";
export * from "./verify_quote.ts";
export * from "./make_credential.ts";
export * from "./templates.ts";
export * from "./hex.ts";
export * from "./credential_file.ts";
export * from "./digest.ts";
