/**
 * The attestd host client against a real attestd process (and, for answers attestd never gives, a real HTTPS
 * server that misbehaves): answers in PROTOCOL.md's shapes come back typed; attestd's problems are `refused` with
 * their code, detail and failures; no answer, a 5xx, or an answer that is not PROTOCOL.md's is `unreachable`.
 */
import test from "ava";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { ensureLocalTls } from "@tessera/service";
import { AttestdError, createAttestdHostClient } from "./attestd_host_client.ts";
import { type Attestd, startAttestd } from "./_agent_test_support.ts";

let dir: string;
let attestd: Attestd;
let odd: Server;
let oddUrl: string;
let oddCa: string;
let answer: { status: number; type: string; body: string } = { status: 500, type: "application/json", body: "{}" };

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-client-"));
  const tls = await ensureLocalTls(path.join(dir, "odd"), { service: "odd", hosts: ["127.0.0.1"] });
  const [cert, key] = await Promise.all([readFile(tls.serverCertFile, "utf8"), readFile(tls.serverKeyFile, "utf8")]);
  oddCa = await readFile(tls.caCertFile, "utf8");
  odd = createServer({ cert, key }, (req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(answer.status, { "content-type": answer.type }).end(answer.body));
  });
  await new Promise<void>((r) => odd.listen(0, "127.0.0.1", r));
  oddUrl = `https://127.0.0.1:${(odd.address() as AddressInfo).port}`;
  attestd = await startAttestd(path.join(dir, "attestd"));
});

test.after.always(async () => {
  await attestd?.stop();
  odd?.closeAllConnections();
  await new Promise((r) => odd?.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<AttestdError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AttestdError) return e;
    throw e;
  }
  throw new Error("resolved");
}

test("a challenge: a 32-byte nonce, the PCR selection, its expiry", async (t) => {
  const c = await createAttestdHostClient({ url: `${attestd.url}/`, ca: attestd.ca }).challenge("c.example.test");
  t.is(c.nonce.length, 32);
  t.regex(c.pcrSelection, /^sha256:[0-9,]+$/);
  t.true(c.expiresAt > Date.now());
});

test("attestd's refusals are `refused` with its code, detail and failures", async (t) => {
  const client = createAttestdHostClient({ url: attestd.url, ca: attestd.ca });
  const c = await client.challenge("r.example.test");
  const e = await failure(client.attest("r.example.test", { nonce: c.nonce, quote: new Uint8Array([1, 2]), signature: new Uint8Array([3]), pcrs: { sha256: { "0": "00".repeat(32) } }, eventLog: new Uint8Array([0]) }));
  // The host has no AK: the verdict is ak-not-enrolled, which the agent answers by enrolling.
  t.like(e, { kind: "refused", status: 403, code: "attestation-failed" });
  t.true(e.hasCheck("ak-not-enrolled"), JSON.stringify(e.failures));
  t.false(e.hasCheck("quote-signature"));
  t.deepEqual(e.toFailure(), { code: "attestation-failed", detail: e.detail, failures: e.failures! });

  const enroll = await failure(client.enroll("r.example.test", { ekPublic: new Uint8Array([0, 1, 2]), akPublic: new Uint8Array([0, 1]) }));
  t.is(enroll.kind, "refused");
  t.true(["bad-request", "ek-malformed", "ak-attributes", "ek-untrusted"].includes(enroll.code), enroll.message);
  t.regex(enroll.message, /^POST https:\/\/127\.0\.0\.1:\d+\/api\/v1\/hosts\/r\.example\.test\/enrollments: /);

  const activation = await failure(client.activate("r.example.test", "no-such-enrollment", new Uint8Array(32)));
  t.is(activation.kind, "refused");
  t.is(activation.status, 404);
  t.is(activation.code, "enrollment-unknown");
});

test("no answer is `unreachable`: a closed port, a certificate another CA issued", async (t) => {
  const closed = await failure(createAttestdHostClient({ url: "https://127.0.0.1:1", ca: attestd.ca }).challenge("u.example.test"));
  t.is(closed.kind, "unreachable");
  t.is(closed.code, "attestd-unreachable");
  t.regex(closed.detail, /ECONNREFUSED/);
  const wrongCa = await failure(createAttestdHostClient({ url: attestd.url, ca: oddCa }).challenge("u.example.test"));
  t.is(wrongCa.kind, "unreachable");
  t.is(wrongCa.code, "attestd-unreachable");
});

test("answers that are not attestd's verdicts are `unreachable`: a 5xx, a body not JSON, a 4xx without a problem code, a 201 of another shape, a 429", async (t) => {
  const client = createAttestdHostClient({ url: oddUrl, ca: oddCa });
  const cases: [typeof answer, string][] = [
    [{ status: 503, type: "application/problem+json", body: JSON.stringify({ type: "urn:tessera:problem:unavailable", detail: "database down" }) }, "attestd-unavailable"],
    [{ status: 502, type: "text/html", body: "<html>bad gateway</html>" }, "attestd-answer-invalid"],
    [{ status: 404, type: "application/json", body: JSON.stringify({ error: "not found" }) }, "attestd-answer-invalid"],
    [{ status: 201, type: "application/json", body: JSON.stringify({ nonce: "xyz", pcrSelection: "sha256:0", expiresAt: "2030-01-01T00:00:00Z" }) }, "attestd-answer-invalid"],
    [{ status: 429, type: "application/problem+json", body: JSON.stringify({ type: "urn:tessera:problem:rate-limited", detail: "slow down" }) }, "rate-limited"],
  ];
  for (const [a, code] of cases) {
    answer = a;
    const e = await failure(client.challenge("o.example.test"));
    t.is(e.kind, "unreachable", JSON.stringify(a));
    t.is(e.code, code, e.message);
  }
  answer = { status: 201, type: "application/json", body: JSON.stringify({ nonce: "ab".repeat(32), pcrSelection: "sha256:0", expiresAt: "2030-01-01T00:00:00Z" }) };
  t.is((await client.challenge("o.example.test")).expiresAt, Date.parse("2030-01-01T00:00:00Z"));
  answer = { status: 403, type: "application/problem+json", body: JSON.stringify({ type: "urn:tessera:problem:ek-untrusted", detail: "expired" }) };
  const refused = await failure(client.challenge("o.example.test"));
  t.like(refused, { kind: "refused", code: "ek-untrusted", detail: "expired", status: 403 });
});
