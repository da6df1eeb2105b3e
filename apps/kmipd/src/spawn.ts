/**
 * Starts kmipd as its own process (`node apps/kmipd/src/main.ts …`) and waits until it listens: for the tools
 * that measure or demonstrate it, and the tests that kill it.
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

/** A kmipd child process. */
export interface KmipdProcess {
  proc: ChildProcess;
  /** The port it listens on (the one the kernel chose for `--listen HOST:0`). */
  port: number;
  /** Everything it has written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when it exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

const MAIN = path.join(import.meta.dirname, "main.ts");

/**
 * Runs kmipd with `args` (its command line; give `--listen` and `--data-dir`), Node options `nodeArgs`, and the
 * environment without `KMIPD_*` settings that would override the arguments. Rejects if it exits or does not say
 * it listens within `timeoutMs`.
 */
export async function spawnKmipd(args: string[], options: { nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<KmipdProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KMIPD_") || k === "KMIPD_THREADS"));
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let out = "";
  let err = "";
  let alive = true;
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => {
      alive = false;
      resolve({ code, signal });
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`kmipd did not listen within ${options.timeoutMs ?? 20_000} ms:\n${err}\n${out}`));
    }, options.timeoutMs ?? 20_000);
    let listening = false;
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      // Matched only until it listens: matching the whole log again on every chunk is quadratic in a long run.
      if (listening) return;
      const m = /kmipd: listening on [^\s]+:(\d+)/.exec(err);
      if (m) {
        listening = true;
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`kmipd exited (${code ?? signal}) before listening:\n${err}\n${out}`));
    });
  });
  return { proc, port, stdout: () => out, stderr: () => err, exited, running: () => alive };
}

/**
 * `tactl kmip`'s connection options for a kmipd on this machine as its own client: `--server 127.0.0.1:PORT` and the
 * client certificate, key and CA that its first start wrote to `DATA_DIR/tls/`.
 */
export function kmipdClientArgs(dataDir: string, port: number): string[] {
  const tls = path.join(dataDir, "tls");
  return ["--server", `127.0.0.1:${port}`, "--cert", path.join(tls, "client.pem"), "--key", path.join(tls, "client-key.pem"), "--ca", path.join(tls, "ca.pem")];
}
