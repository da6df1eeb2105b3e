/**
 * Shared helper of the tactl tests: runs the CLI in-process and collects what it prints.
 * @module
 */
import { type Io, run } from "./cli.ts";

/** What a tactl run printed, and its exit code. */
export interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs `tactl argv…` in-process; its exit code and everything it wrote to stdout and stderr. */
export async function tactl(...argv: string[]): Promise<Ran> {
  return tactlWith({}, ...argv);
}

/** Runs `tactl argv…` in-process with an environment ($TESSERA_HOME) and a terminal's colour, without touching process.env. */
export async function tactlWith(options: Pick<Io, "env" | "colour">, ...argv: string[]): Promise<Ran> {
  let out = "";
  let err = "";
  const code = await run(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s), ...options });
  return { code, out, err };
}
