/**
 * JSON request bodies validated by a zod schema.
 * @module
 */
import type { Context } from "hono";
import type { z } from "zod";
import { describeZodError } from "./_zod.ts";
import { ProblemError } from "./errors.ts";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads the request body as JSON and validates it with `schema`.
 *
 * @example
 * ```ts
 * const Login = z.object({ user: z.string(), password: z.string() });
 * app.post("/api/v1/auth/token", async (c) => { const { user, password } = await readJson(c, Login); … });
 * ```
 * @throws ProblemError 415 `unsupported-media-type` unless Content-Type is application/json (or `…+json`);
 *   400 `bad-request` for a body that is not JSON, or that does not fit the schema (the detail names the
 *   first bad field, e.g. `bad request body field hosts[0].name: …`, and `errors` lists every issue).
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!JSON_TYPE.test(type)) {
    throw new ProblemError("unsupported-media-type", 415, `the request body must be application/json, not ${type ? `"${type}"` : "untyped"}`);
  }
  // From the request itself, not through Hono's c.req.text(): that keeps the text in the context's body cache for as
  // long as the request lives, which for an attestation is a 45 KB string through every await of its handler (copied
  // by each young-generation GC meanwhile). Nothing else reads a body; readJson reads it once.
  const text = await c.req.raw.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ProblemError("bad-request", 400, `the request body is not valid JSON: ${(e as Error).message}`, undefined, { cause: e });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const { detail, errors } = describeZodError(r.error, "bad request body");
    throw new ProblemError("bad-request", 400, detail, { errors }, { cause: r.error });
  }
  return r.data;
}
