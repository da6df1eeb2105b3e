/**
 * Supervision of the long-running helpers (swtpm, socat): spawned under `setpriv --pdeathsig SIGKILL`
 * when available, killed from a process `exit` hook, together with the temp folders they live in, so
 * nothing outlives the test process.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { SWTPM_BINARIES } from "./binaries.ts";
import { SwtpmError, type SwtpmErrorCode } from "./errors.ts";

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

/** How a managed child ended. */
export interface ChildEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the program could not be spawned. */
  readonly error?: Error;
}

/** A long-running child process that is killed when this process exits. */
export interface ManagedChild {
  /** The process. */
  readonly child: ChildProcess;
  /** Its combined stdout/stderr tail. */
  readonly output: OutputTail;
  /** Settles once the process exited and its stdio closed (or it could not be spawned). */
  readonly closed: Promise<ChildEnd>;
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
  const child = existsSync(SWTPM_BINARIES.setpriv)
    ? spawn(SWTPM_BINARIES.setpriv, ["--pdeathsig", "SIGKILL", "--", command, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output = new OutputTail();
  liveChildren.add(child);
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    stream.on("data", (chunk: Buffer) => output.append(chunk));
    if (stream instanceof net.Socket) stream.unref();
  }
  const closed = new Promise<ChildEnd>((resolve) => {
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
  return { child, output, closed, commandLine: [command, ...args].join(" ") };
}

/** True while the process has neither exited nor failed to spawn. */
export function isRunning(managed: ManagedChild): boolean {
  return managed.child.pid !== undefined && managed.child.exitCode === null && managed.child.signalCode === null;
}

/**
 * Polls `ready` every `intervalMs` until it returns true. Rejects with SwtpmError `code` (default
 * SWTPM_START), naming the command line and its output, when the child exits first or `timeoutMs` passes;
 * the caller terminates the child.
 *
 * @param managed the child
 * @param what what is awaited, for messages ("accepting connections")
 * @param ready the readiness check
 * @param options `timeoutMs`, `intervalMs` (default 20), `code`
 */
export async function waitUntilReady(
  managed: ManagedChild,
  what: string,
  ready: () => boolean | Promise<boolean>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly code?: SwtpmErrorCode },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const program = path.basename(managed.commandLine.split(" ")[0]);
  for (;;) {
    if (!isRunning(managed)) {
      const end = await managed.closed;
      const why = end.error?.message ?? `exit ${end.code ?? end.signal}`;
      throw new SwtpmError(options.code ?? "SWTPM_START", `${program} exited before ${what} (${why}): ${managed.commandLine}\n${managed.output.text.trim()}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      throw new SwtpmError("SWTPM_START", `${program} not ${what} within ${options.timeoutMs} ms: ${managed.commandLine}\n${managed.output.text.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
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
