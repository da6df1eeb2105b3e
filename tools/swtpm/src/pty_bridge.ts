/**
 * A pseudo-terminal that behaves like `/dev/tpmrm0`, bridged to an swtpm TCP data port with
 * `socat PTY,link=<tmp>/tpm0,raw,echo=0 TCP:host:port`.
 *
 * A client opens {@link PtyBridge.path}, writes one whole TPM command and reads the whole response,
 * exactly as with the kernel's TPM character device; tpm2-tools / tpm2-tss use it with the device
 * TCTI (`-T device:<path>`) without special handling. Notes:
 * - socat connects to the TCP side eagerly, at startup, and keeps that connection for its whole
 *   life. swtpm serves one data connection at a time, so while a bridge runs every other client of
 *   the same swtpm data port (e.g. `swtpm:host=...,port=...`) hangs until the bridge is stopped.
 * - socat keeps the pty slave open itself, so clients may open and close the device repeatedly.
 * - If swtpm goes away (stop/restart), socat exits and the bridge is dead; start a new one.
 * - There is no resource manager behind it (unlike /dev/tpmrm0): transient objects and sessions
 *   stay loaded between clients unless they flush them.
 *
 * @module
 */
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { ensureDebianPackages } from "./ensure_packages.ts";
import { SWTPM_BINARIES } from "./binaries.ts";
import { isRunning, makeTrackedTempDir, removeTrackedTempDir, spawnManaged, terminate, waitUntilReady, type ManagedChild } from "./_process.ts";

/** A running socat pty bridge. */
export interface PtyBridge extends AsyncDisposable {
  /** Path of the device-like pty (a symlink `<tmp>/tpm0` to `/dev/pts/N`). */
  readonly path: string;
  /** The `/dev/pts/N` the symlink points to. */
  readonly ptsPath: string;
  /** TCTI string for tpm2-tools / tpm2-tss: `device:<path>`. */
  readonly tcti: string;
  /** PID of socat (undefined once it exited). */
  readonly pid: number | undefined;
  /** Last few KiB of socat's diagnostics (`-d -d`). */
  readonly output: string;
  /** Kills socat (SIGTERM, SIGKILL after 2 s) and removes the temp folder. Idempotent. */
  stop(): Promise<void>;
  /** Same as {@link stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startPtyBridge}. */
export interface PtyBridgeOptions {
  /** How long to wait for the pty and the TCP connection (default 10000 ms). */
  readonly readyTimeoutMs?: number;
}

let socatChecked = false;

/**
 * Starts socat with a pty on one side and a TCP connection to `tcpHost:tcpPort` on the other, and
 * waits until the pty link exists and socat has connected (its "starting data transfer loop").
 *
 * @param tcpHost host of the swtpm data port, e.g. `127.0.0.1`
 * @param tcpPort the swtpm data port ({@link SwtpmInstance.port})
 * @param options see {@link PtyBridgeOptions}
 * @throws SwtpmError SWTPM_START with socat's diagnostics if it exits (e.g. connection refused) or times out.
 */
export async function startPtyBridge(tcpHost: string, tcpPort: number, options: PtyBridgeOptions = {}): Promise<PtyBridge> {
  if (!socatChecked) {
    ensureDebianPackages(["socat"]);
    socatChecked = true;
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 10000;
  const dir = await makeTrackedTempDir("tessera-pty-");
  const link = path.join(dir, "tpm0");
  let managed: ManagedChild | undefined;
  try {
    const socat = spawnManaged(SWTPM_BINARIES.socat, ["-d", "-d", `PTY,link=${link},raw,echo=0`, `TCP:${tcpHost}:${tcpPort}`]);
    managed = socat;
    const ready = (): boolean => existsSync(link) && socat.output.text.includes("starting data transfer loop");
    await waitUntilReady(socat, "the bridge was ready", ready, { timeoutMs: readyTimeoutMs, intervalMs: 10 });
    return new RunningPtyBridge(dir, link, realpathSync(link), socat);
  } catch (e) {
    if (managed !== undefined) await terminate(managed, 500);
    await removeTrackedTempDir(dir);
    throw e;
  }
}

class RunningPtyBridge implements PtyBridge {
  readonly path: string;
  readonly ptsPath: string;
  readonly #dir: string;
  readonly #managed: ManagedChild;
  #stopping: Promise<void> | undefined;

  constructor(dir: string, link: string, ptsPath: string, managed: ManagedChild) {
    this.#dir = dir;
    this.path = link;
    this.ptsPath = ptsPath;
    this.#managed = managed;
  }

  get tcti(): string {
    return `device:${this.path}`;
  }

  get pid(): number | undefined {
    return isRunning(this.#managed) ? this.#managed.child.pid : undefined;
  }

  get output(): string {
    return this.#managed.output.text;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await terminate(this.#managed);
      await removeTrackedTempDir(this.#dir);
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
