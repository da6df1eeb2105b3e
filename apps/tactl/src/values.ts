/**
 * Reading a command's parsed options and printing JSON: the small helpers every tactl command module uses.
 * @module
 */
import type { Io } from "./cli.ts";
import { CliError, EXIT } from "./errors.ts";

/** Parsed options of one command (node:util parseArgs values). */
export type Values = Record<string, string | boolean | undefined>;

/** A JSON object as a service answered it. */
export type Json = Record<string, unknown>;

/** The option `--k`, which the command needs. @throws CliError TACTL_USAGE when it is missing or empty */
export function str(v: Values, k: string): string {
  const s = v[k];
  if (typeof s !== "string" || s === "") throw new CliError("TACTL_USAGE", `--${k} is required`);
  return s;
}

/** The option `--k`, or undefined. */
export function opt(v: Values, k: string): string | undefined {
  const s = v[k];
  return typeof s === "string" ? s : undefined;
}

/** Every value of a repeatable option `--k` (`multiple: true`). */
export function many(v: Values, k: string): string[] {
  return (v[k] as unknown as string[] | undefined) ?? [];
}

/** `v` when it is a JSON object, else an empty one. */
export function obj(v: unknown): Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

/** The objects of `v` when it is an array, else none. */
export function arr(v: unknown): Json[] {
  return Array.isArray(v) ? (v.filter((x) => typeof x === "object" && x !== null) as Json[]) : [];
}

/** Prints `value` as indented JSON (`--json`); exit 0. */
export function json(io: Io, value: unknown): number {
  io.stdout(JSON.stringify(value, null, 2) + "\n");
  return EXIT.OK;
}
