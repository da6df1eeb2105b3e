/**
 * The credential file of `tpm2_makecredential -o` / `tpm2_activatecredential -i`: magic 0xBADCC0DE,
 * version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
 * @module
 */
import { decodeFault, decoding, marshal, reader, struct, u32 } from "./schema.ts";
import { TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT } from "./structures.ts";
import type { Credential } from "./make_credential.ts";

/** The file's magic number. */
export const CREDENTIAL_FILE_MAGIC = 0xbadcc0de;

/** The file layout, as a schema. */
export const TPM2_TOOLS_CREDENTIAL = struct("tpm2-tools credential file", {
  magic: u32,
  version: u32,
  credentialBlob: TPM2B_ID_OBJECT,
  secret: TPM2B_ENCRYPTED_SECRET,
});

/** Writes a credential in tpm2-tools' file format. */
export function encodeCredentialFile(c: Credential): Uint8Array {
  return marshal(TPM2_TOOLS_CREDENTIAL, { magic: CREDENTIAL_FILE_MAGIC, version: 1, credentialBlob: c.credentialBlob, secret: c.secret });
}

/** Reads a credential file; a wrong magic, version or layout is a TpmDecodeError. */
export function decodeCredentialFile(bytes: Uint8Array): Credential {
  return decoding(TPM2_TOOLS_CREDENTIAL.name, () => {
    const r = reader(bytes);
    const v = TPM2_TOOLS_CREDENTIAL.read(r);
    if (v.magic !== CREDENTIAL_FILE_MAGIC) {
      r.pos = 0;
      decodeFault(r, `magic 0x${v.magic.toString(16)} is not 0xbadcc0de`);
    }
    if (v.version !== 1) {
      r.pos = 4;
      decodeFault(r, `version ${v.version} is not 1`);
    }
    if (r.pos !== r.end) decodeFault(r, `${r.end - r.pos} trailing bytes`);
    return { credentialBlob: v.credentialBlob, secret: v.secret };
  });
}
