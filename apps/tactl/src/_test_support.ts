/**
 * Shared helper of the tactl tests: runs the CLI in-process and collects what it prints.
 * @module
 */
import { run } from "./cli.ts";

/** Runs `tactl argv…` in-process; its exit code and everything it wrote to stdout and stderr. */
export async function tactl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await run(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}
