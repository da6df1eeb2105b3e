import test from "ava";
import { ProblemError } from "./errors.ts";
import { problemResponse } from "./problem.ts";
import { createService } from "./service.ts";
import { captureLogger } from "./_test_support.ts";

test("problemResponse: RFC 9457 members and application/problem+json", async (t) => {
  const r = problemResponse({ code: "not-found", status: 404, detail: "no host h1", headers: { "x-a": "1" } });
  t.is(r.status, 404);
  t.is(r.headers.get("content-type"), "application/problem+json");
  t.is(r.headers.get("x-a"), "1");
  t.deepEqual(await r.json(), { type: "urn:tessera:problem:not-found", title: "Not Found", status: 404, detail: "no host h1" });
  const custom = problemResponse({ code: "appraisal-failed", status: 422, title: "Appraisal failed", detail: "d" });
  t.is(((await custom.json()) as { title: string }).title, "Appraisal failed");
});

test("problemResponse: extension members at the top level; they cannot replace the standard members", async (t) => {
  const failures = [{ check: "pcr", detail: "PCR 7 differs" }];
  const r = problemResponse({ code: "x", status: 403, detail: "refused", extra: { failures, type: "evil", status: 200 } });
  t.deepEqual(await r.json(), { failures, type: "urn:tessera:problem:x", title: "Forbidden", status: 403, detail: "refused" });
});

test("a thrown ProblemError is answered as its problem, with its extras (failures) at the top level", async (t) => {
  const app = createService({ name: "t", logger: captureLogger().logger });
  const failures = [{ check: "quote-signature", detail: "bad" }, { check: "nonce", detail: "unknown nonce" }];
  app.post("/x", () => {
    throw new ProblemError("attestation-refused", 403, "2 checks failed", { failures });
  });
  const r = await app.request("/x", { method: "POST" });
  t.is(r.status, 403);
  t.is(r.headers.get("content-type"), "application/problem+json");
  t.deepEqual(await r.json(), { type: "urn:tessera:problem:attestation-refused", title: "Forbidden", status: 403, detail: "2 checks failed", failures });
});
