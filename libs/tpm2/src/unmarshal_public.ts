/**
 * A public area from the bytes tools write for it: TPM2B_PUBLIC (`tpm2_createak -u`, `tpm2_createek -u`) or a
 * bare TPMT_PUBLIC.
 * @module
 */
import { unmarshal } from "./schema.ts";
import { TPM2B_PUBLIC, TPMT_PUBLIC, type TpmtPublic } from "./structures.ts";

/**
 * Decodes `bytes` as TPM2B_PUBLIC, else as TPMT_PUBLIC.
 * @throws TpmDecodeError of the TPM2B_PUBLIC reading when neither form decodes.
 * @example
 * ```ts
 * const ak = unmarshalPublic(await readFile("ak.pub"));
 * ```
 */
export function unmarshalPublic(bytes: Uint8Array): TpmtPublic {
  try {
    return unmarshal(TPM2B_PUBLIC, bytes);
  } catch (first) {
    try {
      return unmarshal(TPMT_PUBLIC, bytes);
    } catch {
      throw first;
    }
  }
}
