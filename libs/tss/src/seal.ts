/**
 * Sealing a secret to the TPM: the secret becomes a sealed-data object under the storage root key (recreated
 * from the TCG SRK template on each use), kept outside the TPM as TPM2B_PUBLIC + TPM2B_PRIVATE blobs that only
 * this TPM can load. Used to keep kmipd's master key off the disk in the clear.
 * @module
 */
import { marshal, sealedDataTemplate, srkTemplate, TPM_RH, TPM2B_PRIVATE, TPM2B_PUBLIC, unmarshal } from "@tessera/tpm2";
import type { Tpm } from "./tpm.ts";

/** A sealed secret as stored: TPM2B_PUBLIC then TPM2B_PRIVATE, concatenated. */
export type SealedBlob = Uint8Array;

/** Seals `secret` (at most 128 bytes) to this TPM. */
export async function seal(tpm: Tpm, secret: Uint8Array): Promise<SealedBlob> {
  return tpm.withFlush(tpm.createPrimary(TPM_RH.OWNER, srkTemplate()), async (srk) => {
    const r = await tpm.create(srk.handle, sealedDataTemplate(), { data: secret });
    const priv = marshal(TPM2B_PRIVATE, r.privateBlob);
    const out = new Uint8Array(r.publicBytes.length + priv.length);
    out.set(r.publicBytes);
    out.set(priv, r.publicBytes.length);
    return out;
  });
}

/** Unseals a blob made by {@link seal} on the same TPM. */
export async function unseal(tpm: Tpm, blob: SealedBlob): Promise<Uint8Array> {
  const pubLen = 2 + ((blob[0] << 8) | blob[1]);
  const pub = unmarshal(TPM2B_PUBLIC, blob.subarray(0, pubLen));
  const priv = unmarshal(TPM2B_PRIVATE, blob.subarray(pubLen));
  return tpm.withFlush(tpm.createPrimary(TPM_RH.OWNER, srkTemplate()), (srk) =>
    tpm.withFlush(tpm.load(srk.handle, priv, pub), (obj) => tpm.unseal(obj.handle)),
  );
}
