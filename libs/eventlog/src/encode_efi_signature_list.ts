/**
 * EFI_SIGNATURE_LIST, the building block of PK, KEK, db and dbx.
 * @module
 */
import { encode } from "./_codec.ts";
import { EFI_SIGNATURE_LIST } from "./_structures.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { EventLogEncodeError } from "./errors.ts";

/**
 * One EFI_SIGNATURE_LIST of `signatureType` whose entries all have `owner`: DER certificates (`x509`) or
 * SHA-256 digests (`sha256`). A list holds entries of one size, so a database of several certificates is usually
 * one list per certificate, concatenated.
 *
 * @example
 * ```ts
 * const db = concat(encodeEfiSignatureList("x509", EFI_GUID.MICROSOFT, [caDer]), encodeEfiSignatureList("sha256", owner, [digest]));
 * ```
 * Throws EventLogEncodeError for no entries, entries of different sizes, or digests that are not 32 bytes.
 */
export function encodeEfiSignatureList(signatureType: "x509" | "sha256", owner: string, entries: Uint8Array[]): Uint8Array {
  if (entries.length === 0) throw new EventLogEncodeError("EFI_SIGNATURE_LIST", "a list needs at least one entry");
  const size = entries[0].length;
  if (entries.some((e) => e.length !== size)) throw new EventLogEncodeError("EFI_SIGNATURE_LIST", "entries of one list must all have the same size");
  if (signatureType === "sha256" && size !== 32) throw new EventLogEncodeError("EFI_SIGNATURE_LIST", `a SHA-256 entry is 32 bytes, not ${size}`);
  return encode(EFI_SIGNATURE_LIST, {
    signatureType: signatureType === "x509" ? EFI_GUID.CERT_X509 : EFI_GUID.CERT_SHA256,
    signatureListSize: 28 + entries.length * (16 + size),
    signatureHeaderSize: 0,
    signatureSize: 16 + size,
    signatureHeader: new Uint8Array(0),
    signatures: entries.map((data) => ({ signatureOwner: owner, signatureData: data })),
  });
}
