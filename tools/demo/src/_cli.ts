/**
 * How the demo shows what it runs: a heading per step, each command printed before its output, and a command's
 * exit status checked (a different one stops the demo with an error naming the command).
 * @module
 */
import { spawnSync } from "node:child_process";
import path from "node:path";

/** The repository's root. */
export const ROOT = path.resolve(import.meta.dirname, "../../..");
const TACTL = path.join(ROOT, "apps/tactl/src/main.ts");

/** Prints a step's heading. */
export function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

/** Prints a line. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Runs `tactl args` (from the sources, on this Node), prints the command and its output (stdout unless `quiet`), and
 * returns its stdout.
 * @throws Error when it exits with another status than `expectExit`
 */
export function tactl(args: readonly string[], expectExit = 0, quiet = false): string {
  process.stdout.write(`$ tactl ${args.join(" ")}\n`);
  const r = spawnSync(process.execPath, [TACTL, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (!quiet) process.stdout.write(r.stdout);
  if (r.stderr) process.stdout.write(r.stderr);
  if (r.status !== expectExit) throw new Error(`tactl ${args[0]} ${args[1]} exited ${r.status}, expected ${expectExit}`);
  return r.stdout;
}

/**
 * Runs another program, printing the command and its output.
 * @throws Error when it does not exit 0
 */
export function tool(cmd: string, args: readonly string[]): string {
  process.stdout.write(`$ ${cmd} ${args.join(" ")}\n`);
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  process.stdout.write(r.stdout + r.stderr);
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}`);
  return r.stdout;
}
