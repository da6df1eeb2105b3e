/**
 * Runs the short-lived helpers (swtpm_setup, swtpm_localca) to completion.
 * @module
 */
import { spawn } from "node:child_process";
import { SwtpmError } from "./errors.ts";

/** What a successful {@link runTool} printed. */
export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program to completion. Rejects with SwtpmError SWTPM_TOOL, holding the command line and its
 * stdout and stderr, when it cannot start, exits non-zero or runs longer than `timeoutMs` (then it is killed).
 *
 * @param command the program
 * @param args its arguments
 * @param timeoutMs time limit
 * @param env environment (default: this process')
 */
export function runTool(command: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ToolResult> {
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
      reject(new SwtpmError("SWTPM_TOOL", `Could not run ${command}: ${e.message}`, { cause: e }));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(new SwtpmError("SWTPM_TOOL", `${[command, ...args].join(" ")} ${why}\n--- stdout ---\n${stdout.trim()}\n--- stderr ---\n${stderr.trim()}`));
    });
  });
}
