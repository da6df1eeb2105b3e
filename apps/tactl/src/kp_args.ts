/**
 * The arguments of `tactl kp …`, read into the bodies of kmxd's admin API: KMIP server lists, wrap modes, cluster
 * rules (host patterns, EK fingerprints, TPM CAs) and wrapped keys. Pure except for the file readers, and every
 * refusal is a {@link CliError} (exit 2) naming the option and the value.
 * @module
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { CliError } from "./errors.ts";
import { readBytes, readText } from "./files.ts";

/** How kmxd wraps under a provider's key (PLAN.md, libs/key-provider): probed (`auto`) or forced. */
export type WrapModeArg = "auto" | "A256GCM" | "CBC-HMAC-SHA256";

/** The wrap modes `--wrap-mode` takes. */
export const WRAP_MODES: readonly WrapModeArg[] = ["auto", "A256GCM", "CBC-HMAC-SHA256"];

/** A trusted cluster's rule as kmxd takes it (libs/key-provider's ClusterRule): one criterion per rule here. */
export interface ClusterRuleArg {
  /** Host name pattern, `*` matching any run of characters. */
  host?: string;
  /** SHA-256 of the EK's public key (SPKI DER), lowercase hex. */
  ekFingerprint?: string;
  /** SHA-256 of a TPM CA certificate's DER, lowercase hex. */
  tpmCa?: string;
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIpv6(s: string): boolean {
  try {
    return new URL(`https://[${s}]/`).hostname !== "";
  } catch {
    return false;
  }
}

/**
 * One KMIP server, `HOST:PORT` (`[IPv6]:PORT` for an IPv6 address), as kmxd's API takes it: the host as given
 * (an IPv6 address in brackets), the port in decimal without leading zeros.
 */
export function parseKmipServer(raw: string, flag = "--kmip-server"): string {
  const s = raw.trim();
  const m = /^(\[([^\]]+)\]|[^:[\]]+):(\d{1,5})$/.exec(s);
  const bad = (why: string) => new CliError("TACTL_USAGE", `${flag} "${raw}": ${why} (give HOST:PORT, e.g. kms-1.example:5696)`);
  if (!m) throw bad("not HOST:PORT");
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad(`port ${m[3]} is not 1-65535`);
  if (m[2] !== undefined) {
    if (!isIpv6(m[2])) throw bad(`"${m[2]}" is not an IPv6 address`);
    return `[${m[2]}]:${port}`;
  }
  const host = m[1];
  if (/^[\d.]+$/.test(host) ? !IPV4.test(host) : !HOST_NAME.test(host)) throw bad(`"${host}" is not a host name or IPv4 address`);
  return `${host}:${port}`;
}

/**
 * The KMIP servers of one or more `--kmip-server` options, each `HOST:PORT[,HOST:PORT…]`, in the order given
 * (kmxd tries them in that order). At least one; the same server twice is refused (it would only be tried twice).
 */
export function parseKmipServers(values: readonly string[], flag = "--kmip-server"): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(",")) {
      if (part.trim() === "") throw new CliError("TACTL_USAGE", `${flag} "${v}": an empty server in the list`);
      const server = parseKmipServer(part, flag);
      if (out.includes(server)) throw new CliError("TACTL_USAGE", `${flag}: ${server} is given twice`);
      out.push(server);
    }
  }
  if (out.length === 0) throw new CliError("TACTL_USAGE", `${flag} is required (HOST:PORT[,HOST:PORT…])`);
  return out;
}

/** `--wrap-mode`: one of {@link WRAP_MODES}; absent: undefined (kmxd probes, as with `auto`). */
export function parseWrapMode(raw: string | undefined): WrapModeArg | undefined {
  if (raw === undefined) return undefined;
  const mode = WRAP_MODES.find((m) => m.toLowerCase() === raw.toLowerCase());
  if (mode === undefined) throw new CliError("TACTL_USAGE", `--wrap-mode "${raw}": give ${WRAP_MODES.join(", ")}`);
  return mode;
}

/** A provider or cluster name as kmxd keys it: 1–63 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export function checkName(raw: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw)) {
    throw new CliError("TACTL_USAGE", `${what} "${raw}": use 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return raw;
}

/** `--ek`: an EK fingerprint (SHA-256 of the SPKI DER) as 64 hex digits, colons allowed; lowercase without colons. */
export function parseEkFingerprint(raw: string): string {
  const hex = raw.trim().replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new CliError("TACTL_USAGE", `--ek "${raw}": not a SHA-256 fingerprint (64 hex digits, as \`tactl ta ek-pin list\` shows)`);
  return hex;
}

/** `--host`: a host name pattern (`*` matches any run of characters): letters, digits, `.`, `-`, `_`, `*`. */
export function parseHostPattern(raw: string): string {
  if (!/^[A-Za-z0-9._*-]{1,253}$/.test(raw))
    throw new CliError("TACTL_USAGE", `--host "${raw}": a host name pattern has letters, digits, ".", "-", "_" and "*"`);
  return raw;
}

/** The DER of each certificate in PEM or DER bytes; a file with none, or a block that does not parse, is refused naming `file`. */
export function certificatesDer(bytes: Uint8Array, file: string, flag: string): Uint8Array[] {
  const text = new TextDecoder().decode(bytes);
  const read = (der: Uint8Array): Uint8Array => {
    try {
      return new Uint8Array(new X509Certificate(der).raw);
    } catch (e) {
      throw new CliError("TACTL_INPUT", `${flag} ${file}: not a certificate: ${(e as Error).message}`, { cause: e });
    }
  };
  if (!text.includes("-----BEGIN")) return [read(bytes)];
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new CliError("TACTL_INPUT", `${flag} ${file} holds no PEM certificate`);
  return blocks.map((b) => read(new Uint8Array(Buffer.from(b.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"))));
}

/** A TPM CA rule's value: SHA-256 of the certificate's DER, lowercase hex (`tactl ta tpm-ca list` shows the same ids). */
export function certificateSha256(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/**
 * The rules of `tactl kp cluster set`: one per `--host`, `--ek` and `--tpm-ca` certificate (a bundle gives one
 * per certificate), in that order; a host matches the cluster when any rule matches. At least one.
 */
export async function clusterRules(hosts: readonly string[], eks: readonly string[], tpmCaFiles: readonly string[]): Promise<ClusterRuleArg[]> {
  const rules: ClusterRuleArg[] = [...hosts.map((h) => ({ host: parseHostPattern(h) })), ...eks.map((e) => ({ ekFingerprint: parseEkFingerprint(e) }))];
  for (const f of tpmCaFiles) {
    for (const der of certificatesDer(await readBytes(f, "TPM CA certificate"), f, "--tpm-ca")) rules.push({ tpmCa: certificateSha256(der) });
  }
  if (rules.length === 0) throw new CliError("TACTL_USAGE", "give at least one --host GLOB, --ek FINGERPRINT or --tpm-ca CERT.pem");
  const seen = new Set<string>();
  return rules.filter((r) => {
    const k = JSON.stringify(r);
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** A wrapped key (`--wrapped`, or the text of `--file`): standard base64, padded, whitespace and line ends ignored. */
export function parseWrapped(raw: string, where: string): string {
  const b64 = raw.replace(/\s+/g, "");
  if (b64 === "" || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new CliError("TACTL_USAGE", `${where}: not a wrapped key (standard base64, as kmxd returned it)`);
  }
  return b64;
}

/** A client certificate and (optionally) its private key, read and checked against each other before they go to kmxd. */
export async function readClientCredentials(certFile: string, keyFile: string | undefined): Promise<{ certificate: string; key?: string }> {
  const certText = await readText(certFile, "client certificate");
  const blocks = certText.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const [first] = blocks;
  if (first === undefined) throw new CliError("TACTL_INPUT", `--cert ${certFile} holds no PEM certificate`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(first);
  } catch (e) {
    throw new CliError("TACTL_INPUT", `--cert ${certFile}: not a certificate: ${(e as Error).message}`, { cause: e });
  }
  const certificate = blocks.join("\n") + "\n";
  if (keyFile === undefined) return { certificate };
  const keyText = await readText(keyFile, "client private key");
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch (e) {
    throw new CliError("TACTL_INPUT", `--key ${keyFile}: not a PEM private key: ${(e as Error).message}`, { cause: e });
  }
  if (!cert.checkPrivateKey(key)) throw new CliError("TACTL_INPUT", `--key ${keyFile} does not match the certificate in --cert ${certFile}`);
  // PKCS#8 whatever the file held (PKCS#1, SEC1): one form for kmxd to read.
  return { certificate, key: key.export({ type: "pkcs8", format: "pem" }).toString() };
}
