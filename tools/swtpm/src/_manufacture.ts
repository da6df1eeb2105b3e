/**
 * Manufacturing a TPM with swtpm_setup: a private swtpm_localca CA (root + intermediate, created on
 * first use), EK certificates (RSA, ECC P-384) and a platform certificate in NV, all inside one folder.
 * @module
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { SWTPM_BINARIES } from "./binaries.ts";
import { EK_CERT_NV_INDEX, type EkCertKind, type SwtpmEkCert } from "./ek_cert.ts";
import { SwtpmError } from "./errors.ts";
import { runTool } from "./_run_tool.ts";

/** TPM identity passed to swtpm_localca; swtpm_setup 0.7.1 uses these (see its log). */
export interface CertToolIdentity {
  readonly specFamily: string;
  readonly specLevel: string;
  readonly specRevision: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly version: string;
}

/** swtpm 0.7.1's identity, used where the setup log does not say. */
export const DEFAULT_IDENTITY: CertToolIdentity = {
  specFamily: "2.0",
  specLevel: "0",
  specRevision: "164",
  manufacturer: "id:00001014",
  model: "swtpm",
  version: "id:20191023",
};

/** Reads the identity swtpm_setup passed to swtpm_localca from its log, falling back to {@link DEFAULT_IDENTITY} per field. */
export function identityFromSetupLog(log: string): CertToolIdentity {
  const pick = (flag: string, fallback: string): string => new RegExp(`${flag} (\\S+)`).exec(log)?.[1] ?? fallback;
  return {
    specFamily: pick("--tpm-spec-family", DEFAULT_IDENTITY.specFamily),
    specLevel: pick("--tpm-spec-level", DEFAULT_IDENTITY.specLevel),
    specRevision: pick("--tpm-spec-revision", DEFAULT_IDENTITY.specRevision),
    manufacturer: pick("--tpm-manufacturer", DEFAULT_IDENTITY.manufacturer),
    model: pick("--tpm-model", DEFAULT_IDENTITY.model),
    version: pick("--tpm-version", DEFAULT_IDENTITY.version),
  };
}

/** Files of one instance's folder. */
export interface Layout {
  readonly dir: string;
  readonly stateDir: string;
  readonly localcaDir: string;
  readonly setupConf: string;
  readonly localcaConf: string;
  readonly localcaOptions: string;
  readonly ekCertDir: string;
}

/** The file names inside an instance folder; `localcaDir` elsewhere when the CA is shared between instances. */
export function layoutOf(dir: string, localcaDir: string = path.join(dir, "localca")): Layout {
  return {
    dir,
    stateDir: path.join(dir, "state"),
    localcaDir,
    setupConf: path.join(dir, "swtpm_setup.conf"),
    localcaConf: path.join(dir, "swtpm-localca.conf"),
    localcaOptions: path.join(dir, "swtpm-localca.options"),
    ekCertDir: path.join(dir, "ekcerts"),
  };
}

async function writeConfigs(l: Layout, pcrBanks: readonly string[]): Promise<void> {
  await Promise.all([mkdir(l.stateDir), mkdir(l.localcaDir, { recursive: true, mode: 0o700 }), mkdir(l.ekCertDir)]);
  await writeFile(
    l.setupConf,
    [
      `create_certs_tool = ${SWTPM_BINARIES.swtpmLocalca}`,
      `create_certs_tool_config = ${l.localcaConf}`,
      `create_certs_tool_options = ${l.localcaOptions}`,
      `active_pcr_banks = ${pcrBanks.join(",")}`,
      "",
    ].join("\n"),
  );
  await writeFile(
    l.localcaConf,
    [
      `statedir = ${l.localcaDir}`,
      `signingkey = ${path.join(l.localcaDir, "signkey.pem")}`,
      `issuercert = ${path.join(l.localcaDir, "issuercert.pem")}`,
      `certserial = ${path.join(l.localcaDir, "certserial")}`,
      "",
    ].join("\n"),
  );
  await writeFile(l.localcaOptions, ["--platform-manufacturer Tessera", "--platform-version 2.1", "--platform-model swtpm", ""].join("\n"));
}

/** Maps swtpm_setup's `--write-ek-cert-files` names to kinds. */
const EK_FILE_KINDS: Readonly<Record<string, EkCertKind>> = {
  "ek-rsa2048.crt": "rsa2048",
  "ek-rsa3072.crt": "rsa3072",
  "ek-secp384r1.crt": "eccNistP384",
};

async function readSetupEkCerts(l: Layout): Promise<SwtpmEkCert[]> {
  const certs: SwtpmEkCert[] = [];
  for (const name of (await readdir(l.ekCertDir)).sort()) {
    const kind = EK_FILE_KINDS[name];
    if (kind === undefined) continue;
    certs.push({ kind, nvIndex: EK_CERT_NV_INDEX[kind], der: new Uint8Array(await readFile(path.join(l.ekCertDir, name))) });
  }
  return certs;
}

/**
 * CA certificates of the local CA: root first, issuing CA (issuercert.pem) last.
 *
 * @throws SwtpmError SWTPM_SETUP when there is no issuercert.pem
 */
export async function readCaCerts(l: Layout): Promise<{ all: string[]; issuer: string }> {
  const names = (await readdir(l.localcaDir)).filter((n) => n.endsWith(".pem"));
  const rank = (n: string): number => (n.includes("rootca") ? 0 : n === "issuercert.pem" ? 2 : 1);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const all: string[] = [];
  let issuer = "";
  for (const n of names) {
    const text = await readFile(path.join(l.localcaDir, n), "utf8");
    if (!text.includes("-----BEGIN CERTIFICATE-----")) continue; // private keys
    all.push(text);
    if (n === "issuercert.pem") issuer = text;
  }
  if (issuer === "") throw new SwtpmError("SWTPM_SETUP", `swtpm_localca did not create ${path.join(l.localcaDir, "issuercert.pem")}`);
  return { all, issuer };
}

/** What swtpm_setup may be asked for. */
export interface ManufactureOptions {
  readonly pcrBanks: readonly string[];
  readonly rsaKeySize: 2048 | 3072;
  readonly createSpk?: "rsa" | "ecc";
}

/**
 * Writes private swtpm_setup / swtpm_localca configs into the layout's folder and runs `swtpm_setup --tpm2
 * --create-ek-cert --create-platform-cert --overwrite` (NV is not locked, so tests may define NV spaces).
 *
 * @returns the EK certificates swtpm_setup wrote, and the TPM identity it passed to swtpm_localca
 * @throws SwtpmError SWTPM_TOOL when swtpm_setup fails, SWTPM_SETUP when it wrote no RSA EK certificate
 */
export async function manufacture(l: Layout, options: ManufactureOptions): Promise<{ ekCerts: SwtpmEkCert[]; identity: CertToolIdentity }> {
  await writeConfigs(l, options.pcrBanks);
  const args = [
    "--tpm2",
    "--tpmstate",
    l.stateDir,
    "--create-ek-cert",
    "--create-platform-cert",
    "--config",
    l.setupConf,
    "--overwrite",
    "--rsa-keysize",
    String(options.rsaKeySize),
    "--write-ek-cert-files",
    l.ekCertDir,
  ];
  if (options.createSpk !== undefined) args.push("--create-spk", ...(options.createSpk === "ecc" ? ["--ecc"] : []));
  const setup = await runTool(SWTPM_BINARIES.swtpmSetup, args, 60000, { ...process.env, XDG_CONFIG_HOME: l.dir });
  const log = setup.stdout + setup.stderr;
  const ekCerts = await readSetupEkCerts(l);
  if (!ekCerts.some((c) => c.kind === "rsa2048" || c.kind === "rsa3072")) {
    throw new SwtpmError("SWTPM_SETUP", `swtpm_setup did not write an RSA EK certificate into ${l.ekCertDir}\n${log}`);
  }
  return { ekCerts, identity: identityFromSetupLog(log) };
}
