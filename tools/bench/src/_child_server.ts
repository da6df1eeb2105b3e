/**
 * A server of the bench's own in a process of its own (kmip.ts's canned-response server, the bound servers of the
 * attest and kmx suites): started with an IPC channel, sent its set-up, it answers `{ port }` once it listens, and
 * exits when the channel is closed.
 * @module
 */
import { spawn } from "node:child_process";

/** A started child server. */
export interface ChildServer {
  readonly port: number;
  readonly pid: number | undefined;
  /** Closes the channel and waits for the process to exit. */
  readonly stop: () => Promise<void>;
}

/**
 * Starts `script` (a .ts file run by this Node) and sends it `setup`.
 * @throws Error naming `what` when it exits before answering its port
 */
export async function startChildServer(script: string, setup: unknown, what: string): Promise<ChildServer> {
  const proc = spawn(process.execPath, [script], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once("message", (m: { port: number }) => resolve(m.port));
    proc.once("exit", (code) => reject(new Error(`${what} exited (${code})`)));
    proc.send(setup as object);
  });
  return {
    port,
    pid: proc.pid,
    stop: async () => {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.disconnect();
      await exited;
    },
  };
}
