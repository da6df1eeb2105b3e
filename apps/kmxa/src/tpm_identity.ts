/**
 * The host's TPM identity, set up once and found again at every start: the EK (recreated from its template; its
 * certificate from NV), the AK (restricted signing, under the EK) and the binding key (RSA-2048 decryption, under
 * the owner SRK), both made persistent (TPM2_EvictControl) so no key blob ever lands on disk, and found again by
 * their Names recorded in state.json; the binding key's TPM2_Certify by the AK, made once and kept. Plus the TPM
 * operations the agent does with them: ActivateCredential, Quote with the PCR values, RSA decryption.
 * @module
 */
import { ekFingerprint } from "@tessera/ek-trust";
import {
  algName,
  type AkKind,
  bindingKeyTemplate,
  decodeCredentialFile,
  type EkKind,
  equalBytes,
  fromHex,
  marshal,
  publicKeyDer,
  srkTemplate,
  toHex,
  TPM_RH,
  TPMT_SIGNATURE,
  type TpmsPcrSelection,
  type TpmtPublic,
} from "@tessera/tpm2";
import {
  activateAkCredential,
  createAk,
  createEk,
  ekKindsPresent,
  evictPersistent,
  findPersistent,
  loadAk,
  makePersistent,
  type PersistentObject,
  type Tpm,
  withEk,
} from "@tessera/tss";
import type { AgentStateFile } from "./state.ts";
import { handleNumber, handleText } from "./state.ts";

/** The EK as the agent sends and shows it. */
export interface EkIdentity {
  kind: EkKind;
  /** TPMT_PUBLIC, decoded. */
  public: TpmtPublic;
  /** TPM2B_PUBLIC bytes (as `tpm2_createek -u` writes). */
  publicBytes: Uint8Array;
  /** The EK certificate (DER) from NV, when the TPM has one. */
  certificate: Uint8Array | undefined;
  /** The public key as SPKI DER. */
  spki: Uint8Array;
  /** SHA-256 hex of `spki` (attestd's EK fingerprint). */
  fingerprint: string;
}

/** The persistent AK. */
export interface AkIdentity extends PersistentObject {
  kind: AkKind;
}

/** The persistent binding key and its certification by the AK. */
export interface BindingKeyIdentity extends PersistentObject {
  /** TPMS_ATTEST of TPM2_Certify (as `tpm2_certify -o` writes). */
  certifyInfo: Uint8Array;
  /** TPMT_SIGNATURE bytes (as `tpm2_certify -s` writes). */
  signature: Uint8Array;
}

/** The host's keys in its TPM. */
export interface TpmIdentity {
  ek: EkIdentity;
  ak: AkIdentity;
  bindingKey: BindingKeyIdentity;
}

/** What {@link setUpTpmIdentity} did. */
export interface SetUpResult {
  identity: TpmIdentity;
  /** The state to save (the input's enrollment dropped when the AK changed). */
  state: AgentStateFile;
  /** Whether the AK (and with it the enrollment) is new, and whether the binding key is new or newly certified. */
  created: { ak: boolean; bindingKey: boolean };
  /** Why an earlier AK or binding key was not reused (for the log), empty when it was. */
  notes: string[];
}

/** Options of {@link setUpTpmIdentity}. */
export interface SetUpOptions {
  /** `auto`: RSA 2048 when its certificate is in NV, else ECC P-256 when that one's is, else RSA 2048 without one. */
  ek: "auto" | EkKind;
  ak: AkKind;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));

/** The EK kind to use: the configured one, or for `auto` the first of RSA 2048 / ECC P-256 whose certificate the TPM holds. */
export async function chooseEkKind(tpm: Tpm, configured: "auto" | EkKind): Promise<EkKind> {
  if (configured !== "auto") return configured;
  const present = await ekKindsPresent(tpm);
  if (present.includes("rsa2048")) return "rsa2048";
  if (present.includes("ecc-p256")) return "ecc-p256";
  return "rsa2048";
}

/** Recreates the EK of `kind` (checked against its certificate by libs/tss), reads what the agent needs, flushes it. */
export async function readEk(tpm: Tpm, kind: EkKind): Promise<EkIdentity> {
  return withEk(tpm, kind, async (ek) => {
    const spki = publicKeyDer(ek.public);
    return { kind, public: ek.public, publicBytes: ek.publicBytes, certificate: ek.certificate, spki, fingerprint: ekFingerprint(ek.public) };
  });
}

/** The persistent object recorded at `handle` with `name`, if it is still there (looked up by Name if it moved). */
async function findRecorded(tpm: Tpm, handle: string, name: string): Promise<PersistentObject | undefined> {
  const wanted = fromHex(name);
  const at = await tpm.readPublic(handleNumber(handle)).catch(() => undefined);
  if (at !== undefined && equalBytes(at.name, wanted)) return { handle: at.handle, public: at.public, publicBytes: at.publicBytes, name: at.name };
  return findPersistent(tpm, { name: wanted });
}

/** Evicts the persistent object recorded at `handle` when it is still the one named `name` (never another's key). */
async function evictRecorded(tpm: Tpm, handle: string, name: string): Promise<void> {
  const at = await tpm.readPublic(handleNumber(handle)).catch(() => undefined);
  if (at !== undefined && equalBytes(at.name, fromHex(name))) await evictPersistent(tpm, at.handle);
}

/** Creates an AK of `kind` under the EK and makes it persistent. */
async function newAk(tpm: Tpm, ekKind: EkKind, kind: AkKind): Promise<AkIdentity> {
  return withEk(tpm, ekKind, async (ek) => {
    const blobs = await createAk(tpm, ek, kind);
    const persistent = await tpm.withFlush(loadAk(tpm, ek, blobs), (loaded) => makePersistent(tpm, loaded));
    return { ...persistent, kind };
  });
}

/** Creates a binding key under the owner SRK and makes it persistent. */
async function newBindingKey(tpm: Tpm): Promise<PersistentObject> {
  return tpm.withFlush(tpm.createPrimary(TPM_RH.OWNER, srkTemplate()), async (srk) => {
    const key = await tpm.create(srk.handle, bindingKeyTemplate());
    return tpm.withFlush(tpm.load(srk.handle, key.privateBlob, key.public), (loaded) => makePersistent(tpm, loaded));
  });
}

/**
 * Finds the AK and binding key that `state` records, or makes them (persistent): a first start, a TPM that was
 * cleared or replaced (another EK), a configured AK algorithm that changed. The binding key is certified again by
 * the AK whenever the AK is not the one that certified it. Keys of an earlier set-up that are still in the TPM
 * are evicted when they are replaced, so restarts never fill the TPM's persistent memory.
 */
export async function setUpTpmIdentity(tpm: Tpm, previous: AgentStateFile | undefined, options: SetUpOptions): Promise<SetUpResult> {
  const notes: string[] = [];
  const ekKind = await chooseEkKind(tpm, options.ek);
  const ek = await readEk(tpm, ekKind);
  let state: AgentStateFile = previous ?? { version: 1, ek: { kind: ekKind, fingerprint: ek.fingerprint } };
  // Another EK: the TPM was cleared or replaced (or the EK kind changed). Keys of the old one are gone or useless.
  const sameEk = previous !== undefined && previous.ek.kind === ekKind && previous.ek.fingerprint === ek.fingerprint;
  if (previous !== undefined && !sameEk) {
    notes.push(`the EK is not the recorded one (${previous.ek.kind} ${previous.ek.fingerprint.slice(0, 16)}… → ${ekKind} ${ek.fingerprint.slice(0, 16)}…): new AK and binding key`);
    // Recorded keys still in this TPM (the EK kind changed) are of no use any more; only they are evicted, by Name.
    for (const old of [previous.ak, previous.bindingKey]) if (old !== undefined) await evictRecorded(tpm, old.handle, old.name);
  }
  state = { version: 1, ek: { kind: ekKind, fingerprint: ek.fingerprint }, ...(sameEk ? pick(state) : {}) };

  let ak: AkIdentity | undefined;
  let akCreated = false;
  if (state.ak !== undefined) {
    if (state.ak.kind !== options.ak) {
      notes.push(`the AK is ${state.ak.kind}, the configuration asks for ${options.ak}: new AK`);
      await evictRecorded(tpm, state.ak.handle, state.ak.name);
    } else {
      const found = await findRecorded(tpm, state.ak.handle, state.ak.name);
      if (found !== undefined) ak = { ...found, kind: state.ak.kind };
      else notes.push(`the AK ${state.ak.name.slice(0, 16)}… is no longer in the TPM (cleared?): new AK`);
    }
  }
  if (ak === undefined) {
    ak = await newAk(tpm, ekKind, options.ak);
    akCreated = true;
    const { enrollment: _dropped, ...rest } = state;
    state = { ...rest, ak: { kind: ak.kind, handle: handleText(ak.handle), name: toHex(ak.name), public: b64(ak.publicBytes) } };
  }

  let bk: PersistentObject | undefined;
  let bkChanged = false;
  if (state.bindingKey !== undefined) {
    bk = await findRecorded(tpm, state.bindingKey.handle, state.bindingKey.name);
    if (bk === undefined) notes.push(`the binding key ${state.bindingKey.name.slice(0, 16)}… is no longer in the TPM: new binding key`);
  }
  if (bk === undefined) {
    bk = await newBindingKey(tpm);
    bkChanged = true;
  }
  let certifyInfo: Uint8Array;
  let signature: Uint8Array;
  const akName = toHex(ak.name);
  if (!bkChanged && state.bindingKey !== undefined && state.bindingKey.certifiedBy === akName) {
    certifyInfo = unb64(state.bindingKey.certifyInfo);
    signature = unb64(state.bindingKey.signature);
  } else {
    // A key that cannot leave its TPM needs no freshness: empty qualifying data (PROTOCOL.md §3), certified once.
    const c = await tpm.certify(bk.handle, ak.handle, new Uint8Array());
    certifyInfo = c.certifyInfo;
    signature = marshal(TPMT_SIGNATURE, c.signature);
    bkChanged = true;
  }
  state = {
    ...state,
    bindingKey: { handle: handleText(bk.handle), name: toHex(bk.name), public: b64(bk.publicBytes), certifiedBy: akName, certifyInfo: b64(certifyInfo), signature: b64(signature) },
  };
  return { identity: { ek, ak, bindingKey: { ...bk, certifyInfo, signature } }, state, created: { ak: akCreated, bindingKey: bkChanged }, notes };
}

/** The AK, binding key and enrollment of a state, without its version and EK. */
function pick(s: AgentStateFile): Partial<AgentStateFile> {
  return {
    ...(s.ak !== undefined ? { ak: s.ak } : {}),
    ...(s.bindingKey !== undefined ? { bindingKey: s.bindingKey } : {}),
    ...(s.enrollment !== undefined ? { enrollment: s.enrollment } : {}),
  };
}

/**
 * Answers attestd's enrollment challenge: TPM2_ActivateCredential of the credential file (`tpm2_makecredential -o`
 * format) with the AK and the EK (recreated for the purpose).
 */
export async function activateCredential(tpm: Tpm, identity: TpmIdentity, credentialFile: Uint8Array): Promise<Uint8Array> {
  const cred = decodeCredentialFile(credentialFile);
  const ek = await createEk(tpm, identity.ek.kind);
  try {
    return await activateAkCredential(tpm, ek, identity.ak, cred.credentialBlob, cred.secret);
  } finally {
    await tpm.flush(ek.handle).catch(() => undefined);
  }
}

/** A quote and the values of the quoted PCRs, in PROTOCOL.md's shapes. */
export interface QuoteEvidence {
  /** TPMS_ATTEST bytes. */
  quoted: Uint8Array;
  /** TPMT_SIGNATURE bytes. */
  signature: Uint8Array;
  /** bank name → PCR index → lowercase hex value. */
  pcrs: Record<string, Record<string, string>>;
}

/** TPM2_Quote by the AK over `selection` with `nonce`, and the PCR values it covers. */
export async function quote(tpm: Tpm, ak: AkIdentity, nonce: Uint8Array, selection: readonly TpmsPcrSelection[]): Promise<QuoteEvidence> {
  const q = await tpm.quote(ak.handle, nonce, selection);
  const pcrs: Record<string, Record<string, string>> = {};
  for (const [alg, bank] of await tpm.pcrRead(selection)) pcrs[algName(alg)] = Object.fromEntries([...bank].map(([i, v]) => [String(i), toHex(v)]));
  return { quoted: q.quoted, signature: q.signatureBytes, pcrs };
}

/** RSA-OAEP (SHA-256, empty label: JWE's RSA-OAEP-256) decryption with the binding key, in the TPM. */
export async function bindingKeyDecrypt(tpm: Tpm, bindingKey: BindingKeyIdentity, cipherText: Uint8Array): Promise<Uint8Array> {
  return tpm.rsaDecrypt(bindingKey.handle, cipherText, { scheme: "oaep", hash: "sha256" });
}
