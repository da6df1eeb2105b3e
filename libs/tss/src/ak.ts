/**
 * Attestation keys: restricted signing keys created under the EK (RSA 2048 RSASSA-SHA256 or ECC P-256
 * ECDSA-SHA256), kept as TPM2B_PUBLIC / TPM2B_PRIVATE blobs and reloaded under the same EK later.
 * @module
 */
import { type AkKind, akTemplate, objectName, TPM2B_PRIVATE, TPM2B_PUBLIC, type TpmtPublic, unmarshal, marshal } from "@tessera/tpm2";
import type { Ek } from "./ek.ts";
import type { Session } from "./session.ts";
import type { LoadedObject, Tpm } from "./tpm.ts";

/** An AK as stored: its public area and wrapped private area (both in TPM2B wire form), and its Name. */
export interface AkBlobs {
  public: TpmtPublic;
  /** TPM2B_PUBLIC bytes (`ak.pub`, as `tpm2_createak -u`). */
  publicBytes: Uint8Array;
  /** TPM2B_PRIVATE bytes (`ak.priv`, as `tpm2_createak -r`). */
  privateBytes: Uint8Array;
  /** Raw Name bytes (`ak.name`). */
  name: Uint8Array;
}

/** The EK as parent: a fresh EK-policy session per use when the EK demands its policy (low-range templates). */
async function underEk<R>(tpm: Tpm, ek: Ek, fn: (parent: { handle: number; session?: Session }) => Promise<R>): Promise<R> {
  const USER_WITH_AUTH = 1 << 6;
  if (ek.public.objectAttributes & USER_WITH_AUTH) return fn({ handle: ek.handle });
  return tpm.withEkPolicy((session) => fn({ handle: ek.handle, session }));
}

/** Creates an AK of `kind` under `ek`. Nothing stays loaded. */
export async function createAk(tpm: Tpm, ek: Ek, kind: AkKind): Promise<AkBlobs> {
  const r = await underEk(tpm, ek, (parent) => tpm.create(parent, akTemplate(kind)));
  return { public: r.public, publicBytes: r.publicBytes, privateBytes: marshal(TPM2B_PRIVATE, r.privateBlob), name: objectName(r.public) };
}

/** Parses stored AK blobs (`ak.pub` TPM2B_PUBLIC and `ak.priv` TPM2B_PRIVATE). */
export function parseAkBlobs(publicBytes: Uint8Array, privateBytes: Uint8Array): AkBlobs {
  const pub = unmarshal(TPM2B_PUBLIC, publicBytes);
  unmarshal(TPM2B_PRIVATE, privateBytes);
  return { public: pub, publicBytes, privateBytes, name: objectName(pub) };
}

/** Loads an AK under `ek`. The caller flushes the handle (see Tpm.withFlush). */
export async function loadAk(tpm: Tpm, ek: Ek, ak: AkBlobs): Promise<LoadedObject> {
  return underEk(tpm, ek, (parent) => tpm.load(parent, unmarshal(TPM2B_PRIVATE, ak.privateBytes), ak.public));
}

/** Runs `fn` with the AK loaded under `ek`, flushing it afterwards. */
export async function withAk<R>(tpm: Tpm, ek: Ek, ak: AkBlobs, fn: (loaded: LoadedObject) => Promise<R>): Promise<R> {
  return tpm.withFlush(loadAk(tpm, ek, ak), fn);
}

/**
 * ActivateCredential for an AK under an EK: recovers the secret protected by MakeCredential to this EK for
 * this AK's Name. The EK is authorized with its policy.
 */
export async function activateAkCredential(tpm: Tpm, ek: Ek, ak: LoadedObject, credentialBlob: Uint8Array, secret: Uint8Array): Promise<Uint8Array> {
  return underEk(tpm, ek, (key) => tpm.activateCredential(ak.handle, key, credentialBlob, secret));
}
