/**
 * Throw-away software TPMs (swtpm + libtpms) for tests.
 *
 * {@link startSwtpm} manufactures a fresh TPM 2.0 in its own temp folder: a private
 * swtpm_localca CA (root CA + intermediate, created on first use by swtpm_localca), EK
 * certificates in NV (RSA at 0x01c00002, ECC NIST P-384 at 0x01c00016 from swtpm_setup, plus an
 * ECC NIST P-256 EK certificate at 0x01c0000a that this module adds because swtpm_setup 0.7
 * only makes P-384 ECC EKs), a platform certificate at 0x01c08000, and then serves it on
 * loopback TCP or on a unix socket.
 *
 * Things worth knowing:
 * - swtpm serves ONE data connection at a time; further clients are accepted by the kernel but
 *   hang until the current one disconnects (this includes a running pty bridge).
 * - With the unix transport the control socket is `<path>.ctrl`: that is the name the tpm2-tss
 *   swtpm TCTI (`swtpm:path=...`) derives and connects to during initialisation.
 * - Child processes are started under `setpriv --pdeathsig SIGKILL` (when available) and are also
 *   SIGKILLed from a process `exit` hook, so no swtpm outlives the test process.
 *
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ensureDebianPackages, SWTPM_DEBIAN_PACKAGES } from "./ensure_packages.ts";

/** Absolute paths of the programs used here (all from the Debian packages). */
export const SWTPM_BINARIES = {
  swtpm: "/usr/bin/swtpm",
  swtpmSetup: "/usr/bin/swtpm_setup",
  swtpmLocalca: "/usr/bin/swtpm_localca",
  socat: "/usr/bin/socat",
  setpriv: "/usr/bin/setpriv",
} as const;

/** NV indices of the TCG EK certificates and the swtpm platform certificate. */
export const EK_CERT_NV_INDEX = {
  /** RSA 2048 EK certificate (low range, default template L-1). */
  rsa2048: 0x01c00002,
  /** ECC NIST P-256 EK certificate (low range, default template L-2). */
  eccNistP256: 0x01c0000a,
  /** ECC NIST P-384 EK certificate (high range, template H-3), written by swtpm_setup. */
  eccNistP384: 0x01c00016,
  /** RSA 3072 EK certificate (high range, template H-6), written by swtpm_setup with `rsaKeySize: 3072`. */
  rsa3072: 0x01c0001c,
  /** swtpm_setup's platform certificate. */
  platform: 0x01c08000,
} as const;

/** Key type of an EK certificate that {@link startSwtpm} provisioned. */
export type EkCertKind = "rsa2048" | "rsa3072" | "eccNistP256" | "eccNistP384";

/** An EK certificate provisioned into the TPM's NV. */
export interface SwtpmEkCert {
  /** Key type of the certified EK. */
  readonly kind: EkCertKind;
  /** NV index holding the DER certificate. */
  readonly nvIndex: number;
  /** DER encoded X.509 certificate (byte-identical to the NV contents). */
  readonly der: Uint8Array;
}

/** Options of {@link startSwtpm}. */
export interface SwtpmOptions {
  /** `"tcp"` (default): loopback TCP data+control ports. `"unix"`: unix sockets in the temp folder. */
  readonly transport?: "tcp" | "unix";
  /**
   * Default true: swtpm runs with `--flags not-need-init,startup-clear`, i.e. powered on and
   * TPM2_Startup(CLEAR) done. false: no flags; the client must power the TPM on (see
   * {@link SwtpmInstance.powerOn}, or `swtpm_ioctl -i`) and send TPM2_Startup itself.
   */
  readonly startup?: boolean;
  /** RSA EK key size (default 2048). 3072 puts the cert at 0x01c0001c instead of 0x01c00002. */
  readonly rsaKeySize?: 2048 | 3072;
  /** Also create an ECC NIST P-256 EK certificate at 0x01c0000a (default true). */
  readonly eccP256Ek?: boolean;
  /** PCR banks to activate (default `["sha256"]`, swtpm_setup's default). */
  readonly pcrBanks?: readonly string[];
  /** Create a storage primary key at 0x81000001 (swtpm_setup `--create-spk`, `--ecc` for "ecc"). Default: none. */
  readonly createSpk?: "rsa" | "ecc";
  /** How long to wait for swtpm to accept connections (default 10000 ms). */
  readonly readyTimeoutMs?: number;
}

/** A running software TPM. Connection fields can change after {@link SwtpmInstance.restart} if the old ports were taken. */
export interface SwtpmInstance extends AsyncDisposable {
  /** TCTI string for tpm2-tools / tpm2-tss: `swtpm:host=127.0.0.1,port=P` or `swtpm:path=/x/swtpm.sock`. */
  readonly tcti: string;
  /** Transport in use. */
  readonly transport: "tcp" | "unix";
  /** TCP host (always 127.0.0.1) for the tcp transport. */
  readonly host?: string;
  /** TCP data port for the tcp transport. */
  readonly port?: number;
  /** TCP control port (port + 1) for the tcp transport. */
  readonly ctrlPort?: number;
  /** Unix data socket path for the unix transport. */
  readonly path?: string;
  /** Unix control socket path (`<path>.ctrl`) for the unix transport. */
  readonly ctrlPath?: string;
  /** The instance's private temp folder (removed by stop()). */
  readonly dir: string;
  /** swtpm's TPM state folder (inside {@link dir}). */
  readonly stateDir: string;
  /** PEM of the local CA certificate that signed the EK certificates (swtpm_localca's issuercert.pem). */
  readonly caCertPem: string;
  /** PEMs of all CA certificates of the local CA, root first, issuing CA last. */
  readonly caCertsPem: readonly string[];
  /** The EK certificates in NV. */
  readonly ekCerts: readonly SwtpmEkCert[];
  /** PID of the running swtpm (undefined once stopped). */
  readonly pid: number | undefined;
  /** Last few KiB of swtpm's stdout/stderr (for diagnostics). */
  readonly output: string;
  /** Kills swtpm (SIGTERM, SIGKILL after 2 s) and removes {@link dir}. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops swtpm (after a best-effort orderly TPM2_Shutdown(CLEAR), so restarts do not count as
   * DA-relevant disorderly shutdowns) and starts it again on the same state, keeping the ports if
   * possible. With `startup: false` the TPM must again be powered on and started by the client.
   */
  restart(): Promise<void>;
  /**
   * Sends the swtpm control command CMD_INIT ("power on"; power-cycles a running TPM). After it
   * the TPM needs TPM2_Startup. Only needed with `startup: false`.
   */
  powerOn(): Promise<void>;
  /** Same as {@link stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Where a raw TPM command is sent: loopback TCP or a unix socket. */
export type RawTpmTarget = { readonly host: string; readonly port: number } | { readonly path: string };

// ---------------------------------------------------------------------------------------------
// Child process bookkeeping (shared with pty_bridge.ts)

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of liveChildren) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

/** Keeps the last `limit` characters of a process' output. */
export class OutputTail {
  #text = "";
  readonly #limit: number;

  /** @param limit number of characters kept (default 16384) */
  constructor(limit = 16384) {
    this.#limit = limit;
  }

  /** Appends a chunk of output. */
  append(chunk: Buffer | string): void {
    this.#text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (this.#text.length > this.#limit) this.#text = this.#text.slice(this.#text.length - this.#limit);
  }

  /** The kept output. */
  get text(): string {
    return this.#text;
  }
}

/** A long-running child process that is killed when this process exits. */
export interface ManagedChild {
  /** The process. */
  readonly child: ChildProcess;
  /** Its combined stdout/stderr tail. */
  readonly output: OutputTail;
  /** Settles once the process exited and its stdio closed (or it could not be spawned). */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  /** Command line, for messages. */
  readonly commandLine: string;
}

/**
 * Spawns a long-running helper (swtpm, socat) under `setpriv --pdeathsig SIGKILL` when available,
 * collects its output, registers it for the exit hook and unrefs it so that a forgotten instance
 * does not keep the event loop alive.
 *
 * @param command absolute path of the program
 * @param args its arguments
 */
export function spawnManaged(command: string, args: readonly string[]): ManagedChild {
  installExitHook();
  const usePdeathsig = existsSync(SWTPM_BINARIES.setpriv);
  const child = usePdeathsig
    ? spawn(SWTPM_BINARIES.setpriv, ["--pdeathsig", "SIGKILL", "--", command, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output = new OutputTail();
  const commandLine = [command, ...args].join(" ");
  liveChildren.add(child);
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    stream.on("data", (chunk: Buffer) => output.append(chunk));
    if (stream instanceof net.Socket) stream.unref();
  }
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => {
      liveChildren.delete(child);
      resolve({ code: null, signal: null, error });
    });
    child.once("close", (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
  });
  child.unref();
  return { child, output, closed, commandLine };
}

/** True while the process has neither exited nor failed to spawn. */
export function isRunning(managed: ManagedChild): boolean {
  return managed.child.pid !== undefined && managed.child.exitCode === null && managed.child.signalCode === null;
}

/**
 * Terminates a managed child: SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone.
 *
 * @param managed the child
 * @param graceMs time between SIGTERM and SIGKILL (default 2000)
 */
export async function terminate(managed: ManagedChild, graceMs = 2000): Promise<void> {
  if (isRunning(managed)) {
    managed.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (isRunning(managed)) managed.child.kill("SIGKILL");
    }, graceMs);
    try {
      await managed.closed;
    } finally {
      clearTimeout(timer);
    }
  } else if (managed.child.pid !== undefined) {
    // exited already; wait for stdio to close so the output tail is complete
    await managed.closed;
  }
  liveChildren.delete(managed.child);
}

/**
 * Creates a private temp folder under os.tmpdir() that the exit hook removes if nobody else does.
 *
 * @param prefix folder name prefix
 */
export async function makeTrackedTempDir(prefix: string): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

/**
 * Removes a folder made by {@link makeTrackedTempDir}.
 *
 * @param dir the folder
 */
export async function removeTrackedTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Result of {@link runTool}. */
interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a short-lived program, rejecting with its output when it fails or times out. */
function runTool(command: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`Could not run ${command}: ${e.message}`, { cause: e }));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(new Error(`${[command, ...args].join(" ")} ${why}\n--- stdout ---\n${stdout.trim()}\n--- stderr ---\n${stderr.trim()}`));
    });
  });
}

/** Whether 127.0.0.1:port can be bound right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** An ephemeral loopback port P such that P and P+1 are currently free. */
async function findFreePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
        const address = server.address();
        const p = typeof address === "object" && address !== null ? address.port : 0;
        server.close(() => resolve(p));
      });
    });
    if (port > 0 && port < 65535 && (await canBind(port + 1))) return port;
  }
  throw new Error("Could not find two consecutive free loopback TCP ports");
}

function connectTo(target: RawTpmTarget): net.Socket {
  return "path" in target ? net.connect({ path: target.path }) : net.connect({ host: target.host, port: target.port });
}

/** Tries one connection; resolves true when it was accepted (and closes it again). */
function probe(target: RawTpmTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTo(target);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Sends one raw TPM command (complete, big-endian, with header) to an swtpm data channel and
 * returns the complete response. Opens and closes its own connection, so it waits while another
 * client holds swtpm's single data connection (bounded by `timeoutMs`).
 *
 * @param target where swtpm listens
 * @param command command bytes, e.g. TPM2_GetRandom(8) = `80 01 00 00 00 0c 00 00 01 7b 00 08`
 * @param timeoutMs overall time limit (default 5000)
 */
export function sendRawTpmCommand(target: RawTpmTarget, command: Uint8Array, timeoutMs = 5000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(target);
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (error: Error | undefined, value?: Uint8Array): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(value ?? new Uint8Array());
    };
    const timer = setTimeout(() => finish(new Error(`No complete TPM response within ${timeoutMs} ms`)), timeoutMs);
    socket.once("connect", () => socket.write(command));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 10) return;
      const all = Buffer.concat(chunks);
      const size = all.readUInt32BE(2);
      if (size < 10) finish(new Error(`Malformed TPM response header (size ${size})`));
      else if (all.length >= size) finish(undefined, new Uint8Array(all.subarray(0, size)));
    });
    socket.once("error", (e) => finish(new Error(`TPM connection failed: ${e.message}`, { cause: e })));
    socket.once("close", () => finish(new Error(`Connection closed after ${received} response bytes`)));
  });
}

/** Sends one swtpm control-channel command and returns its 4-byte result code. */
function sendControlCommand(target: RawTpmTarget, request: Uint8Array, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(target);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (error: Error | undefined, value = 0): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`No swtpm control response within ${timeoutMs} ms`)), timeoutMs);
    socket.once("connect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      if (all.length >= 4) finish(undefined, all.readUInt32BE(0));
    });
    socket.once("error", (e) => finish(new Error(`swtpm control connection failed: ${e.message}`, { cause: e })));
    socket.once("close", () => finish(new Error("swtpm control connection closed without a result")));
  });
}

// ---------------------------------------------------------------------------------------------
// Manufacturing

let packagesChecked = false;

function ensurePackagesOnce(): void {
  if (packagesChecked) return;
  ensureDebianPackages(SWTPM_DEBIAN_PACKAGES);
  packagesChecked = true;
}

/** TPM identity passed to swtpm_localca; swtpm_setup 0.7.1 uses these (see its log). */
interface CertToolIdentity {
  readonly specFamily: string;
  readonly specLevel: string;
  readonly specRevision: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly version: string;
}

const DEFAULT_IDENTITY: CertToolIdentity = {
  specFamily: "2.0",
  specLevel: "0",
  specRevision: "164",
  manufacturer: "id:00001014",
  model: "swtpm",
  version: "id:20191023",
};

/** Reads the identity swtpm_setup passed to swtpm_localca from its log, falling back to swtpm 0.7.1's values. */
function identityFromSetupLog(log: string): CertToolIdentity {
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
interface Layout {
  readonly dir: string;
  readonly stateDir: string;
  readonly localcaDir: string;
  readonly setupConf: string;
  readonly localcaConf: string;
  readonly localcaOptions: string;
  readonly ekCertDir: string;
}

function layoutOf(dir: string): Layout {
  return {
    dir,
    stateDir: path.join(dir, "state"),
    localcaDir: path.join(dir, "localca"),
    setupConf: path.join(dir, "swtpm_setup.conf"),
    localcaConf: path.join(dir, "swtpm-localca.conf"),
    localcaOptions: path.join(dir, "swtpm-localca.options"),
    ekCertDir: path.join(dir, "ekcerts"),
  };
}

async function writeConfigs(l: Layout, pcrBanks: readonly string[]): Promise<void> {
  await Promise.all([mkdir(l.stateDir), mkdir(l.localcaDir), mkdir(l.ekCertDir)]);
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

/** CA certificates of the local CA: root first, issuing CA (issuercert.pem) last. */
async function readCaCerts(l: Layout): Promise<{ all: string[]; issuer: string }> {
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
  if (issuer === "") throw new Error(`swtpm_localca did not create ${path.join(l.localcaDir, "issuercert.pem")}`);
  return { all, issuer };
}

function swtpmSocketArgs(stateDir: string, endpoint: Endpoint, startup: boolean): string[] {
  const args = ["socket", "--tpm2", "--tpmstate", `dir=${stateDir}`];
  if (endpoint.kind === "tcp") {
    args.push("--server", `type=tcp,port=${endpoint.port},bindaddr=${endpoint.host}`);
    args.push("--ctrl", `type=tcp,port=${endpoint.port + 1},bindaddr=${endpoint.host}`);
  } else {
    args.push("--server", `type=unixio,path=${endpoint.path}`);
    args.push("--ctrl", `type=unixio,path=${endpoint.path}.ctrl`);
  }
  if (startup) args.push("--flags", "not-need-init,startup-clear");
  return args;
}

type Endpoint = { readonly kind: "tcp"; readonly host: string; readonly port: number } | { readonly kind: "unix"; readonly path: string };

function dataTarget(e: Endpoint): RawTpmTarget {
  return e.kind === "tcp" ? { host: e.host, port: e.port } : { path: e.path };
}

function ctrlTarget(e: Endpoint): RawTpmTarget {
  return e.kind === "tcp" ? { host: e.host, port: e.port + 1 } : { path: `${e.path}.ctrl` };
}

function tctiOf(e: Endpoint): string {
  return e.kind === "tcp" ? `swtpm:host=${e.host},port=${e.port}` : `swtpm:path=${e.path}`;
}

/** swtpm could not start; `addressInUse` tells the caller to retry with other ports. */
class SwtpmStartError extends Error {
  readonly addressInUse: boolean;

  constructor(message: string, addressInUse: boolean) {
    super(message);
    this.name = "SwtpmStartError";
    this.addressInUse = addressInUse;
  }
}

/** Spawns `swtpm socket` and waits until its data channel accepts connections. */
async function launchSwtpm(stateDir: string, endpoint: Endpoint, startup: boolean, readyTimeoutMs: number): Promise<ManagedChild> {
  const managed = spawnManaged(SWTPM_BINARIES.swtpm, swtpmSocketArgs(stateDir, endpoint, startup));
  const deadline = Date.now() + readyTimeoutMs;
  const target = dataTarget(endpoint);
  for (;;) {
    if (!isRunning(managed)) {
      const result = await managed.closed;
      const out = managed.output.text.trim();
      throw new SwtpmStartError(
        `swtpm exited before accepting connections (${result.error?.message ?? `exit ${result.code ?? result.signal}`}): ${managed.commandLine}\n${out}`,
        /address already in use/i.test(out),
      );
    }
    if (endpoint.kind === "tcp" || existsSync(endpoint.path)) {
      if (await probe(target, 1000)) return managed;
    }
    if (Date.now() > deadline) {
      await terminate(managed, 500);
      throw new SwtpmStartError(`swtpm did not accept connections within ${readyTimeoutMs} ms: ${managed.commandLine}\n${managed.output.text.trim()}`, false);
    }
    await sleep(20);
  }
}

/** Launches on a fresh free port pair (tcp), retrying when another process grabs a port first. */
async function launchOnFreePorts(stateDir: string, startup: boolean, readyTimeoutMs: number): Promise<{ managed: ManagedChild; endpoint: Endpoint }> {
  let last: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    const endpoint: Endpoint = { kind: "tcp", host: "127.0.0.1", port: await findFreePortPair() };
    try {
      return { managed: await launchSwtpm(stateDir, endpoint, startup, readyTimeoutMs), endpoint };
    } catch (e) {
      last = e;
      if (!(e instanceof SwtpmStartError && e.addressInUse)) throw e;
    }
  }
  throw last instanceof Error ? last : new Error("Could not start swtpm on free ports");
}

/**
 * Adds an ECC NIST P-256 EK certificate at 0x01c0000a: starts a temporary swtpm on a unix socket,
 * derives the EK from the default low-range template (tpm2_createek -G ecc), has swtpm_localca
 * certify it and writes the DER into a platform-created NV index with the same attributes
 * swtpm_setup uses, then shuts the TPM down orderly.
 */
async function provisionP256EkCert(l: Layout, identity: CertToolIdentity, readyTimeoutMs: number): Promise<SwtpmEkCert> {
  const work = path.join(l.dir, "provision");
  await mkdir(work);
  const endpoint: Endpoint = { kind: "unix", path: path.join(work, "tpm.sock") };
  const managed = await launchSwtpm(l.stateDir, endpoint, true, readyTimeoutMs);
  try {
    const tcti = tctiOf(endpoint);
    const pubPem = path.join(work, "ek-p256.pem");
    await runTool("tpm2_createek", ["-T", tcti, "-G", "ecc", "-c", path.join(work, "ek-p256.ctx"), "-u", pubPem, "-f", "pem"], 20000);
    const jwk = createPublicKey(await readFile(pubPem, "utf8")).export({ format: "jwk" });
    if (jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string") {
      throw new Error(`tpm2_createek -G ecc returned an unexpected key: ${JSON.stringify(jwk)}`);
    }
    const hex = (b64url: string): string => Buffer.from(b64url, "base64url").toString("hex");
    const certDir = path.join(work, "cert");
    await mkdir(certDir);
    await runTool(
      SWTPM_BINARIES.swtpmLocalca,
      [
        "--type",
        "ek",
        "--ek",
        `x=${hex(jwk.x)},y=${hex(jwk.y)},id=secp256r1`,
        "--dir",
        certDir,
        "--tpm-spec-family",
        identity.specFamily,
        "--tpm-spec-level",
        identity.specLevel,
        "--tpm-spec-revision",
        identity.specRevision,
        "--tpm-manufacturer",
        identity.manufacturer,
        "--tpm-model",
        identity.model,
        "--tpm-version",
        identity.version,
        "--tpm2",
        "--configfile",
        l.localcaConf,
        "--optsfile",
        l.localcaOptions,
      ],
      30000,
    );
    const certFile = path.join(certDir, "ek.cert");
    const der = new Uint8Array(await readFile(certFile));
    const index = `0x${EK_CERT_NV_INDEX.eccNistP256.toString(16).padStart(8, "0")}`;
    await runTool(
      "tpm2_nvdefine",
      ["-T", tcti, index, "-C", "p", "-s", String(der.length), "-a", "ppwrite|writedefine|ppread|ownerread|authread|no_da|platformcreate"],
      10000,
    );
    await runTool("tpm2_nvwrite", ["-T", tcti, index, "-C", "p", "-i", certFile], 10000);
    await runTool("tpm2_shutdown", ["-T", tcti, "-c"], 10000);
    return { kind: "eccNistP256", nvIndex: EK_CERT_NV_INDEX.eccNistP256, der };
  } finally {
    await terminate(managed);
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Instance

const TPM2_SHUTDOWN_CLEAR = Uint8Array.of(0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x45, 0, 0);
const CMD_INIT = Uint8Array.of(0, 0, 0, 0x02, 0, 0, 0, 0);

class RunningSwtpm implements SwtpmInstance {
  readonly dir: string;
  readonly stateDir: string;
  readonly caCertPem: string;
  readonly caCertsPem: readonly string[];
  readonly ekCerts: readonly SwtpmEkCert[];
  #endpoint: Endpoint;
  #managed: ManagedChild | undefined;
  readonly #startup: boolean;
  readonly #readyTimeoutMs: number;
  #stopping: Promise<void> | undefined;
  #restarting: Promise<void> | undefined;

  constructor(init: {
    dir: string;
    stateDir: string;
    caCertPem: string;
    caCertsPem: readonly string[];
    ekCerts: readonly SwtpmEkCert[];
    endpoint: Endpoint;
    managed: ManagedChild;
    startup: boolean;
    readyTimeoutMs: number;
  }) {
    this.dir = init.dir;
    this.stateDir = init.stateDir;
    this.caCertPem = init.caCertPem;
    this.caCertsPem = init.caCertsPem;
    this.ekCerts = init.ekCerts;
    this.#endpoint = init.endpoint;
    this.#managed = init.managed;
    this.#startup = init.startup;
    this.#readyTimeoutMs = init.readyTimeoutMs;
  }

  get tcti(): string {
    return tctiOf(this.#endpoint);
  }

  get transport(): "tcp" | "unix" {
    return this.#endpoint.kind;
  }

  get host(): string | undefined {
    return this.#endpoint.kind === "tcp" ? this.#endpoint.host : undefined;
  }

  get port(): number | undefined {
    return this.#endpoint.kind === "tcp" ? this.#endpoint.port : undefined;
  }

  get ctrlPort(): number | undefined {
    return this.#endpoint.kind === "tcp" ? this.#endpoint.port + 1 : undefined;
  }

  get path(): string | undefined {
    return this.#endpoint.kind === "unix" ? this.#endpoint.path : undefined;
  }

  get ctrlPath(): string | undefined {
    return this.#endpoint.kind === "unix" ? `${this.#endpoint.path}.ctrl` : undefined;
  }

  get pid(): number | undefined {
    return this.#managed !== undefined && isRunning(this.#managed) ? this.#managed.child.pid : undefined;
  }

  get output(): string {
    return this.#managed?.output.text ?? "";
  }

  async powerOn(): Promise<void> {
    if (this.#stopping !== undefined) throw new Error("swtpm instance is stopped");
    const rc = await sendControlCommand(ctrlTarget(this.#endpoint), CMD_INIT, 5000);
    if (rc !== 0) throw new Error(`swtpm CMD_INIT failed with 0x${rc.toString(16)}`);
  }

  restart(): Promise<void> {
    if (this.#stopping !== undefined) return Promise.reject(new Error("swtpm instance is stopped"));
    if (this.#restarting !== undefined) return this.#restarting;
    this.#restarting = this.#doRestart().finally(() => {
      this.#restarting = undefined;
    });
    return this.#restarting;
  }

  async #doRestart(): Promise<void> {
    const old = this.#managed;
    if (old !== undefined) {
      if (isRunning(old)) {
        // Orderly shutdown, unless another client holds the single data connection.
        await sendRawTpmCommand(dataTarget(this.#endpoint), TPM2_SHUTDOWN_CLEAR, 1000).catch(() => undefined);
      }
      await terminate(old);
      this.#managed = undefined;
    }
    if (this.#endpoint.kind === "unix") {
      this.#managed = await launchSwtpm(this.stateDir, this.#endpoint, this.#startup, this.#readyTimeoutMs);
      return;
    }
    try {
      this.#managed = await launchSwtpm(this.stateDir, this.#endpoint, this.#startup, this.#readyTimeoutMs);
    } catch (e) {
      if (!(e instanceof SwtpmStartError && e.addressInUse)) throw e;
      const fresh = await launchOnFreePorts(this.stateDir, this.#startup, this.#readyTimeoutMs);
      this.#endpoint = fresh.endpoint;
      this.#managed = fresh.managed;
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#doStop();
    return this.#stopping;
  }

  async #doStop(): Promise<void> {
    await this.#restarting?.catch(() => undefined);
    if (this.#managed !== undefined) await terminate(this.#managed);
    await removeTrackedTempDir(this.dir);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Manufactures and starts a fresh software TPM 2.0 in a private temp folder.
 *
 * Steps: check the Debian packages (once per process), write private swtpm_setup /
 * swtpm_localca configs, run `swtpm_setup --tpm2 --create-ek-cert --create-platform-cert
 * --overwrite` (NV is not locked, tests may define NV spaces), add the P-256 EK certificate,
 * then run `swtpm socket` on free loopback ports (or unix sockets) and wait until it accepts
 * connections.
 *
 * @param options see {@link SwtpmOptions}
 * @returns the running instance; call `stop()` (or `await using`) when done.
 * @throws Error with swtpm_setup/swtpm output when manufacturing or startup fails.
 */
export async function startSwtpm(options: SwtpmOptions = {}): Promise<SwtpmInstance> {
  ensurePackagesOnce();
  const transport = options.transport ?? "tcp";
  const startup = options.startup !== false;
  const readyTimeoutMs = options.readyTimeoutMs ?? 10000;
  const dir = await makeTrackedTempDir("tessera-swtpm-");
  try {
    const l = layoutOf(dir);
    if (transport === "unix" && path.join(dir, "swtpm.sock.ctrl").length > 100) {
      throw new Error(`Temp folder path ${dir} is too long for AF_UNIX socket paths; set TMPDIR to a shorter folder`);
    }
    await writeConfigs(l, options.pcrBanks ?? ["sha256"]);
    const setupArgs = [
      "--tpm2",
      "--tpmstate",
      l.stateDir,
      "--create-ek-cert",
      "--create-platform-cert",
      "--config",
      l.setupConf,
      "--overwrite",
      "--rsa-keysize",
      String(options.rsaKeySize ?? 2048),
      "--write-ek-cert-files",
      l.ekCertDir,
    ];
    if (options.createSpk !== undefined) setupArgs.push("--create-spk", ...(options.createSpk === "ecc" ? ["--ecc"] : []));
    const setup = await runTool(SWTPM_BINARIES.swtpmSetup, setupArgs, 60000, { ...process.env, XDG_CONFIG_HOME: dir });
    const setupLog = setup.stdout + setup.stderr;
    const ekCerts = await readSetupEkCerts(l);
    if (!ekCerts.some((c) => c.kind === "rsa2048" || c.kind === "rsa3072")) {
      throw new Error(`swtpm_setup did not write an RSA EK certificate into ${l.ekCertDir}\n${setupLog}`);
    }
    if (options.eccP256Ek !== false) ekCerts.push(await provisionP256EkCert(l, identityFromSetupLog(setupLog), readyTimeoutMs));
    ekCerts.sort((a, b) => a.nvIndex - b.nvIndex);
    const ca = await readCaCerts(l);
    const launched =
      transport === "unix"
        ? await (async () => {
            const endpoint: Endpoint = { kind: "unix", path: path.join(dir, "swtpm.sock") };
            return { endpoint, managed: await launchSwtpm(l.stateDir, endpoint, startup, readyTimeoutMs) };
          })()
        : await launchOnFreePorts(l.stateDir, startup, readyTimeoutMs);
    return new RunningSwtpm({
      dir,
      stateDir: l.stateDir,
      caCertPem: ca.issuer,
      caCertsPem: ca.all,
      ekCerts,
      endpoint: launched.endpoint,
      managed: launched.managed,
      startup,
      readyTimeoutMs,
    });
  } catch (e) {
    await removeTrackedTempDir(dir);
    throw e;
  }
}
