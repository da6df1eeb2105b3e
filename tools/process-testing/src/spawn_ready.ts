/**
 * Starting a service as a child process and waiting until it says it is ready.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";

/** Options of {@link spawnReady}. */
export interface SpawnReadyOptions {
  /** The child's environment (default this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait for the ready line, ms (default 60 000). */
  readonly timeoutMs?: number;
}

/** A started child process. */
export interface ReadyProcess {
  readonly child: ChildProcess;
  /** The match of the ready pattern (its groups: the URL or port the service printed). */
  readonly match: RegExpExecArray;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string;
  /** SIGTERM (SIGKILL after 5 s), resolved once it has exited. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs `command args` and resolves once its output (stdout or stderr) matches `ready`. Rejects, with everything it
 * wrote, when it exits first or does not match within the timeout (and then kills it).
 *
 * @example
 * ```ts
 * const kmxd = await spawnReady("kmxd", "apps/kmxd/bin/kmxd", ["--listen", "127.0.0.1:0", …], /^kmxd: listening on (https:\/\/\S+)/m);
 * const url = kmxd.match[1];
 * await kmxd.stop();
 * ```
 */
export function spawnReady(what: string, command: string, args: readonly string[], ready: RegExp, options: SpawnReadyOptions = {}): Promise<ReadyProcess> {
  const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env });
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      settled = true;
      void stop("SIGKILL");
      reject(new Error(`${what} did not say it was ready within ${timeoutMs / 1000} s:\n${out}`));
    }, timeoutMs);
    // The output is kept whole (output()), but matched only until the child is ready: a service that logs every
    // request writes megabytes in a benchmark, and matching the whole text again on each chunk cost the bench
    // process a third of its CPU (quadratic in the output). Each stream is decoded as UTF-8 on its own, so that a
    // character split between two chunks is not garbled.
    const feed = (text: string): void => {
      out += text;
      if (settled) return;
      const m = ready.exec(out);
      if (m) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out, stop });
      }
    };
    child.stdout!.setEncoding("utf8").on("data", feed);
    child.stderr!.setEncoding("utf8").on("data", feed);
    child.once("error", (e) => {
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${what} could not be started (${command}): ${e.message}`, { cause: e }));
    });
    child.once("exit", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before it was ready:\n${out}`));
    });
  });
}
