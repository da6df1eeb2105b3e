/**
 * The host API end to end, with real components only: attestd as its own process, swtpm hosts booted by libs/boot
 * that enroll and attest with tpm2-tools and curl (host_protocol.sh, a TPM-resident binding key certified by the
 * AK), kmipd as its own process holding the providers' primary keys, and a kmxd node (startKmxd, HTTPS) following
 * attestd's events. Every secret is opened by the host's TPM with `tpm2_rsadecrypt -s oaep`. Refusals: no token,
 * a forged, tampered, expired token, another host's token (its JWE unreadable to this TPM), another Trust
 * Authority's token, no binding key, a provider the host's cluster may not use, an unknown provider, and a host
 * attestd turned red (refused as soon as the event arrives, well before the token expires). Serial: the tests
 * share the TPMs and the nodes.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki, type HostImage } from "@tessera/boot";
import type { SwtpmInstance } from "@tessera/swtpm-testing";
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { pino } from "pino";
import {
  attestWithTools,
  attestWithTss,
  bootedSwtpm,
  eventually,
  httpsJson,
  openJweWithTpm,
  openJweWithTss,
  prepareAttestd,
  startAttestd,
  startKmipd,
  type Attestd,
  type HostRun,
  type JsonAnswer,
  type Kmipd,
} from "../_host_test_support.ts";
import { createAttestdClient } from "../attestd_client.ts";
import { loadConfig } from "../config.ts";
import { createHostStatusWatcher } from "../host_status.ts";
import { startKmxd, type RunningKmxd } from "../server.ts";

/** kmxd's clock: the tests move it to expire tokens. */
const clock = { skewMs: 0, now: (): number => Date.now() + clock.skewMs };

const A = "a.example.test";
const B = "b.example.test";
const NOBK = "nobk.example.test";
const TSS = "tss.example.test";

let dir: string;
let manifest: HostImage;
let attestd: Attestd;
let kmipd: Kmipd;
let kmxd: RunningKmxd;
let swA: SwtpmInstance;
let swB: SwtpmInstance;
let logA: Uint8Array;
let logB: Uint8Array;
let hostA: HostRun;
let hostB: HostRun;
let hostNoBk: HostRun;
let adminToken: string;

async function kmxdCall(method: string, p: string, body?: unknown, token?: string, headers?: Record<string, string>): Promise<JsonAnswer> {
  return httpsJson(kmxd.url + p, method, { ca: kmxd.caCert, ...(body !== undefined ? { body } : {}), ...(token !== undefined ? { token } : {}), ...(headers ? { headers } : {}) });
}

const tokenOf = (h: HostRun): string => {
  if (h.answer === undefined) throw new Error(`the host did not attest: ${h.stderr}`);
  return h.answer.token;
};

async function admin(method: string, p: string, body?: unknown): Promise<JsonAnswer> {
  const r = await kmxdCall(method, p, body, adminToken);
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
  return r;
}

function problemCode(r: JsonAnswer): string {
  return String(r.json.type).replace("urn:tessera:problem:", "");
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxd-host-"));
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  let a: { sw: SwtpmInstance; log: Uint8Array };
  let b: { sw: SwtpmInstance; log: Uint8Array };
  [attestd, kmipd, a, b] = await Promise.all([startAttestd(path.join(dir, "attestd")), startKmipd(path.join(dir, "kmipd")), bootedSwtpm(manifest), bootedSwtpm(manifest)]);
  ({ sw: swA, log: logA } = a);
  ({ sw: swB, log: logB } = b);
  await prepareAttestd(attestd, swA, manifest);
  await prepareAttestd(attestd, swB, manifest).catch(() => undefined); // the same image again is a 409; the CA is what matters
  await attestd.call("POST", "/api/v1/tpm-cas", { certificates: swB.caCertsPem.join("\n") }, await attestd.adminToken());
  hostA = await attestWithTools(attestd, swA, A, logA, dir);
  hostB = await attestWithTools(attestd, swB, B, logB, dir);
  hostNoBk = await attestWithTools(attestd, swB, NOBK, logB, dir, false);
  for (const h of [hostA, hostB, hostNoBk]) if (h.status !== 0) throw new Error(`a host did not attest: ${h.stderr}`);

  const passwordFile = path.join(dir, "attestd.password");
  await writeFile(passwordFile, `${attestd.password}\n`, { mode: 0o600 });
  const config = loadConfig(
    ["--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "kmxd"), "--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--attestd-user", "admin", "--attestd-password-file", passwordFile, "--log-level", "silent"],
    {},
  );
  kmxd = await startKmxd(config, { logger: pino({ level: "silent" }), clock });
  adminToken = await attestd.adminToken();
  const server = `127.0.0.1:${kmipd.port}`;
  for (const name of ["kms-1", "kms-2"]) {
    const keyId = await kmipd.activeKey(`kmxd-test-${name}`);
    await admin("POST", "/api/v1/providers", { name, kmipServers: [server], keyId, serverCa: kmipd.tls.ca, clientCertificate: kmipd.tls.cert, clientKey: kmipd.tls.key, wrapMode: "A256GCM" });
  }
  await admin("POST", "/api/v1/providers/kms-1/grants", { cluster: "default" });
  await eventually("kmxd follows attestd's events", async () => ((await kmxdCall("GET", "/api/v1/health")).json.status === "ok" ? true : undefined));
});

test.after.always(async () => {
  await kmxd?.close();
  await attestd?.stop();
  await kmipd?.stop();
  await swA?.stop();
  await swB?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("health: ok while kmxd follows attestd's event stream, unauthenticated", async (t) => {
  const r = await kmxdCall("GET", "/api/v1/health");
  t.is(r.status, 200);
  t.is(r.json.status, "ok");
  t.is(r.json.attestdEvents, "connected");
  t.true(Date.parse(r.json.since as string) <= Date.now());
});

test.serial("an attested host generates a data key; the JWE opens only with its TPM (tpm2_rsadecrypt -s oaep); unwrap gives the same key", async (t) => {
  const token = tokenOf(hostA);
  const g = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", { bytes: 32 }, token);
  t.is(g.status, 201, JSON.stringify(g.json));
  const jwe = g.json.key as string;
  t.like(decodeProtectedHeader(jwe), { alg: "RSA-OAEP-256", enc: "A256GCM" });
  const key = await openJweWithTpm(swA, hostA.dir, jwe);
  t.is(key.length, 32);
  const wrapped = g.json.wrapped as string;
  t.like(JSON.parse(Buffer.from(wrapped, "base64").toString("utf8")), { v: 1, provider: "kms-1", kv: 1, mode: "A256GCM" });
  t.false(Buffer.from(wrapped, "base64").includes(Buffer.from(key)), "the wrapped form does not hold the key in the clear");
  const u = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped }, token);
  t.is(u.status, 200, JSON.stringify(u.json));
  t.deepEqual(await openJweWithTpm(swA, hostA.dir, u.json.key as string), key);
  // Another TPM (host B's) cannot open what was sent to A.
  await t.throwsAsync(openJweWithTpm(swB, hostB.dir, u.json.key as string), { message: /tpm2_rsadecrypt failed/ });
  // The default size, and the bounds.
  const d = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token);
  t.is((await openJweWithTpm(swA, hostA.dir, d.json.key as string)).length, 32);
  const big = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", { bytes: 65 }, token);
  t.is(big.status, 400);
  t.is(problemCode(big), "bad-request");
});

test.serial("encrypt / decrypt: the ciphertext names the provider and version; the plaintext comes back as a JWE to the TPM", async (t) => {
  const token = tokenOf(hostA);
  const secret = randomBytes(100);
  const e = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: secret.toString("base64") }, token);
  t.is(e.status, 200, JSON.stringify(e.json));
  const ciphertext = e.json.ciphertext as string;
  t.like(JSON.parse(Buffer.from(ciphertext, "base64").toString("utf8")), { provider: "kms-1", kv: 1 });
  const d = await kmxdCall("POST", "/api/v1/providers/kms-1/decrypt", { ciphertext }, token);
  t.is(d.status, 200, JSON.stringify(d.json));
  t.deepEqual(Buffer.from(await openJweWithTpm(swA, hostA.dir, d.json.plaintext as string)), secret);
  const notB64 = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: "not base64!" }, token);
  t.is(notB64.status, 400);
});

test.serial("every key operation is audited with host, provider, key version, operation and result", async (t) => {
  const audit = await admin("GET", `/api/v1/audit?host=${A}&limit=100`);
  const entries = audit.json.entries as { host?: string; provider?: string; keyVersion?: number; operation: string; result: string; at: string }[];
  const ops = new Set(entries.filter((e) => e.result === "ok").map((e) => e.operation));
  for (const op of ["data-key.generate", "unwrap", "encrypt", "decrypt"]) t.true(ops.has(op), `${op} audited`);
  for (const e of entries.filter((x) => x.result === "ok")) {
    t.is(e.host, A);
    t.is(e.provider, "kms-1");
    t.is(e.keyVersion, 1);
    t.true(Date.parse(e.at) > 0);
  }
  t.true(entries.some((e) => e.operation === "data-key.generate" && e.result === "bad-request"), "a refused generation is audited with its code");
});

test.serial("refused without a token, with a malformed, tampered or forged token (401 token-invalid)", async (t) => {
  const token = tokenOf(hostA);
  const none = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {});
  t.is(none.status, 401);
  t.is(problemCode(none), "token-invalid");
  t.regex(String(none.headers["www-authenticate"]), /^Bearer error="invalid_token"/);
  const basic = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, undefined, { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` });
  t.is(problemCode(basic), "token-invalid");
  // The payload changed (sub → host B): the signature no longer holds.
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(Buffer.from(p!, "base64url").toString("utf8")) as Record<string, unknown>;
  const tampered = `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: B }))}.${s}`;
  const r1 = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tampered);
  t.is(r1.status, 401);
  t.is(problemCode(r1), "token-invalid");
  // Signed by a key that is not attestd's, under attestd's kid and issuer.
  const forger = await generateKeyPair("ES256");
  const forged = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: decodeProtectedHeader(token).kid!, typ: "JWT" }).sign(forger.privateKey);
  const r2 = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: "x" }, forged);
  t.is(r2.status, 401);
  t.regex(String(r2.json.detail), /signature/);
  // Signed by a key attestd never published (an unknown kid: kmxd refetches the JWKS once, then refuses).
  const unknownKid = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "not-attestd", typ: "JWT" }).sign(forger.privateKey);
  const r3 = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: "x" }, unknownKid);
  t.is(r3.status, 401);
  t.regex(String(r3.json.detail), /kid "not-attestd" is not in the JWKS/);
  // An admin token is not an attestation token.
  const adminAsHost = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, adminToken);
  t.is(problemCode(adminAsHost), "token-invalid");
});

test.serial("an expired token is 401 token-expired (kmxd's clock past exp and the 30 s tolerance)", async (t) => {
  const token = tokenOf(hostA);
  const { exp } = decodeJwt(token);
  clock.skewMs = (exp! + 31) * 1000 - Date.now();
  try {
    const r = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token);
    t.is(r.status, 401);
    t.is(problemCode(r), "token-expired");
  } finally {
    clock.skewMs = 0;
  }
  t.is((await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token)).status, 201, "the same token before its expiry");
});

test.serial("another host's token gets a secret only that host's TPM can open", async (t) => {
  const g = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tokenOf(hostB));
  t.is(g.status, 201, JSON.stringify(g.json));
  await t.throwsAsync(openJweWithTpm(swA, hostA.dir, g.json.key as string), { message: /tpm2_rsadecrypt failed/ }, "host A presenting B's token reads nothing");
  t.is((await openJweWithTpm(swB, hostB.dir, g.json.key as string)).length, 32);
});

test.serial("a token from another Trust Authority (another attestd, its own keys) is 401 token-invalid", async (t) => {
  const other = await startAttestd(path.join(dir, "other-attestd"));
  try {
    await prepareAttestd(other, swB, manifest);
    const h = await attestWithTools(other, swB, B, logB, dir);
    t.is(h.status, 0, h.stderr);
    const r = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tokenOf(h));
    t.is(r.status, 401);
    t.is(problemCode(r), "token-invalid");
  } finally {
    await other.stop();
  }
});

test.serial("a token without a binding key (cnf) gets no secret: 403 binding-key-missing; encrypt and rewrap return none and are allowed", async (t) => {
  const token = tokenOf(hostNoBk);
  t.is(decodeJwt(token).cnf, undefined);
  for (const [route, body] of [
    ["data-keys", {}],
    ["unwrap", { wrapped: "x" }],
    ["decrypt", { ciphertext: "x" }],
  ] as const) {
    const r = await kmxdCall("POST", `/api/v1/providers/kms-1/${route}`, body, token);
    t.is(r.status, 403, route);
    t.is(problemCode(r), "binding-key-missing", route);
  }
  const e = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: "aGVsbG8=" }, token);
  t.is(e.status, 200, JSON.stringify(e.json));
  const rw = await kmxdCall("POST", "/api/v1/providers/kms-1/rewrap", { wrapped: e.json.ciphertext }, token);
  t.is(rw.status, 200, JSON.stringify(rw.json));
});

test.serial("a provider the host's trusted cluster may not use is 403 provider-not-allowed; an unknown one 404; a cluster rule and a grant open it", async (t) => {
  const r = await kmxdCall("POST", "/api/v1/providers/kms-2/data-keys", {}, tokenOf(hostA));
  t.is(r.status, 403);
  t.is(problemCode(r), "provider-not-allowed");
  t.like(r.json, { cluster: "default", provider: "kms-2" });
  const unknown = await kmxdCall("POST", "/api/v1/providers/nope/data-keys", {}, tokenOf(hostA));
  t.is(unknown.status, 404);
  t.is(problemCode(unknown), "provider-unknown");
  await admin("PUT", "/api/v1/clusters/lab", { rules: [{ host: "b.*" }] });
  await admin("POST", "/api/v1/providers/kms-2/grants", { cluster: "lab" });
  const b = await kmxdCall("POST", "/api/v1/providers/kms-2/data-keys", {}, tokenOf(hostB));
  t.is(b.status, 201, JSON.stringify(b.json));
  t.is(problemCode(await kmxdCall("POST", "/api/v1/providers/kms-2/data-keys", {}, tokenOf(hostA))), "provider-not-allowed");
  // Host B is in "lab" now, so "default"'s provider is no longer B's.
  t.is(problemCode(await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tokenOf(hostB))), "provider-not-allowed");
  await admin("DELETE", "/api/v1/clusters/lab");
});

test.serial("wrapped forms: another provider's, tampered or malformed ones are refused with their codes", async (t) => {
  const token = tokenOf(hostA);
  const g = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token);
  const wrapped = g.json.wrapped as string;
  await admin("POST", "/api/v1/providers/kms-2/grants", { cluster: "default" });
  const other = await kmxdCall("POST", "/api/v1/providers/kms-2/unwrap", { wrapped }, token);
  t.is(other.status, 422);
  t.is(problemCode(other), "unwrap-failed");
  const form = JSON.parse(Buffer.from(wrapped, "base64").toString("utf8")) as Record<string, string>;
  const ct = Buffer.from(form.ct!, "base64");
  ct[0]! ^= 1;
  const tampered = Buffer.from(JSON.stringify({ ...form, ct: ct.toString("base64") })).toString("base64");
  const r = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: tampered }, token);
  t.is(r.status, 422);
  t.is(problemCode(r), "unwrap-failed");
  const bad = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: "bm90IGpzb24=" }, token);
  t.is(bad.status, 400);
  t.is(problemCode(bad), "wrapped-malformed");
});

test.serial("rotation: rewrap moves a wrapped key to the current version; the old form still unwraps to the same key", async (t) => {
  const token = tokenOf(hostA);
  const g = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token);
  const key = await openJweWithTpm(swA, hostA.dir, g.json.key as string);
  await admin("POST", "/api/v1/providers/kms-1/rotate", {});
  const rw = await kmxdCall("POST", "/api/v1/providers/kms-1/rewrap", { wrapped: g.json.wrapped }, token);
  t.is(rw.status, 200, JSON.stringify(rw.json));
  t.is(Object.keys(rw.json).join(), "wrapped", "no secret in a rewrap's answer");
  t.like(JSON.parse(Buffer.from(rw.json.wrapped as string, "base64").toString("utf8")), { kv: 2 });
  for (const w of [g.json.wrapped, rw.json.wrapped]) {
    const u = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: w }, token);
    t.is(u.status, 200, JSON.stringify(u.json));
    t.deepEqual(await openJweWithTpm(swA, hostA.dir, u.json.key as string), key);
  }
});

test.serial("attestd reports the host red: its earlier token is refused (403 host-untrusted) as soon as the event arrives, long before it expires", async (t) => {
  const before = tokenOf(hostA);
  t.is((await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, before)).status, 201);
  // The same TPM attests with an event log that does not match its PCRs: attestd turns the host red.
  const red = await attestWithTools(attestd, swA, A, logA.subarray(0, logA.length - 40), dir);
  t.not(red.status, 0);
  t.regex(red.stderr, /attestation-failed/);
  const refused = await eventually("kmxd refuses the token", async () => {
    const r = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, before);
    return r.status === 403 ? r : undefined;
  });
  t.is(problemCode(refused), "host-untrusted");
  t.like(refused.json, { host: A, hostStatus: "red" });
  t.true(decodeJwt(before).exp! * 1000 > Date.now() + 60_000, "the token itself had minutes left");
  for (const route of ["unwrap", "encrypt", "decrypt", "rewrap"]) {
    const r = await kmxdCall("POST", `/api/v1/providers/kms-1/${route}`, { wrapped: "x", plaintext: "eA==", ciphertext: "x" }, before);
    t.is(problemCode(r), "host-untrusted", route);
  }
  // Audited: the host, the operation and the refusal.
  const audit = await admin("GET", `/api/v1/audit?host=${A}&limit=20`);
  t.true((audit.json.entries as { result: string }[]).some((e) => e.result === "host-untrusted"));

  // A kmxd that starts now learns the red from attestd's host list (the resync), without any event.
  const client = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "admin", password: attestd.password } });
  const watcher = createHostStatusWatcher({ client, clock: { now: Date.now } });
  try {
    await eventually("a new watcher connects", async () => (watcher.health().attestdEvents === "connected" ? true : undefined));
    t.like(watcher.check(A, decodeJwt(before).iat!), { ok: false, status: "red" });
    t.deepEqual(watcher.check(B, decodeJwt(tokenOf(hostB)).iat!), { ok: true });
  } finally {
    watcher.close();
    client.close();
  }

  // Green again with a new attestation: the new token works, the one from before the red stays refused.
  hostA = await attestWithTools(attestd, swA, A, logA, dir);
  t.is(hostA.status, 0, hostA.stderr);
  const after = await eventually("the new token is accepted", async () => {
    const r = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tokenOf(hostA));
    return r.status === 201 ? r : undefined;
  });
  t.is((await openJweWithTpm(swA, hostA.dir, after.json.key as string)).length, 32);
  t.is(problemCode(await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, before)), "host-untrusted");
});

test.serial("attestd rotates its signing key: a token under the new kid is accepted (kmxd refetches the JWKS once)", async (t) => {
  const oldKid = decodeProtectedHeader(tokenOf(hostA)).kid;
  const rotated = await attestd.call("POST", "/api/v1/signing-keys/rotate", {}, await attestd.adminToken());
  t.true(rotated.status === 200 || rotated.status === 201, JSON.stringify(rotated.json));
  hostA = await attestWithTools(attestd, swA, A, logA, dir);
  t.is(hostA.status, 0, hostA.stderr);
  t.not(decodeProtectedHeader(tokenOf(hostA)).kid, oldKid);
  const r = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tokenOf(hostA));
  t.is(r.status, 201, JSON.stringify(r.json));
});

test.serial("a host driven by libs/tss: the data key and the decrypted plaintext open with TPM2_RSA_Decrypt in its TPM", async (t) => {
  const h = await attestWithTss(attestd, swB, TSS, logB);
  const g = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", { bytes: 48 }, h.token);
  t.is(g.status, 201, JSON.stringify(g.json));
  const key = await openJweWithTss(swB, h.bindingKey, g.json.key as string);
  t.is(key.length, 48);
  const u = await kmxdCall("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: g.json.wrapped }, h.token);
  t.deepEqual(await openJweWithTss(swB, h.bindingKey, u.json.key as string), key);
  const e = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: Buffer.from("vTPM state key").toString("base64") }, h.token);
  const d = await kmxdCall("POST", "/api/v1/providers/kms-1/decrypt", { ciphertext: e.json.ciphertext }, h.token);
  t.is(Buffer.from(await openJweWithTss(swB, h.bindingKey, d.json.plaintext as string)).toString(), "vTPM state key");
  // The other host's TPM cannot.
  await t.throwsAsync(openJweWithTpm(swA, hostA.dir, g.json.key as string), { message: /tpm2_rsadecrypt failed/ });
});

test.serial("the key server down: 503 key-servers-unreachable naming the server tried; back up, kmxd serves again without a restart", async (t) => {
  const token = tokenOf(hostA);
  const port = kmipd.port;
  await kmipd.stop();
  const r = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token);
  t.is(r.status, 503, JSON.stringify(r.json));
  t.is(problemCode(r), "key-servers-unreachable");
  const servers = r.json.servers as string[];
  t.is(servers.length, 1);
  t.true(servers[0]!.startsWith(`127.0.0.1:${port}`), servers[0]);
  const audit = await admin("GET", `/api/v1/audit?host=${A}&limit=5`);
  t.is((audit.json.entries as { operation: string; result: string }[])[0]?.result, "key-servers-unreachable", "the failed generation is audited");
  kmipd = await startKmipd(kmipd.dataDir, port);
  const ok = await eventually("served again", async () => {
    const x = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, token);
    return x.status === 201 ? x : undefined;
  });
  t.is((await openJweWithTpm(swA, hostA.dir, ok.json.key as string)).length, 32);
});

test.serial("encrypt takes at most 32 KiB of plaintext", async (t) => {
  const token = tokenOf(hostA);
  const max = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: randomBytes(32 * 1024).toString("base64") }, token);
  t.is(max.status, 200, JSON.stringify(max.json));
  const over = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: randomBytes(32 * 1024 + 1).toString("base64") }, token);
  t.is(over.status, 400);
  t.is(problemCode(over), "bad-request");
});

test.serial("rate limits per host and per provider: 429 rate-limited with Retry-After (a node allowing one request per 100 s each)", async (t) => {
  const config = loadConfig(
    ["--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "kmxd-slow"), "--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--host-rate", "0.01", "--provider-rate", "0.01", "--log-level", "silent"],
    {},
  );
  const slow = await startKmxd(config, { logger: pino({ level: "silent" }) });
  try {
    const call = (provider: string, token: string) => httpsJson(`${slow.url}/api/v1/providers/${provider}/encrypt`, "POST", { ca: slow.caCert, body: { plaintext: "eA==" }, token });
    const create = await httpsJson(`${slow.url}/api/v1/providers`, "POST", {
      ca: slow.caCert,
      token: adminToken,
      body: { name: "kms-1", kmipServers: [`127.0.0.1:${kmipd.port}`], keyId: await kmipd.activeKey("kmxd-test-slow"), serverCa: kmipd.tls.ca, clientCertificate: kmipd.tls.cert, clientKey: kmipd.tls.key },
    });
    t.is(create.status, 201, JSON.stringify(create.json));
    t.is((await httpsJson(`${slow.url}/api/v1/providers/kms-1/grants`, "POST", { ca: slow.caCert, token: adminToken, body: { cluster: "default" } })).status, 201);
    const first = await call("kms-1", tokenOf(hostA));
    t.is(first.status, 200, JSON.stringify(first.json));
    const byProvider = await call("kms-1", tokenOf(hostNoBk));
    const byHost = await call("nope", tokenOf(hostA));
    for (const [r, what] of [
      [byProvider, /provider kms-1 is over/],
      [byHost, new RegExp(`host ${A} is over`)],
    ] as const) {
      t.is(r.status, 429);
      t.is(problemCode(r), "rate-limited");
      t.regex(String(r.json.detail), what);
      t.true(Number(r.headers["retry-after"]) >= 1, String(r.headers["retry-after"]));
    }
    // Without an attestd account the node cannot follow the events: degraded, and it says so.
    t.like((await httpsJson(`${slow.url}/api/v1/health`, "GET", { ca: slow.caCert })).json, { status: "degraded", attestdEvents: "disconnected" });
  } finally {
    await slow.close();
  }
});

test.serial("attestd down: health is degraded and tokens are bounded by their expiry only; back up, kmxd reconnects and resyncs", async (t) => {
  const port = attestd.port;
  await attestd.stop();
  const degraded = await eventually("health degraded", async () => {
    const r = await kmxdCall("GET", "/api/v1/health");
    return r.json.status === "degraded" ? r : undefined;
  });
  t.is(degraded.json.attestdEvents, "disconnected");
  // The JWKS is cached: a green host's token still works while attestd is away.
  const g = await kmxdCall("POST", "/api/v1/providers/kms-1/data-keys", {}, tokenOf(hostA));
  t.is(g.status, 201, JSON.stringify(g.json));
  attestd = await startAttestd(attestd.dataDir, port);
  await eventually("health ok again", async () => ((await kmxdCall("GET", "/api/v1/health")).json.status === "ok" ? true : undefined), 60_000);
  // Removing the host on attestd reaches kmxd as an event on the new stream.
  const removed = await attestd.call("DELETE", `/api/v1/hosts/${B}`, undefined, await attestd.adminToken());
  t.is(removed.status, 200, JSON.stringify(removed.json));
  const r = await eventually("the removed host is refused", async () => {
    const x = await kmxdCall("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: "eA==" }, tokenOf(hostB));
    return x.status === 403 ? x : undefined;
  });
  t.like(r.json, { hostStatus: "unknown" });
});
