/**
 * The problem code table: every code attestd's sources (and the @tessera/http plumbing it is built on) can emit is
 * in it with the same status, EK refusals map onto it, and the OpenAPI document lists it.
 */
import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { EkRefused } from "@tessera/ek-trust";
import { attestdOpenApi } from "./openapi.ts";
import { PROBLEM_CODES, PROBLEMS } from "./problems.ts";
import { ekProblem } from "./routes/enrollment.ts";

const SRC = path.dirname(fileURLToPath(import.meta.url));
const HTTP_SRC = path.resolve(SRC, "../../../libs/http/src");

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith("_test.ts") && !path.basename(f).startsWith("_test"))
    .map((f) => path.join(dir, f));
}

/** `new ProblemError("code", status` and `problemResponse({ code: "code", status: N` in the sources, with where. */
function emitted(files: readonly string[]): { code: string; status: number; where: string }[] {
  const out: { code: string; status: number; where: string }[] = [];
  const patterns = [/ProblemError\(\s*"([a-z][a-z-]*)",\s*(\d{3})/g, /code:\s*"([a-z][a-z-]*)",\s*status:\s*(\d{3})/g];
  for (const f of files) {
    const text = readFileSync(f, "utf8")
      // JSDoc examples are not emitted.
      .replace(/\/\*\*[\s\S]*?\*\//g, "");
    for (const re of patterns) for (const m of text.matchAll(re)) out.push({ code: m[1] ?? "", status: Number(m[2]), where: path.relative(SRC, f) });
  }
  return out;
}

test("every problem code attestd's routes and the http plumbing emit is in the table, with the same status", (t) => {
  const found = emitted([...sources(SRC), ...sources(HTTP_SRC)]);
  t.true(found.length > 30, `the scan found ${found.length} emissions: the patterns no longer match the sources`);
  for (const e of found) {
    const entry = PROBLEMS.get(e.code);
    t.truthy(entry, `${e.code} (${e.status}) in ${e.where} is not in PROBLEM_CODES`);
    t.is(entry?.status, e.status, `${e.code} in ${e.where}`);
  }
  // The codes PROTOCOL.md names for the host protocol are there and marked so.
  for (const code of ["ak-attributes", "ek-untrusted", "ek-not-pinned", "credential-mismatch", "enrollment-expired", "attestation-failed", "body-too-large"]) {
    t.true(PROBLEMS.get(code)?.inProtocol, code);
  }
});

test("each EK refusal of @tessera/ek-trust is answered with a code of the table and its status", (t) => {
  const codes: EkRefused["code"][] = ["ek-untrusted", "ek-not-pinned", "ek-mismatch", "ek-malformed"];
  for (const code of codes) {
    const e = ekProblem({ ok: false, code, reason: "malformed", detail: "d" } as EkRefused);
    t.is(e.code, code);
    t.is(e.status, PROBLEMS.get(code)?.status ?? -1);
  }
});

test("the table has each code once; the OpenAPI document lists it and the problem type names every code", (t) => {
  t.is(PROBLEMS.size, PROBLEM_CODES.length);
  const doc = attestdOpenApi({ version: "1" });
  t.deepEqual(
    (doc["x-tessera-problems"] as { code: string; status: number }[]).map((x) => [x.code, x.status]),
    PROBLEM_CODES.map((x) => [x.code, x.status]),
  );
  const schema = (doc["components"] as { schemas: { Problem: { properties: { type: { enum: string[] } } } } }).schemas.Problem;
  t.deepEqual(schema.properties.type.enum, PROBLEM_CODES.map((x) => `urn:tessera:problem:${x.code}`));
});
