/**
 * The software TPMs of `tactl dev`: manufactured with `swtpm_setup` (EK certificates in NV, RSA 2048 at
 * 0x01c00002, issued by one swtpm_localca CA shared by every host of the environment, so the administrator trusts
 * one TPM CA), then served by a long-lived `swtpm socket` on Unix sockets in the host's folder.
 *
 * This is production code of tactl, which may not import the test harness `@tessera/swtpm-testing`: it repeats,
 * in a few lines, that harness's swtpm_setup/swtpm_localca configuration (tools/swtpm/src/_manufacture.ts) and
 * its `swtpm socket` arguments (tools/swtpm/src/_launch.ts), without the harness's temp folders, exit hooks and
 * parent-death signal (a dev TPM must outlive tactl) and without the P-256 EK certificate it adds.
 * @module
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DevError } from "./dev_errors.ts";

/** Where a program is: on PATH, else in /usr/bin or /usr/sbin. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [...(env.PATH ?? "").split(":").filter((d) => d !== ""), "/usr/bin", "/usr/sbin", "/usr/local/bin"];
  for (const d of dirs) {
    const f = path.join(d, name);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      // next
    }
  }
  throw new DevError("DEV_TOOL_MISSING", `${name} is not installed (not on PATH nor in /usr/bin): install the Debian packages swtpm and swtpm-tools`);
}

/** The files of the environment's shared TPM CA. */
export interface TpmCaLayout {
  /** The folder of swtpm_localca's state: its root CA, its issuing CA (issuercert.pem) and signing key. */
  readonly dir: string;
  readonly setupConf: string;
  readonly localcaConf: string;
  readonly localcaOptions: string;
}

/** The shared CA's files under `dir`. */
export function tpmCaLayout(dir: string): TpmCaLayout {
  return {
    dir: path.join(dir, "localca"),
    setupConf: path.join(dir, "swtpm_setup.conf"),
    localcaConf: path.join(dir, "swtpm-localca.conf"),
    localcaOptions: path.join(dir, "swtpm-localca.options"),
  };
}

/** An existing CA that signs the EK certificates instead of one swtpm_localca makes (a vTPM CA). */
export interface ImportedCa {
  /** Its certificate (PEM file). */
  readonly certificate: string;
  /** Its private key (PEM file). */
  readonly key: string;
  /** The platform model written into the certificates (default `swtpm`). */
  readonly model?: string;
}

/**
 * Writes the swtpm_setup and swtpm_localca configuration. Without `imported`, the CA itself is made by the first
 * swtpm_setup in `l.dir`; with it, that CA signs and `l.dir` keeps only swtpm_localca's serial number.
 */
export async function writeTpmCaConfig(l: TpmCaLayout, imported?: ImportedCa): Promise<void> {
  await mkdir(l.dir, { recursive: true, mode: 0o700 });
  const localca = findProgram("swtpm_localca");
  await writeFile(
    l.setupConf,
    [
      `create_certs_tool = ${localca}`,
      `create_certs_tool_config = ${l.localcaConf}`,
      `create_certs_tool_options = ${l.localcaOptions}`,
      "active_pcr_banks = sha256",
      "",
    ].join("\n"),
  );
  await writeFile(
    l.localcaConf,
    [
      `statedir = ${l.dir}`,
      `signingkey = ${imported?.key ?? path.join(l.dir, "signkey.pem")}`,
      `issuercert = ${imported?.certificate ?? path.join(l.dir, "issuercert.pem")}`,
      `certserial = ${path.join(l.dir, "certserial")}`,
      "",
    ].join("\n"),
  );
  await writeFile(
    l.localcaOptions,
    ["--platform-manufacturer Tessera", "--platform-version 2.1", `--platform-model ${imported?.model ?? "swtpm"}`, ""].join("\n"),
  );
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1;
      resolve({ code, output: `${stdout}${stderr}${err && code === -1 ? err.message : ""}` });
    });
  });
}

/**
 * Manufactures a TPM 2.0 in `stateDir` with swtpm_setup: SHA-256 PCR bank, an RSA 2048 EK and its certificate
 * (and swtpm_setup's ECC P-384 one) and a platform certificate, issued by the shared CA `ca` (none with
 * `ekCertificate: false`: the caller certifies the EK some other way). Run one at a time
 * per CA: swtpm_localca makes the CA on first use and counts serial numbers in a file.
 * @throws DevError DEV_SWTPM_SETUP with swtpm_setup's output when it fails or writes no RSA EK certificate
 */
export async function manufactureTpm(stateDir: string, ca: TpmCaLayout, o: { readonly ekCertificate?: boolean } = {}): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const certDir = path.join(stateDir, "..", "ek-certs");
  await mkdir(certDir, { recursive: true });
  const withCerts = o.ekCertificate !== false;
  const args = [
    "--tpm2",
    "--tpmstate",
    stateDir,
    ...(withCerts ? ["--create-ek-cert", "--create-platform-cert"] : []),
    "--config",
    ca.setupConf,
    "--overwrite",
  ];
  args.push("--rsa-keysize", "2048", "--write-ek-cert-files", certDir);
  // XDG_CONFIG_HOME: swtpm_setup and swtpm_localca look for their default configuration there; keep them inside the environment.
  const r = await run(findProgram("swtpm_setup"), args, { ...process.env, XDG_CONFIG_HOME: path.dirname(ca.dir) }, 60_000);
  if (r.code !== 0) throw new DevError("DEV_SWTPM_SETUP", `swtpm_setup for ${stateDir} failed (exit ${r.code}):\n${r.output.slice(-2000)}`);
  if (withCerts && !(await readdir(certDir)).includes("ek-rsa2048.crt")) {
    throw new DevError("DEV_SWTPM_SETUP", `swtpm_setup wrote no RSA EK certificate into ${certDir}:\n${r.output.slice(-2000)}`);
  }
}

/** The shared CA's certificates (PEM): its root first, the issuing CA last, as attestd takes them. */
export async function readTpmCaCertificates(ca: TpmCaLayout): Promise<string[]> {
  const names = (await readdir(ca.dir)).filter((n) => n.endsWith(".pem"));
  const rank = (n: string): number => (n.includes("rootca") ? 0 : n === "issuercert.pem" ? 2 : 1);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const pems: string[] = [];
  for (const n of names) {
    const text = await readFile(path.join(ca.dir, n), "utf8");
    if (text.includes("-----BEGIN CERTIFICATE-----")) pems.push(text.trim() + "\n");
  }
  if (!names.includes("issuercert.pem")) throw new DevError("DEV_SWTPM_SETUP", `swtpm_localca made no ${path.join(ca.dir, "issuercert.pem")}`);
  return pems;
}

/**
 * `swtpm socket`'s arguments: the TPM in `stateDir`, served on the Unix socket `socket` with its control channel
 * on `<socket>.ctrl` (the name the swtpm TCTI `swtpm:path=…` derives), powered on and — unless `startup: false`
 * (a firmware that sends it) — with TPM2_Startup done. `private`: state files and sockets 0600 (a vTPM's).
 */
export function swtpmSocketArgs(stateDir: string, socket: string, o: { readonly startup?: boolean; readonly private?: boolean } = {}): string[] {
  const mode = o.private === true ? ",mode=0600" : "";
  return [
    ...["socket", "--tpm2", "--tpmstate", `dir=${stateDir}${mode}`],
    ...["--server", `type=unixio,path=${socket}${mode}`, "--ctrl", `type=unixio,path=${socket}.ctrl${mode}`],
    ...["--flags", o.startup === false ? "not-need-init" : "not-need-init,startup-clear"],
  ];
}

/** The longest socket path (with `.ctrl` appended) a sockaddr_un holds, with room to spare. */
export const MAX_SOCKET_PATH = 100;

/** Whether a Unix socket accepts a connection (closed at once). */
export function acceptsConnections(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ path: socket });
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/**
 * Waits until swtpm serves on `socket`, while `alive()` says it runs.
 * @throws DevError DEV_START_FAILED when it ended, DEV_START_TIMEOUT after `timeoutMs`
 */
export async function waitForSwtpm(socket: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await acceptsConnections(socket)) return;
    if (!alive()) throw new DevError("DEV_START_FAILED", `swtpm for ${socket} exited before it served`);
    if (Date.now() > deadline) throw new DevError("DEV_START_TIMEOUT", `swtpm did not serve on ${socket} within ${timeoutMs / 1000} s`);
    await sleep(5); // swtpm serves in ~30 ms: a coarse poll would be most of a vTPM start
  }
}
