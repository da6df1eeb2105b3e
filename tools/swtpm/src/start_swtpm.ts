/**
 * Throw-away software TPMs (swtpm + libtpms) for tests.
 *
 * {@link startSwtpm} manufactures a fresh TPM 2.0 in its own temp folder: a private
 * swtpm_localca CA (root CA + intermediate, created on first use by swtpm_localca), EK
 * certificates in NV (RSA at 0x01c00002, ECC NIST P-384 at 0x01c00016 from swtpm_setup, plus an
 * ECC NIST P-256 EK certificate at 0x01c0000a that this package adds because swtpm_setup 0.7
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
 * - TPM commands (TPM2_Shutdown before a restart, the P-256 EK certificate's NV writes) and the
 *   control channel (power-on) go through @tessera/tss.
 *
 * @module
 */
import path from "node:path";
import { Tpm } from "@tessera/tss";
import { ensureDebianPackages, SWTPM_DEBIAN_PACKAGES } from "./ensure_packages.ts";
import type { SwtpmEkCert } from "./ek_cert.ts";
import { swtpmTransport, tctiOf, type Endpoint } from "./_endpoint.ts";
import { SwtpmError } from "./errors.ts";
import { launchOnFreePorts, launchSwtpm } from "./_launch.ts";
import { layoutOf, manufacture, readCaCerts } from "./_manufacture.ts";
import { provisionP256EkCert } from "./_p256_ek_cert.ts";
import { isRunning, makeTrackedTempDir, removeTrackedTempDir, terminate, type ManagedChild } from "./_process.ts";

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
  /**
   * A folder for swtpm_localca's CA, shared by every instance given the same folder (made on the first
   * manufacture): their EK certificates then chain to one CA, as one TPM maker's do. Default: a CA of the
   * instance's own, in its temp folder. The folder is not removed by stop(). Manufacturing into one folder is
   * serialized within this process (swtpm_localca's serial-number file is not safe against concurrent use);
   * do not share a folder between processes at the same time.
   */
  readonly localCaDir?: string;
}

/** A running software TPM. Connection fields can change after {@link SwtpmInstance.restart} if the old ports were taken. */
export interface SwtpmInstance extends AsyncDisposable {
  /** TCTI string for tpm2-tools / tpm2-tss / @tessera/tss: `swtpm:host=127.0.0.1,port=P` or `swtpm:path=/x/swtpm.sock`. */
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

/** The manufactures under way per CA folder: the next one for a folder waits for the one before. */
const manufacturing = new Map<string, Promise<unknown>>();

/** Runs `fn` once every earlier call for the same CA folder has settled. */
async function oneAtATime<T>(caDir: string, fn: () => Promise<T>): Promise<T> {
  const before = manufacturing.get(caDir) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(fn);
  const settled = mine.catch(() => undefined);
  manufacturing.set(caDir, settled);
  try {
    return await mine;
  } finally {
    if (manufacturing.get(caDir) === settled) manufacturing.delete(caDir);
  }
}

/** TPM2_Shutdown(CLEAR), unless another client holds swtpm's single data connection or the TPM was never started. */
async function shutdownOrderly(endpoint: Endpoint): Promise<void> {
  const tpm = new Tpm(swtpmTransport(endpoint, { timeoutMs: 1000, connectTimeoutMs: 1000 }));
  try {
    await tpm.shutdown();
  } catch {
    // best effort: the restart goes ahead either way
  } finally {
    await tpm.close();
  }
}

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
    if (this.#stopping !== undefined) throw new SwtpmError("SWTPM_STOPPED", "swtpm instance is stopped");
    const transport = swtpmTransport(this.#endpoint, { timeoutMs: 5000 });
    try {
      await transport.powerOn();
    } finally {
      await transport.close();
    }
  }

  restart(): Promise<void> {
    if (this.#stopping !== undefined) return Promise.reject(new SwtpmError("SWTPM_STOPPED", "swtpm instance is stopped"));
    this.#restarting ??= this.#doRestart().finally(() => {
      this.#restarting = undefined;
    });
    return this.#restarting;
  }

  async #doRestart(): Promise<void> {
    const old = this.#managed;
    if (old !== undefined) {
      if (isRunning(old)) await shutdownOrderly(this.#endpoint);
      await terminate(old);
      this.#managed = undefined;
    }
    try {
      this.#managed = await launchSwtpm(this.stateDir, this.#endpoint, this.#startup, this.#readyTimeoutMs);
    } catch (e) {
      if (this.#endpoint.kind === "unix" || !(e instanceof SwtpmError && e.code === "SWTPM_ADDRESS_IN_USE")) throw e;
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

let packagesChecked = false;

function ensurePackagesOnce(): void {
  if (packagesChecked) return;
  ensureDebianPackages(SWTPM_DEBIAN_PACKAGES);
  packagesChecked = true;
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
 * @example
 * ```ts
 * await using swtpm = await startSwtpm();
 * const tpm = Tpm.open(swtpm.tcti); // @tessera/tss
 * ```
 * @param options see {@link SwtpmOptions}
 * @returns the running instance; call `stop()` (or `await using`) when done.
 * @throws SwtpmError with swtpm_setup/swtpm output when manufacturing or startup fails.
 */
export async function startSwtpm(options: SwtpmOptions = {}): Promise<SwtpmInstance> {
  ensurePackagesOnce();
  const transport = options.transport ?? "tcp";
  const startup = options.startup !== false;
  const readyTimeoutMs = options.readyTimeoutMs ?? 10000;
  const dir = await makeTrackedTempDir("tessera-swtpm-");
  try {
    const l = options.localCaDir === undefined ? layoutOf(dir) : layoutOf(dir, path.resolve(options.localCaDir));
    if (transport === "unix" && path.join(dir, "swtpm.sock.ctrl").length > 100) {
      throw new SwtpmError("SWTPM_SOCKET_PATH", `Temp folder path ${dir} is too long for AF_UNIX socket paths; set TMPDIR to a shorter folder`);
    }
    const ekCerts = await oneAtATime(l.localcaDir, async () => {
      const made = await manufacture(l, { pcrBanks: options.pcrBanks ?? ["sha256"], rsaKeySize: options.rsaKeySize ?? 2048, createSpk: options.createSpk });
      if (options.eccP256Ek !== false) made.ekCerts.push(await provisionP256EkCert(l, made.identity, readyTimeoutMs));
      return made.ekCerts;
    });
    ekCerts.sort((a, b) => a.nvIndex - b.nvIndex);
    const ca = await readCaCerts(l);
    let launched: { endpoint: Endpoint; managed: ManagedChild };
    if (transport === "unix") {
      const endpoint: Endpoint = { kind: "unix", path: path.join(dir, "swtpm.sock") };
      launched = { endpoint, managed: await launchSwtpm(l.stateDir, endpoint, startup, readyTimeoutMs) };
    } else {
      launched = await launchOnFreePorts(l.stateDir, startup, readyTimeoutMs);
    }
    return new RunningSwtpm({ dir, stateDir: l.stateDir, caCertPem: ca.issuer, caCertsPem: ca.all, ekCerts, ...launched, startup, readyTimeoutMs });
  } catch (e) {
    await removeTrackedTempDir(dir);
    throw e;
  }
}
