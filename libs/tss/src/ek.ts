/**
 * The endorsement key: certificates from NV, the EK recreated from the TCG default templates (honouring a
 * template or nonce stored in NV, low range), and the check that the recreated key is the certified one.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { EK_KINDS, type EkKind, ekTemplate, samePublicKey, TPM_HT, TPM_RH, TPMT_PUBLIC, type TpmtPublic, unmarshal } from "@tessera/tpm2";
import { TssError } from "./errors.ts";
import type { LoadedObject, Tpm } from "./tpm.ts";

/** The length of a DER object from its header, or undefined if the bytes do not start with one (NV cert slots may be padded). */
export function derLength(b: Uint8Array): number | undefined {
  if (b.length < 2 || b[0] !== 0x30) return undefined;
  const l = b[1];
  if (l < 0x80) return 2 + l <= b.length ? 2 + l : undefined;
  const n = l & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i];
  return 2 + n + len <= b.length ? 2 + n + len : undefined;
}

async function nvIndexes(tpm: Tpm): Promise<Set<number>> {
  return new Set(await tpm.handles(TPM_HT.NV_INDEX));
}

/** EK kinds whose certificate NV index exists on this TPM. */
export async function ekKindsPresent(tpm: Tpm): Promise<EkKind[]> {
  const nv = await nvIndexes(tpm);
  return (Object.keys(EK_KINDS) as EkKind[]).filter((k) => nv.has(EK_KINDS[k].cert));
}

/** Reads the EK certificate (DER) of a kind from NV, trimmed to its DER length; undefined when the index is absent. */
export async function readEkCertificate(tpm: Tpm, kind: EkKind, options: { nvIndexes?: Set<number> } = {}): Promise<Uint8Array | undefined> {
  const index = EK_KINDS[kind].cert;
  const nv = options.nvIndexes ?? (await nvIndexes(tpm));
  if (!nv.has(index)) return undefined;
  const raw = await tpm.nvRead(index, { authHandle: TPM_RH.OWNER });
  const n = derLength(raw);
  if (n === undefined) throw new TssError("TSS_EK", `EK certificate at NV 0x${index.toString(16)} is not DER`);
  return raw.subarray(0, n);
}

/** The template the EK of `kind` is created from: a template stored in NV, else the default with any stored nonce. */
export async function ekTemplateFor(tpm: Tpm, kind: EkKind, options: { nvIndexes?: Set<number> } = {}): Promise<TpmtPublic> {
  const k = EK_KINDS[kind];
  const nv = options.nvIndexes ?? (await nvIndexes(tpm));
  if (k.template && nv.has(k.template)) {
    return unmarshal(TPMT_PUBLIC, await tpm.nvRead(k.template, { authHandle: TPM_RH.OWNER }));
  }
  const nonce = k.nonce && nv.has(k.nonce) ? await tpm.nvRead(k.nonce, { authHandle: TPM_RH.OWNER }) : undefined;
  return ekTemplate(kind, nonce);
}

/** An EK recreated in the TPM, with its certificate if there is one. */
export interface Ek extends LoadedObject {
  kind: EkKind;
  /** DER certificate from NV, if present. */
  certificate: Uint8Array | undefined;
}

/**
 * Recreates the EK of `kind` (CreatePrimary under the endorsement hierarchy) and, when the TPM holds a
 * certificate for it, checks the certificate's public key is this key (TssError TSS_EK otherwise).
 * The caller must flush `handle` (see {@link withEk}).
 */
export async function createEk(tpm: Tpm, kind: EkKind, options: { endorsementAuth?: Uint8Array } = {}): Promise<Ek> {
  const nv = await nvIndexes(tpm);
  const template = await ekTemplateFor(tpm, kind, { nvIndexes: nv });
  const certificate = await readEkCertificate(tpm, kind, { nvIndexes: nv });
  const ek = await tpm.createPrimary(TPM_RH.ENDORSEMENT, template, { hierarchyAuth: options.endorsementAuth });
  if (certificate) {
    let ok: boolean;
    try {
      ok = samePublicKey(ek.public, new X509Certificate(certificate).publicKey);
    } catch (e) {
      await tpm.flush(ek.handle).catch(() => undefined);
      throw new TssError("TSS_EK", `EK certificate at NV 0x${EK_KINDS[kind].cert.toString(16)} cannot be read: ${(e as Error).message}`, { cause: e });
    }
    if (!ok) {
      await tpm.flush(ek.handle).catch(() => undefined);
      throw new TssError("TSS_EK", `the ${kind} EK recreated from its template does not match the public key in the EK certificate`);
    }
  }
  return { ...ek, kind, certificate };
}

/** Runs `fn` with the recreated EK, flushing it afterwards (also on error). */
export async function withEk<R>(tpm: Tpm, kind: EkKind, fn: (ek: Ek) => Promise<R>): Promise<R> {
  return tpm.withFlush(createEk(tpm, kind), fn);
}
