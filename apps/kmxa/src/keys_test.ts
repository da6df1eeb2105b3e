/**
 * keys.ts and routes/keys.ts without a network: how each KeyRequestError becomes the caller's problem document
 * (kmxd's status, code and extension members carried through, marked `source: "kmxd"`; the agent's last failure
 * with not-attested). The key service against real processes is in server_test.ts.
 */
import test from "ava";
import { ProblemError } from "@tessera/http";
import { KeyRequestError } from "./keys.ts";
import { KEY_PROBLEMS, keyProblem } from "./routes/keys.ts";

async function doc(r: Response): Promise<Record<string, unknown>> {
  return (await r.json()) as Record<string, unknown>;
}

test("kmxd's refusal keeps kmxd's status, code, members and Retry-After", async (t) => {
  const e = new KeyRequestError("KMXD_REFUSED", "kmxd refused data-keys of provider p: nope", {
    status: 503,
    problemCode: "key-servers-unreachable",
    extra: { servers: ["127.0.0.1:1 (ECONNREFUSED)"] },
    headers: { "retry-after": "7" },
  });
  const r = keyProblem(e);
  t.is(r.status, 503);
  t.is(r.headers.get("retry-after"), "7");
  t.is(r.headers.get("content-type"), "application/problem+json");
  t.like(await doc(r), { type: "urn:tessera:problem:key-servers-unreachable", status: 503, servers: ["127.0.0.1:1 (ECONNREFUSED)"], source: "kmxd" });
});

test("kmxd's members cannot replace the problem's own", async (t) => {
  const r = keyProblem(
    new KeyRequestError("KMXD_REFUSED", "x", { status: 403, problemCode: "host-untrusted", extra: { status: 200, type: "urn:x", detail: "y" } }),
  );
  t.like(await doc(r), { type: "urn:tessera:problem:host-untrusted", status: 403, detail: "x" });
});

test("not attested is 503 with the agent's last failure", async (t) => {
  const failure = { code: "attestation-failed", detail: "image-unknown: …", failures: [{ check: "image-unknown", detail: "…" }] };
  const r = keyProblem(new KeyRequestError("NOT_ATTESTED", "the host is not attested", { failure }));
  t.is(r.status, KEY_PROBLEMS["not-attested"]);
  t.like(await doc(r), { type: "urn:tessera:problem:not-attested", failure });
});

test("kmxa's own codes: unreachable, invalid answer, key not opened, and a ProblemError as it is", async (t) => {
  t.like(await doc(keyProblem(new KeyRequestError("KMXD_UNREACHABLE", "down"))), { type: "urn:tessera:problem:kmxd-unreachable", status: 503 });
  t.like(await doc(keyProblem(new KeyRequestError("KMXD_ANSWER_INVALID", "odd"))), { type: "urn:tessera:problem:kmxd-answer-invalid", status: 502 });
  t.like(await doc(keyProblem(new KeyRequestError("KEY_NOT_OPENED", "tpm"))), { type: "urn:tessera:problem:key-not-opened", status: 502 });
  t.like(await doc(keyProblem(new ProblemError("bad-request", 400, "b", { errors: [] }))), {
    type: "urn:tessera:problem:bad-request",
    status: 400,
    errors: [],
  });
});

test("anything else is not turned into a problem (it is a 500, logged)", (t) => {
  const e = new Error("bug");
  t.is(
    t.throws(() => keyProblem(e)),
    e,
  );
});
