/**
 * kmxa's local API end to end, real components only: attestd, kmipd and kmxd as their own processes, swtpm hosts
 * booted by libs/boot, and kmxa (startKmxa: the agent core attesting through the TPM, the socket and the TCP port).
 * Proves: a data key fetched over the Unix socket equals the key unwrapped again from its wrapped form (and
 * encrypt/decrypt, rewrap round-trip); the key routes answer 403 `socket-only` on the TCP port; the socket file is
 * 0600; kmxd's refusals reach the caller with kmxd's status and code — unknown provider, provider not granted,
 * malformed wrapped form, a host attestd removed (403 host-untrusted) and a host attestd turned red while the agent
 * still held its token (another TPM enrolled under its name and failed: 403 host-untrusted, hostStatus red); a host
 * the agent itself finds refused gets 503 `not-attested` with attestd's failures (the agent drops its token then, so
 * kmxd is not asked); kmxd down is 503 `kmxd-unreachable`; status, attest and identity answer on both channels.
 * Serial: the tests share the Trust Authority and the TPMs.
 */
import test from "ava";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki, withKernel, type HostImage } from "@tessera/boot";
import fc from "fast-check";
import { pino } from "pino";
import {
  bootedHost,
  eventually,
  httpsJson,
  kmxaArgs,
  problemCode,
  startStack,
  unixJson,
  type BootedHost,
  type JsonAnswer,
  type Stack,
} from "./_stack_test_support.ts";
import { loadConfig } from "./config.ts";
import { SOCKET_MODE, startKmxa, type RunningKmxa } from "./server.ts";

const GREEN = "green.example.test";
const RED = "red.example.test";

let dir: string;
let manifest: HostImage;
let stack: Stack;
let green: BootedHost;
let red: BootedHost;
let kmxa: RunningKmxa;
let redKmxa: RunningKmxa;

const logger = pino({ level: "silent" });

const sock = (method: string, p: string, body?: unknown): Promise<JsonAnswer> => unixJson(kmxa.socketPath, method, p, body === undefined ? {} : { body });
const tcp = (method: string, p: string, body?: unknown): Promise<JsonAnswer> =>
  httpsJson(kmxa.url + p, method, kmxa.caCert, body === undefined ? {} : { body });

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-api-"));
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  // The red host boots a kernel that no accepted image has.
  [stack, green, red] = await Promise.all([
    startStack(dir),
    bootedHost(manifest, path.join(dir, "green-host")),
    bootedHost(withKernel(manifest, "5eed".repeat(16)), path.join(dir, "red-host")),
  ]);
  await stack.trustTpm(green.sw);
  await stack.trustTpm(red.sw);
  await stack.acceptImage("tessera-host", manifest);
  await stack.addProvider("kms-1");
  await stack.addProvider("kms-2");
  await stack.kmxdAdmin("POST", "/api/v1/providers/kms-1/grants", { cluster: "default" });
  await eventually("kmxd follows attestd's events", async () =>
    (await httpsJson(`${stack.kmxd.url}/api/v1/health`, "GET", stack.kmxd.ca)).json.status === "ok" ? true : undefined,
  );
  [kmxa, redKmxa] = await Promise.all([
    startKmxa(loadConfig(kmxaArgs(stack, green, GREEN, path.join(dir, "kmxa-green")), {}), { logger }),
    startKmxa(loadConfig(kmxaArgs(stack, red, RED, path.join(dir, "kmxa-red")), {}), { logger }),
  ]);
  await eventually("the green host attested", async () => (kmxa.agent.status().state === "attested" ? true : undefined), 60_000);
  await eventually("the red host refused", async () => (redKmxa.agent.status().state === "refused" ? true : undefined), 60_000);
});

test.after.always(async () => {
  await kmxa?.close();
  await redKmxa?.close();
  await stack?.stop();
  await green?.sw.stop();
  await red?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("the socket file is a socket with mode 0600, in the data directory by default", async (t) => {
  t.is(kmxa.socketPath, path.join(dir, "kmxa-green", "kmxa.sock"));
  const st = await lstat(kmxa.socketPath);
  t.true(st.isSocket());
  t.is(st.mode & 0o777, SOCKET_MODE);
  t.is(SOCKET_MODE, 0o600);
  t.is(st.uid, process.getuid!());
});

test.serial("status answers on the socket and on the TCP port: attested, with the token's expiry and the EK fingerprint", async (t) => {
  for (const r of [await sock("GET", "/api/v1/status"), await tcp("GET", "/api/v1/status")]) {
    t.is(r.status, 200, JSON.stringify(r.json));
    t.is(r.json.host, GREEN);
    t.is(r.json.state, "attested");
    t.true(Date.parse(r.json.tokenExpiresAt as string) > Date.now());
    t.true(Date.parse(r.json.since as string) <= Date.now());
    t.regex(r.json.ekFingerprint as string, /^[0-9a-f]{64}$/);
    t.is(r.headers["cache-control"], "no-store");
  }
});

test.serial("attest on demand answers the status it ended in", async (t) => {
  const before = kmxa.agent.status().lastAttempt ?? 0;
  const r = await tcp("POST", "/api/v1/attest");
  t.is(r.status, 200, JSON.stringify(r.json));
  t.is(r.json.state, "attested");
  t.true(Date.parse(r.json.lastAttempt as string) >= before);
});

test.serial(
  "identity: the EK certificate (PEM) whose key has the EK fingerprint, its issuer, the TPM's maker, the event log and the image it measures",
  async (t) => {
    const r = await tcp("GET", "/api/v1/identity");
    t.is(r.status, 200, JSON.stringify(r.json));
    const id = r.json as Record<string, unknown> & {
      ekFingerprint: string;
      caChain: { subject: string; issuer: string }[];
      tpm: Record<string, string>;
      image?: Record<string, unknown>;
    };
    t.is(id.host, GREEN);
    const cert = new X509Certificate(id.ekCertificate as string);
    const spki = cert.publicKey.export({ type: "spki", format: "der" });
    t.is(createHash("sha256").update(spki).digest("hex"), id.ekFingerprint);
    t.is(kmxa.agent.status().ekFingerprint, id.ekFingerprint);
    t.deepEqual(Buffer.from((id.ekPublicKey as string).replace(/-----[^-]+-----|\s/g, ""), "base64"), spki);
    const issuerCn = /CN=([^\n]+)/.exec(cert.issuer)?.[1] ?? "";
    t.true(issuerCn.length > 0 && (id.caChain[0]?.issuer ?? "").includes(issuerCn), `the EK certificate's issuer is named: ${JSON.stringify(id.caChain)}`);
    // swtpm: IBM's simulator code, its firmware version in four fields.
    t.is(id.tpm.manufacturer, "IBM");
    t.regex(id.tpm.firmware ?? "", /^\d+\.\d+\.\d+\.\d+$/);
    t.is(typeof id.tpm.model, "string");
    t.deepEqual(Buffer.from(id.eventLog as string, "base64"), Buffer.from(await readFile(green.logFile)));
    t.is(id.eventLogPath, green.logFile);
    t.truthy(id.image, String(id.imageError));
    t.like(id.image, { name: GREEN, version: "measured" });
    // Named as asked.
    const named = await sock("GET", "/api/v1/identity?name=tessera-host&version=2");
    t.like(named.json.image, { name: "tessera-host", version: "2" });
    // The log made into an image is accepted by attestd as the administrator would import it.
    const added = await stack.attestdAdmin("POST", "/api/v1/images", { name: "from-agent", version: "1", eventLog: id.eventLog });
    t.is(added.status, 201, JSON.stringify(added.json));
  },
);

test.serial("a data key fetched over the socket equals the key unwrapped again from its wrapped form", async (t) => {
  const g = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
  t.is(g.status, 201, JSON.stringify(g.json));
  t.is(g.headers["cache-control"], "no-store");
  const key = Buffer.from(g.json.key as string, "base64");
  t.is(key.length, 32);
  const wrapped = g.json.wrapped as string;
  t.like(JSON.parse(Buffer.from(wrapped, "base64").toString("utf8")), { v: 1, provider: "kms-1", kv: 1 });
  t.false(Buffer.from(wrapped, "base64").includes(key), "the wrapped form does not hold the key in the clear");
  const u = await sock("POST", "/api/v1/providers/kms-1/unwrap", { wrapped });
  t.is(u.status, 200, JSON.stringify(u.json));
  t.deepEqual(Buffer.from(u.json.key as string, "base64"), key);
  // Another key is another key; sizes as asked.
  const g48 = await sock("POST", "/api/v1/providers/kms-1/data-keys", { bytes: 48 });
  const k48 = Buffer.from(g48.json.key as string, "base64");
  t.is(k48.length, 48);
  t.notDeepEqual(k48.subarray(0, 32), key);
  const u48 = await sock("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: g48.json.wrapped });
  t.deepEqual(Buffer.from(u48.json.key as string, "base64"), k48);
  // The key was never written under the agent's data directory.
  const files = await listFiles(path.join(dir, "kmxa-green"));
  for (const f of files) t.false((await readFile(f).catch(() => Buffer.alloc(0))).includes(key), `${f} does not hold the key`);
});

test.serial("encrypt / decrypt and rewrap round-trip over the socket", async (t) => {
  const secret = randomBytes(300);
  const e = await sock("POST", "/api/v1/providers/kms-1/encrypt", { plaintext: secret.toString("base64") });
  t.is(e.status, 200, JSON.stringify(e.json));
  const d = await sock("POST", "/api/v1/providers/kms-1/decrypt", { ciphertext: e.json.ciphertext });
  t.is(d.status, 200, JSON.stringify(d.json));
  t.deepEqual(Buffer.from(d.json.plaintext as string, "base64"), secret);
  const g = await sock("POST", "/api/v1/providers/kms-1/data-keys", { bytes: 16 });
  const rw = await sock("POST", "/api/v1/providers/kms-1/rewrap", { wrapped: g.json.wrapped });
  t.is(rw.status, 200, JSON.stringify(rw.json));
  t.false("key" in rw.json);
  const u = await sock("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: rw.json.wrapped });
  t.is(u.json.key, g.json.key);
});

test.serial("concurrent key requests over the socket all get their keys (the TPM taken in turn)", async (t) => {
  const made = await Promise.all(Array.from({ length: 6 }, () => sock("POST", "/api/v1/providers/kms-1/data-keys", {})));
  for (const g of made) t.is(g.status, 201, JSON.stringify(g.json));
  const back = await Promise.all(made.map((g) => sock("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: g.json.wrapped })));
  t.deepEqual(
    back.map((u) => u.json.key),
    made.map((g) => g.json.key),
  );
  t.is(new Set(made.map((g) => g.json.key)).size, made.length);
});

test.serial("every key route answers 403 socket-only on the TCP port, and kmxd is not asked", async (t) => {
  const g = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
  const audited = async (): Promise<number> => ((await stack.kmxdAdmin("GET", `/api/v1/audit?host=${GREEN}&limit=1000`)).json.entries as unknown[]).length;
  const before = await audited();
  const bodies: [string, unknown][] = [
    ["data-keys", {}],
    ["unwrap", { wrapped: g.json.wrapped }],
    ["encrypt", { plaintext: "AAAA" }],
    ["decrypt", { ciphertext: g.json.wrapped }],
    ["rewrap", { wrapped: g.json.wrapped }],
  ];
  for (const [op, body] of bodies) {
    const r = await tcp("POST", `/api/v1/providers/kms-1/${op}`, body);
    t.is(r.status, 403, op);
    t.is(problemCode(r), "socket-only", op);
    t.false("key" in r.json || "plaintext" in r.json || "wrapped" in r.json, op);
  }
  t.is((await tcp("GET", "/api/v1/providers/kms-1/unwrap")).status, 403);
  t.is(await audited(), before, "no key operation reached kmxd");
});

test.serial("kmxd's refusals reach the caller with kmxd's status and code", async (t) => {
  const unknown = await sock("POST", "/api/v1/providers/kms-9/data-keys", {});
  t.is(unknown.status, 404);
  t.is(problemCode(unknown), "provider-unknown");
  t.is(unknown.json.source, "kmxd");
  const notGranted = await sock("POST", "/api/v1/providers/kms-2/data-keys", {});
  t.is(notGranted.status, 403);
  t.is(problemCode(notGranted), "provider-not-allowed");
  const malformed = await sock("POST", "/api/v1/providers/kms-1/unwrap", { wrapped: Buffer.from("{}").toString("base64") });
  t.is(malformed.status, 400);
  t.is(problemCode(malformed), "wrapped-malformed");
  t.is(malformed.json.source, "kmxd");
});

test.serial("bad requests are refused by kmxa before kmxd is asked", async (t) => {
  const cases: [string, unknown, string][] = [
    ["/api/v1/providers/kms-1/data-keys", { bytes: 65 }, "bad-request"],
    ["/api/v1/providers/kms-1/data-keys", { bytes: 32, extra: 1 }, "bad-request"],
    ["/api/v1/providers/kms-1/encrypt", { plaintext: "not base64!" }, "bad-request"],
    ["/api/v1/providers/kms-1/unwrap", { wrapped: "" }, "bad-request"],
    ["/api/v1/providers/-bad/unwrap", { wrapped: "AAAA" }, "bad-request"],
  ];
  for (const [p, body, code] of cases) {
    const r = await sock("POST", p, body);
    t.is(r.status, 400, `${p} ${JSON.stringify(body)}`);
    t.is(problemCode(r), code);
    t.is(r.json.source, undefined, "kmxa's own refusal");
  }
  const untyped = await unixJson(kmxa.socketPath, "POST", "/api/v1/providers/kms-1/data-keys", { raw: "{}", contentType: "text/plain" });
  t.is(untyped.status, 415);
});

test.serial("hostile bodies on the socket's key routes are problems, never a 500", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom("data-keys", "unwrap", "encrypt", "decrypt", "rewrap"), fc.oneof(fc.json(), fc.string()), async (op, raw) => {
      const r = await unixJson(kmxa.socketPath, "POST", `/api/v1/providers/kms-1/${op}`, { raw });
      return r.status < 500 && String(r.json.type).startsWith("urn:tessera:problem:") === r.status >= 400;
    }),
    { numRuns: 40 },
  );
  t.pass();
});

test.serial("a host attestd refused gets 503 not-attested with attestd's failures, on key requests only", async (t) => {
  const s = await unixJson(redKmxa.socketPath, "GET", "/api/v1/status");
  t.is(s.json.state, "refused");
  const r = await unixJson(redKmxa.socketPath, "POST", "/api/v1/providers/kms-1/data-keys", { body: {} });
  t.is(r.status, 503, JSON.stringify(r.json));
  t.is(problemCode(r), "not-attested");
  const failure = r.json.failure as { code: string; failures?: { check: string }[] };
  t.is(failure.code, "attestation-failed");
  t.true(
    failure.failures?.some((f) => f.check === "image-unknown"),
    JSON.stringify(failure),
  );
  t.false("key" in r.json);
});

test.serial(
  "a host the agent finds refused (its image withdrawn): 503 not-attested with attestd's failures, no kmxd call; keys again once the image is back",
  async (t) => {
    for (const name of ["tessera-host", "from-agent"]) t.is((await stack.attestdAdmin("DELETE", `/api/v1/images/${name}`)).status, 200, name);
    const refused = await tcp("POST", "/api/v1/attest");
    t.is(refused.json.state, "refused", JSON.stringify(refused.json));
    const r = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
    t.is(r.status, 503, JSON.stringify(r.json));
    t.is(problemCode(r), "not-attested");
    t.true(
      (r.json.failure as { failures?: { check: string }[] }).failures?.some((f) => f.check === "image-unknown"),
      JSON.stringify(r.json),
    );
    t.false("key" in r.json);
    await stack.acceptImage("tessera-host", manifest);
    const again = await tcp("POST", "/api/v1/attest");
    t.is(again.json.state, "attested", JSON.stringify(again.json));
    // kmxd learns the host is green again from attestd's event stream; until that event arrives it may still refuse
    // a token issued within a second of the red (iat has whole seconds: it cannot tell which came first).
    const g = await eventually("kmxd releases keys to the green host again", async () => {
      const a = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
      return a.status === 403 && problemCode(a) === "host-untrusted" ? undefined : a;
    });
    t.is(g.status, 201, JSON.stringify(g.json));
  },
);

test.serial("a host attestd stopped trusting: kmxd's 403 host-untrusted reaches the caller through the agent", async (t) => {
  // attestd removes the host: kmxd refuses the agent's token at once (the event), before it expires.
  const removed = await stack.attestdAdmin("DELETE", `/api/v1/hosts/${GREEN}`);
  t.is(removed.status, 200, JSON.stringify(removed.json));
  const r = await eventually("kmxd refuses the removed host", async () => {
    const a = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
    return a.status === 201 || a.status === 429 ? undefined : a;
  });
  t.is(r.status, 403, JSON.stringify(r.json));
  t.is(problemCode(r), "host-untrusted");
  t.is(r.json.source, "kmxd");
  t.false("key" in r.json);
});

test.serial("a host attestd turned red behind the agent's back: kmxd's 403 host-untrusted (red) reaches the caller", async (t) => {
  // Another TPM, booted with the unaccepted kernel, enrolls under the green host's name and attests: attestd turns
  // the name red (the evidence is signed by the AK now enrolled for it) while the green agent still holds its token.
  await redKmxa.close();
  const impostor = await startKmxa(loadConfig(kmxaArgs(stack, red, GREEN, path.join(dir, "kmxa-impostor")), {}), { logger });
  try {
    await eventually("the impostor refused", async () => (impostor.agent.status().state === "refused" ? true : undefined), 60_000);
  } finally {
    await impostor.close();
  }
  t.is(kmxa.agent.status().state, "attested", "the green agent has not noticed");
  const r = await eventually("kmxd refuses the red host", async () => {
    const a = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
    return a.status === 201 || a.status === 429 ? undefined : a;
  });
  t.is(r.status, 403, JSON.stringify(r.json));
  t.is(problemCode(r), "host-untrusted");
  t.is(r.json.hostStatus, "red");
  t.is(r.json.source, "kmxd");
  t.false("key" in r.json);
});

test.serial("kmxd down: 503 kmxd-unreachable (and status still answers)", async (t) => {
  await stack.kmxd.proc.stop();
  const r = await sock("POST", "/api/v1/providers/kms-1/data-keys", {});
  t.is(r.status, 503, JSON.stringify(r.json));
  t.is(problemCode(r), "kmxd-unreachable");
  t.is((await sock("GET", "/api/v1/status")).status, 200);
});

test.serial("close removes the socket file", async (t) => {
  await kmxa.close();
  await t.throwsAsync(lstat(kmxa.socketPath), { code: "ENOENT" });
});

async function listFiles(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
