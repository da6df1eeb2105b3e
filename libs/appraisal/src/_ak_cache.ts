/**
 * Decoded AKs, kept by the content of their TPM2B_PUBLIC (private).
 * @module
 */
import { objectName, toHex, unmarshalPublic, type TpmtPublic } from "@tessera/tpm2";
import { ContentCache } from "@tessera/eventlog";

/**
 * Decoded AKs by the content of their TPM2B_PUBLIC. A host sends the same AK with every attestation; handing the
 * signature checks the same decoded object lets @tessera/tpm2 reuse the node:crypto key it made for it; its Name
 * is kept beside it. appraise only reads the object and never puts it in a verdict.
 */
const AKS = new ContentCache<{ readonly ak: TpmtPublic; readonly name: string }>(2048);

function named(ak: TpmtPublic): { ak: TpmtPublic; name: string } {
  return { ak, name: toHex(objectName(ak)) };
}

/** The AKs cache, for tests. */
export const AK_CACHE = AKS;

/**
 * The AK and its Name (lower-case hex): from the cache for bytes, decoded for a TpmtPublic. Throws what
 * unmarshalPublic or objectName throw (nothing is kept then).
 */
export function decodedAk(akPublic: Uint8Array | TpmtPublic): { readonly ak: TpmtPublic; readonly name: string } {
  return akPublic instanceof Uint8Array ? AKS.get(akPublic, () => named(unmarshalPublic(akPublic))) : named(akPublic);
}
