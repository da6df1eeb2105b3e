/**
 * The two identity files of the set-up workflow, read as hostile input (a bad file is a {@link CliError}
 * TACTL_INPUT naming the file and the field):
 * - the host's identity (step 1, `tactl host export-identity`: kmxa's `GET /api/v1/identity`), imported into
 *   attestd at step 3 (`tactl ta import-host-identity`);
 * - the Trust Authority cluster's identity (step 5, `tactl ta export-identity`: attestd's `GET /api/v1/identity`),
 *   imported into a host's agent at step 6 (`tactl cluster import-ta-identity`).
 * @module
 */
import { CliError } from "./errors.ts";

/** The format tag `tactl host export-identity` adds to the agent's document. */
export const HOST_IDENTITY_FORMAT = "tessera-host-identity/v1";

/** The largest identity file read (an event log of a few hundred KiB in base64, with room). */
export const MAX_IDENTITY_BYTES = 16 * 1024 * 1024;

/** A host's identity as the workflow uses it. */
export interface HostIdentityFile {
  /** The host name it attests as. */
  readonly host: string;
  /** The EK certificate, PEM, when the TPM has one. */
  readonly ekCertificate?: string;
  /** The EK's TPM2B_PUBLIC, base64. */
  readonly ekPublic: string;
  /** SHA-256 (hex) of the EK's SPKI. */
  readonly ekFingerprint: string;
  /** The EK certificate's subject and issuer (empty without a certificate). */
  readonly caChain: readonly { readonly subject: string; readonly issuer: string }[];
  /** The TPM's maker, model and firmware as the agent read them. */
  readonly tpm: { readonly manufacturer?: string; readonly model?: string; readonly firmware?: string };
  /** The TCG event log of the boot, base64 ("" when the agent had none). */
  readonly eventLog: string;
  /** The image the agent made of the log: its name and version, when it could. */
  readonly image?: { readonly name: string; readonly version: string };
}

/** The Trust Authority cluster's identity as a host needs it. */
export interface TaIdentityFile {
  readonly cluster: string;
  /** attestd's URL. */
  readonly attestationService: string;
  /** kmxd's URL, when attestd knows it (`attestd --key-provider-url`). */
  readonly keyProviderService?: string;
  /** The CA (PEM) of the services' TLS certificates. */
  readonly tlsCa: string;
  /** kmxd's own TLS CA (PEM), when it is not `tlsCa`'s (not written by attestd today; honoured when present). */
  readonly keyProviderServiceCa?: string;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HOST = /^[a-z0-9.-]{1,253}$/;
const CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;

type Json = Record<string, unknown>;

/** Parses `text` as a JSON object, else a CliError naming `where`. */
function jsonObject(text: string, where: string, what: string): Json {
  if (text.length > MAX_IDENTITY_BYTES) throw new CliError("TACTL_INPUT", `${where}: over ${MAX_IDENTITY_BYTES} bytes, not ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError("TACTL_INPUT", `${where}: not JSON (${(e as Error).message}), not ${what}`, { cause: e });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CliError("TACTL_INPUT", `${where}: not a JSON object, not ${what}`);
  return v as Json;
}

function field(where: string, name: string, problem: string): CliError {
  return new CliError("TACTL_INPUT", `${where}: field ${name} ${problem}`);
}

function optString(o: Json, name: string, where: string, max = 4096): string | undefined {
  const v = o[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v.length > max) throw field(where, name, `is not a string of at most ${max} characters`);
  return v;
}

function reqString(o: Json, name: string, where: string, max = 4096): string {
  const v = optString(o, name, where, max);
  if (v === undefined || v === "") throw field(where, name, "is missing");
  return v;
}

function httpsUrl(o: Json, name: string, where: string): string | undefined {
  const v = optString(o, name, where, 2048);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw field(where, name, `is not a URL: ${JSON.stringify(v.slice(0, 80))}`);
  }
  if (u.protocol !== "https:") throw field(where, name, `is not an https:// URL: ${JSON.stringify(v.slice(0, 80))}`);
  return v.replace(/\/+$/, "");
}

function pem(o: Json, name: string, where: string): string | undefined {
  const v = optString(o, name, where, 256 * 1024);
  if (v === undefined) return undefined;
  if (!CERT.test(v)) throw field(where, name, "holds no PEM certificate");
  return v;
}

/**
 * Reads a host identity file's text (kmxa's identity document, with or without the format tag).
 * @param where the file, named in errors
 */
export function parseHostIdentity(text: string, where: string): HostIdentityFile {
  const what = "a host identity (tactl host export-identity)";
  const o = jsonObject(text, where, what);
  if (o.format !== undefined && o.format !== HOST_IDENTITY_FORMAT) throw field(where, "format", `is ${JSON.stringify(o.format)}, not ${HOST_IDENTITY_FORMAT}`);
  const host = reqString(o, "host", where, 253);
  if (!HOST.test(host)) throw field(where, "host", "is not a host name of 1-253 characters a-z 0-9 . -");
  const ekPublic = reqString(o, "ekPublic", where, 8192);
  if (!B64.test(ekPublic)) throw field(where, "ekPublic", "is not base64");
  const ekFingerprint = reqString(o, "ekFingerprint", where, 64);
  if (!/^[0-9a-f]{64}$/.test(ekFingerprint)) throw field(where, "ekFingerprint", "is not a SHA-256 in lowercase hex");
  const ekCertificate = pem(o, "ekCertificate", where);
  const eventLog = optString(o, "eventLog", where, MAX_IDENTITY_BYTES) ?? "";
  if (!B64.test(eventLog)) throw field(where, "eventLog", "is not base64");
  const chain = o.caChain ?? [];
  if (!Array.isArray(chain) || chain.length > 16) throw field(where, "caChain", "is not a list of at most 16 {subject, issuer}");
  const caChain = chain.map((c, i) => {
    if (typeof c !== "object" || c === null || Array.isArray(c)) throw field(where, `caChain[${i}]`, "is not an object");
    return { subject: reqString(c as Json, "subject", `${where} caChain[${i}]`), issuer: reqString(c as Json, "issuer", `${where} caChain[${i}]`) };
  });
  const t = o.tpm ?? {};
  if (typeof t !== "object" || t === null || Array.isArray(t)) throw field(where, "tpm", "is not an object");
  const tpm: { manufacturer?: string; model?: string; firmware?: string } = {};
  for (const k of ["manufacturer", "model", "firmware"] as const) {
    const v = optString(t as Json, k, `${where} tpm`, 256);
    if (v !== undefined) tpm[k] = v;
  }
  let image: HostIdentityFile["image"];
  if (o.image !== undefined && o.image !== null) {
    if (typeof o.image !== "object" || Array.isArray(o.image)) throw field(where, "image", "is not an object");
    const im = o.image as Json;
    image = { name: reqString(im, "name", `${where} image`, 128), version: reqString(im, "version", `${where} image`, 64) };
  }
  return {
    host,
    ...(ekCertificate === undefined ? {} : { ekCertificate }),
    ekPublic,
    ekFingerprint,
    caChain,
    tpm,
    eventLog,
    ...(image === undefined ? {} : { image }),
  };
}

/**
 * Reads a Trust Authority identity file's text (attestd's `GET /api/v1/identity`).
 * @param where the file, named in errors
 */
export function parseTaIdentity(text: string, where: string): TaIdentityFile {
  const o = jsonObject(text, where, "a Trust Authority identity (tactl ta export-identity)");
  const cluster = reqString(o, "cluster", where, 253);
  const attestationService = httpsUrl(o, "attestationService", where);
  if (attestationService === undefined) throw field(where, "attestationService", "is missing");
  const keyProviderService = httpsUrl(o, "keyProviderService", where);
  const tlsCa = pem(o, "tlsCa", where);
  if (tlsCa === undefined) throw field(where, "tlsCa", "is missing");
  const keyProviderServiceCa = pem(o, "keyProviderServiceCa", where);
  return {
    cluster,
    attestationService,
    ...(keyProviderService === undefined ? {} : { keyProviderService }),
    tlsCa,
    ...(keyProviderServiceCa === undefined ? {} : { keyProviderServiceCa }),
  };
}
