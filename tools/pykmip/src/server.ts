/**
 * Throw-away PyKMIP 0.10 servers (Debian `python3-pykmip`) for interop tests.
 *
 * {@link startPykmipServer} writes a PyKMIP server config into a temp folder (TLS material, an
 * empty operation-policy folder, the SQLite database and the log all live there; nothing touches
 * /etc/pykmip, /var/log/pykmip or /tmp/pykmip.database), starts the server on a free loopback port
 * and waits until it completes a TLS handshake with a client certificate.
 *
 * PyKMIP quirks handled here:
 * - `auth_suite = TLS1.2` makes it `ssl.wrap_socket(..., ssl_version=PROTOCOL_TLSv1_2)`: TLS 1.2
 *   only (no TLS 1.3), with a fixed cipher allow-list (see {@link defaultCipherSuites}).
 * - `tls_cipher_suites` is whitespace-separated in the config file; names not in PyKMIP's
 *   TLS 1.2 list are silently dropped, and if none remain PyKMIP uses its whole default list.
 * - Without `policy_path` the policy monitor scans the *current directory* for `*.json`, so an
 *   (empty, or caller-filled) `policies/` folder is always configured.
 * - The log path is not a config-file setting: it is passed as `-l` (default would be
 *   /var/log/pykmip/server.log).
 * - SIGTERM only makes it stop after its 10 s accept timeout, so {@link PykmipServer.stop}
 *   sends SIGTERM to the process group and SIGKILLs it after a short grace period.
 * - It forks a multiprocessing manager and a policy-monitor process; the launcher makes every
 *   process of the tree die with its parent (PR_SET_PDEATHSIG), the first one being the test
 *   process (also via `setpriv --pdeathsig SIGKILL` when available), and a process `exit` hook
 *   SIGKILLs the process group.
 *
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { ensurePykmip, PYKMIP_BINARIES } from "./ensure.ts";
import type { JsonValue } from "./ops.ts";
import { makeTestPki, type PkiKeyType, type TestPki } from "./pki.ts";

/** Logging levels PyKMIP's server accepts. */
export type PykmipLogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";

/** Options of {@link startPykmipServer}. */
export interface StartPykmipServerOptions {
  /** Working folder (created if needed; kept on stop). Default: a fresh temp folder, removed on stop. */
  readonly dir?: string;
  /** TLS material. Default: {@link makeTestPki} in `<dir>/pki` with {@link keyType}. */
  readonly pki?: TestPki;
  /** Key type of the generated PKI when `pki` is not given (default `"ec"`). */
  readonly keyType?: PkiKeyType;
  /** Bind address (default `"127.0.0.1"`). */
  readonly host?: string;
  /** Port (default: a free one, retried on a bind race). */
  readonly port?: number;
  /** `enable_tls_client_auth`: require EKU clientAuth in client certificates (default true). */
  readonly enableTlsClientAuth?: boolean;
  /** `tls_cipher_suites` (IANA or OpenSSL names). Default: {@link defaultCipherSuites} of the PKI key type. */
  readonly tlsCipherSuites?: readonly string[];
  /** `logging_level` (default `"DEBUG"`). */
  readonly loggingLevel?: PykmipLogLevel;
  /**
   * Operation policy files to put in the policy folder: file base name → JSON content (policy
   * name → `{ preset: { OBJECT_TYPE: { OPERATION: "ALLOW_ALL" | "ALLOW_OWNER" | "DISALLOW_ALL" } } }`),
   * e.g. `{ shared: { shared: { preset: { SYMMETRIC_KEY: { GET: "ALLOW_ALL" } } } } }`. Objects use
   * a policy through their Operation Policy Name (`operationPolicyName` on create/register; the
   * built-in default is `"default"`: owner-only for keys, `"public"` also exists). Start-up waits
   * until PyKMIP has loaded every file.
   */
  readonly policyFiles?: Readonly<Record<string, JsonValue>>;
  /** How long to wait for the first TLS handshake (default 20000 ms). */
  readonly startTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL on stop (default 250 ms; PyKMIP needs up to 10 s to honour SIGTERM). */
  readonly stopGraceMs?: number;
}

/** A running PyKMIP server. */
export interface PykmipServer {
  readonly host: string;
  readonly port: number;
  /** The TLS material: `pki.server` is the server's, `pki.clients.alice/bob` are for clients. */
  readonly pki: TestPki;
  /** Working folder (config, log, database, policies). */
  readonly dir: string;
  /** pid of the server process (also its process group id). */
  readonly pid: number;
  readonly configPath: string;
  readonly logPath: string;
  readonly databasePath: string;
  readonly policyPath: string;
  /** Stops the server (SIGTERM, then SIGKILL after the grace period) and removes a temp `dir`. Idempotent. */
  stop(): Promise<void>;
  /** The server log file plus the process' stdout/stderr (a snapshot taken at stop once stopped). */
  logs(): string;
}

/**
 * The `tls_cipher_suites` that can actually be negotiated with a certificate of the given key
 * type, among PyKMIP's TLS 1.2 allow-list (the DHE suites are left out: PyKMIP sets no DH params).
 *
 * @param keyType key type of the server certificate.
 */
export function defaultCipherSuites(keyType: PkiKeyType): string[] {
  return keyType === "ec"
    ? [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
      ]
    : ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "TLS_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256"];
}

/**
 * Python launcher: makes this process and every process it forks (multiprocessing manager,
 * policy monitor) die with its parent, then runs `kmip.services.server.server:main` (what
 * /usr/bin/pykmip-server runs) with the command-line arguments.
 */
/** Printed by the launcher after the whole traceback of an exception that ended PyKMIP's main(). */
const STARTUP_FAILED = "TESSERA-PYKMIP-MAIN-FAILED";

const LAUNCHER = String.raw`
import ctypes, os, signal, sys
_libc = ctypes.CDLL(None, use_errno=True)
def _die_with_parent(expected_parent):
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if expected_parent and os.getppid() != expected_parent:
        os._exit(1)
_die_with_parent(int(os.environ.get("TESSERA_PYKMIP_PARENT_PID") or "0"))
_forking = [0]
def _before_fork():
    _forking[0] = os.getpid()
def _after_fork_in_child():
    _die_with_parent(_forking[0])
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
from kmip.services.server.server import main
sys.argv[0] = "pykmip-server"
try:
    code = main()
except BaseException:
    # The policy monitor (a non-daemon child) would keep a failed server alive, and the
    # traceback reaches the parent in pieces: print it whole, then a marker, then end.
    import traceback
    traceback.print_exc()
    sys.stderr.write("\n${STARTUP_FAILED}\n")
    sys.stderr.flush()
    os._exit(3)
sys.exit(code)
`;
import { freePort } from "@tessera/process-testing";

const OUTPUT_LIMIT = 1 << 20;
const live = new Map<number, { dir: string | undefined }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [pid, { dir }] of live) {
      killGroup(pid, "SIGKILL");
      if (dir !== undefined) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          // best effort at exit
        }
      }
    }
    live.clear();
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * True while a non-zombie process of the process group exists (zombies are dead already; they are
 * reaped by init whenever it gets to it). Reads /proc; falls back to kill(-pgid, 0).
 */
function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function iniValue(v: string): string {
  if (/[\r\n]/.test(v)) throw new Error(`PyKMIP config value must be a single line: ${JSON.stringify(v)}`);
  return v.replaceAll("%", "%%");
}

/** Waits for `p` or `ms`, whichever comes first, without leaving a timer behind. */
async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One TLS handshake with a client certificate; resolves with the negotiated cipher or rejects. */
async function tlsProbe(host: string, port: number, pki: TestPki): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: "localhost",
      ca: pki.ca.certPem,
      cert: pki.clients.alice.certPem,
      key: pki.clients.alice.keyPem,
      minVersion: "TLSv1.2",
      timeout: 5000,
    });
    socket.once("secureConnect", () => {
      const cipher = `${socket.getProtocol() ?? "?"} ${socket.getCipher().name}`;
      socket.end();
      socket.destroy();
      resolve(cipher);
    });
    socket.once("timeout", () => {
      socket.destroy();
      reject(Object.assign(new Error("TLS handshake timed out"), { code: "ETIMEDOUT" }));
    });
    socket.once("error", (e) => {
      socket.destroy();
      reject(e);
    });
  });
}

/**
 * Starts a PyKMIP server (see the module documentation for the layout and quirks).
 *
 * @param options working folder, PKI, port, TLS and policy settings, timeouts.
 * @returns the running server; call `stop()` (servers still running at process exit are SIGKILLed).
 * @throws Error when PyKMIP is missing ({@link ensurePykmip}), or when the server exits or does not
 *   complete a TLS handshake in time; the message includes the server's log.
 */
export async function startPykmipServer(options: StartPykmipServerOptions = {}): Promise<PykmipServer> {
  ensurePykmip();
  installExitHook();
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), "tessera-pykmip-")));
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const pki = options.pki ?? (await makeTestPki(path.join(dir, "pki"), { keyType: options.keyType ?? "ec" }));
    const host = options.host ?? "127.0.0.1";
    const policyPath = path.join(dir, "policies");
    await mkdir(policyPath, { recursive: true });
    for (const [name, content] of Object.entries(options.policyFiles ?? {})) {
      if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`invalid policy file name ${JSON.stringify(name)}`);
      await writeFile(path.join(policyPath, `${name}.json`), JSON.stringify(content, null, 2));
    }
    const attempts = options.port === undefined ? 3 : 1;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const port = options.port ?? (await freePort(host));
      try {
        return await launch({ options, dir, ownsDir, pki, host, port, policyPath });
      } catch (e) {
        lastError = e;
        if (!(e instanceof BindError)) throw e;
      }
    }
    throw lastError;
  } catch (e) {
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

class BindError extends Error {}

interface LaunchParams {
  readonly options: StartPykmipServerOptions;
  readonly dir: string;
  readonly ownsDir: boolean;
  readonly pki: TestPki;
  readonly host: string;
  readonly port: number;
  readonly policyPath: string;
}

async function launch(p: LaunchParams): Promise<PykmipServer> {
  const { options, dir, pki, host, port, policyPath } = p;
  const configPath = path.join(dir, "server.conf");
  const logPath = path.join(dir, "server.log");
  const databasePath = path.join(dir, "pykmip.db");
  await rm(logPath, { force: true });
  await rm(databasePath, { force: true });
  const suites = options.tlsCipherSuites ?? defaultCipherSuites(pki.keyType);
  const config = [
    "[server]",
    `hostname=${iniValue(host)}`,
    `port=${port}`,
    `certificate_path=${iniValue(pki.server.certPath)}`,
    `key_path=${iniValue(pki.server.keyPath)}`,
    `ca_path=${iniValue(pki.ca.certPath)}`,
    "auth_suite=TLS1.2",
    `policy_path=${iniValue(policyPath)}`,
    `enable_tls_client_auth=${options.enableTlsClientAuth === false ? "False" : "True"}`,
    `tls_cipher_suites=${suites.map(iniValue).join(" ")}`,
    `logging_level=${options.loggingLevel ?? "DEBUG"}`,
    `database_path=${iniValue(databasePath)}`,
    "",
  ].join("\n");
  await writeFile(configPath, config, { mode: 0o600 });

  const python = [PYKMIP_BINARIES.python, "-I", "-W", "ignore", "-c", LAUNCHER, "-f", configPath, "-l", logPath];
  const argv = existsSync(PYKMIP_BINARIES.setpriv) ? [PYKMIP_BINARIES.setpriv, "--pdeathsig", "SIGKILL", ...python] : python;
  const child: ChildProcess = spawn(argv[0], argv.slice(1), {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TESSERA_PYKMIP_PARENT_PID: String(process.pid) },
  });
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = signal !== null ? `killed by ${signal}` : `exited with ${code ?? "?"}`;
      resolve();
    });
  });
  // "close": every holder of the output pipes (the policy monitor too) is gone, all output read.
  const closePromise = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once("spawn", () => resolve(undefined));
    child.once("error", (e) => resolve(e));
  });
  if (spawnError !== undefined || child.pid === undefined) {
    throw new Error(`could not start ${argv[0]}: ${spawnError?.message ?? "no pid"}`);
  }
  const pid = child.pid;
  live.set(pid, { dir: p.ownsDir ? dir : undefined });
  // A forgotten server must not keep the test process alive: the exit hook kills it.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();

  let snapshot: string | undefined;
  const readLogs = (): string => {
    if (snapshot !== undefined) return snapshot;
    let log = "";
    try {
      log = readFileSync(logPath, "utf8");
    } catch {
      log = "(no server log yet)";
    }
    return `${log}${output.length > 0 ? `\n--- pykmip-server stdout/stderr ---\n${output}` : ""}`;
  };

  let terminating: Promise<void> | undefined;
  const terminate = (): Promise<void> => {
    terminating ??= (async () => {
      if (exited === undefined) {
        killGroup(pid, "SIGTERM");
        await withTimeout(exitPromise, options.stopGraceMs ?? 250);
      }
      // Also reaps the manager / policy-monitor children if the main process already exited.
      killGroup(pid, "SIGKILL");
      await withTimeout(exitPromise, 5000);
      for (let i = 0; i < 50 && groupAlive(pid); i++) await sleep(40);
      await withTimeout(closePromise, 5000);
      snapshot = readLogs();
      live.delete(pid);
    })();
    return terminating;
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await terminate();
      if (p.ownsDir) await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  // Wait for a successful TLS handshake.
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  let lastProbeError = "";
  let tlsFailures = 0;
  for (;;) {
    // A startup exception in PyKMIP's main thread does not end the process by itself (the policy
    // monitor keeps it alive): the launcher prints the whole traceback, then the marker, then exits.
    // Matching the traceback's first line instead read the output before its last line arrived.
    const startupCrash = output.includes(STARTUP_FAILED);
    if (exited !== undefined || startupCrash) {
      await terminate();
      const logs = readLogs();
      const how = exited ?? "raised an exception";
      if (/failed to bind socket handler/i.test(logs)) {
        throw new BindError(`PyKMIP server could not bind ${host}:${port} (${how}). Log:\n${logs}`);
      }
      throw new Error(`PyKMIP server ${how} before accepting TLS connections. Log:\n${logs}`);
    }
    if (Date.now() > deadline) {
      const logs = readLogs();
      await terminate();
      throw new Error(
        `PyKMIP server did not complete a TLS handshake on ${host}:${port} within ${options.startTimeoutMs ?? 20_000} ms` +
          ` (last error: ${lastProbeError || "none"}). Log:\n${logs}`,
      );
    }
    try {
      await tlsProbe(host, port, pki);
      break;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      lastProbeError = `${err.code ?? "error"}: ${err.message}`;
      // Refused / reset while starting up is expected; handshake failures against a listening
      // server are not going to fix themselves.
      if (err.code !== "ECONNREFUSED" && err.code !== "ECONNRESET" && err.code !== "ETIMEDOUT") tlsFailures++;
      if (tlsFailures >= 3) {
        const logs = readLogs();
        await terminate();
        throw new Error(`TLS handshake with the PyKMIP server on ${host}:${port} keeps failing (${lastProbeError}). Log:\n${logs}`);
      }
      await sleep(100);
    }
  }

  // The policy monitor loads the policy folder one second after start (then rescans every
  // second): objects created before that with a custom Operation Policy Name would be
  // inaccessible even to their owner. Wait until every policy file is loaded.
  const policyFiles = Object.keys(options.policyFiles ?? {}).map((n) => path.join(policyPath, `${n}.json`));
  const level = options.loggingLevel ?? "DEBUG";
  const canWatch = level === "DEBUG" || level === "INFO";
  if (policyFiles.length > 0 && !canWatch) {
    // The "Loading policies" line is logged at INFO: cannot watch for it, wait out the first scan.
    await sleep(1500);
  }
  while (canWatch && policyFiles.some((f) => !readLogs().includes(`Loading policies for file: ${f}`))) {
    if (exited !== undefined || Date.now() > deadline) {
      const logs = readLogs();
      await terminate();
      throw new Error(`PyKMIP server did not load the policy files ${policyFiles.join(", ")} (${exited ?? "timeout"}). Log:\n${logs}`);
    }
    await sleep(50);
  }

  return { host, port, pki, dir, pid, configPath, logPath, databasePath, policyPath, stop, logs: readLogs };
}
