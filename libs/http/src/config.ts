/**
 * Configuration validated once at start.
 * @module
 */
import type { z } from "zod";
import { fieldPath } from "./_zod.ts";
import { ConfigError } from "./errors.ts";

/** A deeply read-only view of `T`. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

function deepFreeze<T>(v: T): T {
  if (v && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * Validates `input` (flags, environment and file merged by the app) with `schema` and returns it frozen.
 *
 * @example
 * ```ts
 * const Config = z.object({ port: z.coerce.number().int().min(0).max(65535) });
 * const config = parseConfig(Config, { port: env.ATTESTD_PORT }, "environment");
 * ```
 * @param source where the input came from, for the message ("attestd.json", "flags").
 * @throws ConfigError naming the exact field: `bad configuration in flags: field listen.port: Invalid input: expected number, received string`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, source: string): DeepReadonly<z.output<S>> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new ConfigError(fieldPath(first?.path ?? []), source, first?.message ?? "invalid", { cause: r.error });
  }
  return deepFreeze(r.data) as DeepReadonly<z.output<S>>;
}
