/**
 * Issue #12's fleet faults, real components only: attestd, kmipd and kmxd as their own processes, swtpm hosts with
 * EK certificates booted by libs/boot, kmxa as `bin/kmxa` (or, where the test needs the token the agent holds,
 * `startKmxa` in this process — the same agent and local API). Proves:
 * - a host whose TPM is reached only through a pty bridged to swtpm (`device:` TCTI, as `/dev/tpmrm0`) is green
 *   at attestd with that TPM's EK and gets a data key through the agent's socket, opened in that TPM;
 * - a Trust Authority restarted in the middle (attestd killed with SIGKILL, kmxd stopped, both started again on
 *   their ports and data directories): the agents report `unreachable` (one asked, one by itself), re-attest by
 *   themselves once it is back, the wrapped keys made before unwrap to the same keys, and attestd's host history
 *   still has the attempts from before;
 * - a host whose token expires while red loses key access: its agent drops the token at the refusal (503
 *   not-attested); a kmxd that follows attestd's events refuses the token at once (403 host-untrusted), but a kmxd
 *   that cannot hear them (no attestd account) honours it — only until it expires, then 401 token-expired — and
 *   the host gets no new token;
 * - an agent that imported another Trust Authority's identity is green there and gets keys from that one's kmxd,
 *   but its token is refused by this Trust Authority's kmxd (401 token-invalid, directly and through the agent;
 *   no audit row, no key), while this Trust Authority's own host keeps getting keys from the same provider.
 * The tests run concurrently: the restart has its own Trust Authority; the others share TA-1 and TA-2 with hosts
 * (and, on TA-2, an image) of their own.
 */
import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki, withKernel, type HostImage } from "@tessera/boot";
import { startPtyBridge } from "@tessera/swtpm-testing";
import { decryptJweWith } from "@tessera/tokens";
import { pino } from "pino";
import {
  addGrantedProvider,
  claimsOf,
  Cleanup,
  type KmxaProcess,
  portOf,
  spkiFingerprint,
  stackDirs,
  startAttestdAt,
  startKmxaProcess,
  startKmxdAt,
  withFlag,
} from "./_fleet_test_support.ts";
import { bootedHost, eventually, httpsJson, kmxaArgs, problemCode, startStack, unixJson, type JsonAnswer, type Stack } from "./_stack_test_support.ts";
import { loadConfig } from "./config.ts";
import { startKmxa, type RunningKmxa } from "./server.ts";

const logger = pino({ level: "silent" });
const cleanup = new Cleanup();

let dir: string;
let manifest: HostImage;
/** TA-1: the Trust Authority whose provider `kms-1` the other cluster must not use. */
let ta1: Stack;
/** TA-2: another Trust Authority (its own CA, signing keys, kmxd with its own `kms-1`); its tokens live 30 s. */
let ta2: Stack;

const health = async (url: string, ca: string): Promise<JsonAnswer> => httpsJson(`${url}/api/v1/health`, "GET", ca);

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-fleet-"));
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [ta1, ta2] = await Promise.all([startStack(path.join(dir, "ta1")), startStack(path.join(dir, "ta2"))]);
  cleanup.add(ta1, (s) => s.stop());
  cleanup.add(ta2, (s) => s.stop());
  for (const s of [ta1, ta2]) {
    await s.acceptImage("tessera-host", manifest);
    await s.addProvider("kms-1");
    await s.kmxdAdmin("POST", "/api/v1/providers/kms-1/grants", { cluster: "default" });
  }
  // The shortest token life attestd takes: the expiry test waits for one to run out.
  const patched = await ta2.attestdAdmin("PATCH", "/api/v1/settings", { tokenLifetimeSeconds: 30 });
  if (patched.status !== 200) throw new Error(`settings: ${patched.status} ${JSON.stringify(patched.json)}`);
  for (const s of [ta1, ta2]) await eventually("kmxd follows attestd's events", async () => ((await health(s.kmxd.url, s.kmxd.ca)).json.status === "ok" ? true : undefined));
});

test.after.always(async () => {
  await cleanup.run();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const status = (socket: string): Promise<JsonAnswer> => unixJson(socket, "GET", "/api/v1/status");
const untilState = (socket: string, state: string, what: string, limitMs = 60_000): Promise<JsonAnswer> =>
  eventually(
    what,
    async () => {
      const r = await status(socket);
      return r.json.state === state ? r : undefined;
    },
    limitMs,
  );
const dataKey = (socket: string, provider: string): Promise<JsonAnswer> => unixJson(socket, "POST", `/api/v1/providers/${provider}/data-keys`, { body: {} });
const unwrap = (socket: string, provider: string, wrapped: unknown): Promise<JsonAnswer> => unixJson(socket, "POST", `/api/v1/providers/${provider}/unwrap`, { body: { wrapped } });
const hostAt = (s: Stack, host: string): Promise<JsonAnswer> => s.attestdAdmin("GET", `/api/v1/hosts/${host}`);
const startAgent = async (args: string[]): Promise<RunningKmxa> => cleanup.add(await startKmxa(loadConfig(args, {}), { logger }), (k) => k.close());
const startAgentProcess = async (args: string[]): Promise<KmxaProcess> => cleanup.add(await startKmxaProcess(args), (k) => k.proc.stop());

test("a host driven through the pty bridge behaves like /dev/tpmrm0: green at attestd, a data key through the socket opened in its TPM", async (t) => {
  const HOST = "pty.example.test";
  const host = cleanup.add(await bootedHost(manifest, path.join(dir, "pty-host")), (h) => h.sw.stop());
  await ta1.trustTpm(host.sw);
  t.is(host.sw.transport, "tcp");
  // From here on the TPM is reachable only through the pty: swtpm serves one data connection, which socat holds.
  const bridge = cleanup.add(await startPtyBridge("127.0.0.1", host.sw.port!), (b) => b.stop());
  t.is(bridge.tcti, `device:${bridge.path}`);
  const args = withFlag(kmxaArgs(ta1, host, HOST, path.join(dir, "kmxa-pty")), "--tcti", bridge.tcti);
  const kmxa = await startAgentProcess(args);

  const attested = await untilState(kmxa.socket, "attested", "the agent attested through the pty");
  const rsaEk = host.sw.ekCerts.find((c) => c.kind === "rsa2048");
  t.truthy(rsaEk, "swtpm made an RSA EK certificate");
  t.is(attested.json.ekFingerprint, spkiFingerprint(rsaEk!.der), "the agent used this swtpm's EK");
  const atAttestd = await hostAt(ta1, HOST);
  t.is(atAttestd.status, 200, JSON.stringify(atAttestd.json));
  t.is(atAttestd.json.status, "green", JSON.stringify(atAttestd.json));
  t.is((atAttestd.json.enrollment as { ekFingerprint: string }).ekFingerprint, attested.json.ekFingerprint as string);

  // kmxd sends the key as a JWE to the binding key; only this TPM can open it (TPM2_RSA_Decrypt through the pty).
  const g = await dataKey(kmxa.socket, "kms-1");
  t.is(g.status, 201, JSON.stringify(g.json));
  const key = Buffer.from(g.json.key as string, "base64");
  t.is(key.length, 32);
  const u = await unwrap(kmxa.socket, "kms-1", g.json.wrapped);
  t.is(u.status, 200, JSON.stringify(u.json));
  t.deepEqual(Buffer.from(u.json.key as string, "base64"), key);
  t.truthy(bridge.pid, "the bridge still runs: it carried every TPM command");
});

test("the Trust Authority restarted in the middle: agents report unreachable, re-attest by themselves, nothing lost", async (t) => {
  const R1 = "restart-1.example.test";
  const R2 = "restart-2.example.test";
  const sdir = path.join(dir, "ta-restart");
  const [stack, h1, h2] = await Promise.all([startStack(sdir), bootedHost(manifest, path.join(dir, "r1-host")), bootedHost(manifest, path.join(dir, "r2-host"))]);
  cleanup.add(stack, (s) => s.stop());
  cleanup.add(h1, (h) => h.sw.stop());
  cleanup.add(h2, (h) => h.sw.stop());
  await stack.trustTpm(h1.sw);
  await stack.trustTpm(h2.sw);
  await stack.acceptImage("tessera-host", manifest);
  await stack.addProvider("kms-r");
  await stack.kmxdAdmin("POST", "/api/v1/providers/kms-r/grants", { cluster: "default" });
  // The agents are configured with the Trust Authority's URLs: it must come back on the same ports.
  // r1 attests on its token's schedule (and on demand); r2 every 5 s, so it notices the outage by itself.
  const [a1, a2] = await Promise.all([
    startAgentProcess(kmxaArgs(stack, h1, R1, path.join(dir, "kmxa-r1"))),
    startAgentProcess([...kmxaArgs(stack, h2, R2, path.join(dir, "kmxa-r2")), "--interval", "5"]),
  ]);
  await untilState(a1.socket, "attested", "r1 attested");
  await untilState(a2.socket, "attested", "r2 attested");
  const made = new Map<KmxaProcess, JsonAnswer>();
  for (const a of [a1, a2]) {
    const g = await dataKey(a.socket, "kms-r");
    t.is(g.status, 201, JSON.stringify(g.json));
    made.set(a, g);
  }
  const attemptsBefore = new Map<string, string[]>();
  for (const h of [R1, R2]) {
    const d = await hostAt(stack, h);
    const ids = (d.json.history as { id: string }[]).map((x) => x.id);
    t.true(ids.length >= 1, `${h} has attempts`);
    attemptsBefore.set(h, ids);
  }

  const attestdPort = portOf(stack.attestd.url);
  const kmxdPort = portOf(stack.kmxd.url);
  // attestd killed outright (its database must hold what it acknowledged), kmxd stopped as systemd would.
  await Promise.all([stack.attestd.proc.stop("SIGKILL"), stack.kmxd.proc.stop("SIGTERM")]);
  t.is(stack.attestd.proc.child.signalCode, "SIGKILL");

  const asked = await unixJson(a1.socket, "POST", "/api/v1/attest");
  t.is(asked.status, 200, JSON.stringify(asked.json));
  t.is(asked.json.state, "unreachable", JSON.stringify(asked.json));
  t.truthy((asked.json.lastFailure as { code?: string } | undefined)?.code, "the agent says why");
  const noticed = await untilState(a2.socket, "unreachable", "r2 notices by itself that attestd is away");
  t.truthy(noticed.json.lastFailure);
  const keyWhileDown = await dataKey(a1.socket, "kms-r");
  t.is(keyWhileDown.status, 503, JSON.stringify(keyWhileDown.json));
  t.is(problemCode(keyWhileDown), "kmxd-unreachable");
  t.false("key" in keyWhileDown.json);

  const dirs = stackDirs(sdir);
  const attestd = cleanup.add(await startAttestdAt(dirs.attestd, attestdPort), (p) => p.stop());
  t.is(attestd.match[1], stack.attestd.url);
  const kmxd = cleanup.add(await startKmxdAt(stack, dirs.kmxd, kmxdPort, true), (k) => k.proc.stop());
  t.is(kmxd.url, stack.kmxd.url);

  // No POST /attest from here: the agents' own retries bring them back.
  await untilState(a1.socket, "attested", "r1 re-attests by itself", 120_000);
  await untilState(a2.socket, "attested", "r2 re-attests by itself", 120_000);
  for (const [a, g] of made) {
    const u = await unwrap(a.socket, "kms-r", g.json.wrapped);
    t.is(u.status, 200, JSON.stringify(u.json));
    t.is(u.json.key, g.json.key, "the key wrapped before the restart unwraps to the same key");
  }
  const fresh = await dataKey(a2.socket, "kms-r");
  t.is(fresh.status, 201, JSON.stringify(fresh.json));
  for (const h of [R1, R2]) {
    const d = await hostAt(stack, h);
    t.is(d.json.status, "green", JSON.stringify(d.json));
    const ids = (d.json.history as { id: string }[]).map((x) => x.id);
    for (const id of attemptsBefore.get(h)!) t.true(ids.includes(id), `${h}: attempt ${id} from before the restart is kept`);
    t.true(ids.length > attemptsBefore.get(h)!.length, `${h}: the attestation after the restart is recorded`);
  }
});

test("a host whose token expires while red loses key access: kmxd without attestd's events honours the token until it expires, no longer", async (t) => {
  const HOST = "expiry.example.test";
  // Its own kernel, accepted as its own image: withdrawing it turns only this host red.
  const image = withKernel(manifest, "e0".repeat(32));
  const host = cleanup.add(await bootedHost(image, path.join(dir, "expiry-host")), (h) => h.sw.stop());
  await ta2.trustTpm(host.sw);
  await ta2.acceptImage("expiry-host", image);
  // A kmxd with no attestd account: it checks tokens against attestd's keys but cannot follow its events.
  const blind = await startKmxdAt(ta2, path.join(dir, "kmxd-blind"), 0, false);
  cleanup.add(blind, (k) => k.proc.stop());
  const h = await health(blind.url, blind.ca);
  t.like(h.json, { status: "degraded", attestdEvents: "disconnected" });
  await addGrantedProvider(ta2, blind, "kms-b");
  const args = withFlag(kmxaArgs(ta2, host, HOST, path.join(dir, "kmxa-expiry"), blind.url), "--kmxd-ca", blind.caFile);
  const kmxa = await startAgent(args);
  const sock = kmxa.socketPath;
  await untilState(sock, "attested", "the host attested");
  const before = await dataKey(sock, "kms-b");
  t.is(before.status, 201, JSON.stringify(before.json));

  // The last token the host holds; from here on it plays a host that keeps it (the agent itself drops it).
  const { token } = await kmxa.agent.token();
  const claims = claimsOf(token);
  t.is(claims.sub, HOST);
  const direct = (k: { url: string; ca: string }, provider: string, op: string, body: unknown): Promise<JsonAnswer> =>
    httpsJson(`${k.url}/api/v1/providers/${provider}/${op}`, "POST", k.ca, { body, token });
  const open = async (jwe: unknown): Promise<Buffer> => Buffer.from(await decryptJweWith(jwe as string, (ek) => kmxa.agent.rsaDecrypt(ek)));

  // The host turns red: its image is withdrawn and it attests.
  t.is((await ta2.attestdAdmin("DELETE", "/api/v1/images/expiry-host")).status, 200);
  const refused = await unixJson(sock, "POST", "/api/v1/attest");
  t.is(refused.json.state, "refused", JSON.stringify(refused.json));
  t.is((await hostAt(ta2, HOST)).json.status, "red");
  t.is(refused.json.tokenExpiresAt, undefined, "the agent dropped its token");
  const viaAgent = await dataKey(sock, "kms-b");
  t.is(viaAgent.status, 503, JSON.stringify(viaAgent.json));
  t.is(problemCode(viaAgent), "not-attested");

  // The kmxd that follows events refuses the token at once (not the path under test: shown for contrast).
  const followed = await eventually("the following kmxd refuses the red host's token", async () => {
    const r = await direct(ta2.kmxd, "kms-1", "data-keys", {});
    return r.status === 201 ? undefined : r;
  });
  t.is(followed.status, 403, JSON.stringify(followed.json));
  t.is(problemCode(followed), "host-untrusted");
  t.is(followed.json.hostStatus, "red");

  // The blind kmxd has only the token's expiry: until then the red host's token still gets keys, opened in its TPM.
  const kept = await direct(blind, "kms-b", "data-keys", {});
  t.is(kept.status, 201, JSON.stringify(kept.json));
  t.is((await open(kept.json.key)).length, 32);
  const stillUnwraps = await direct(blind, "kms-b", "unwrap", { wrapped: before.json.wrapped });
  t.is(stillUnwraps.status, 200, JSON.stringify(stillUnwraps.json));
  t.deepEqual(await open(stillUnwraps.json.key), Buffer.from(before.json.key as string, "base64"));

  // Then it expires: refused for that reason, with no key.
  const expired = await eventually(
    "the blind kmxd refuses the token once it has expired",
    async () => {
      const r = await direct(blind, "kms-b", "unwrap", { wrapped: before.json.wrapped });
      return r.status === 200 ? undefined : r;
    },
    150_000,
    1000,
  );
  t.is(expired.status, 401, JSON.stringify(expired.json));
  t.is(problemCode(expired), "token-expired");
  t.regex(String(expired.headers["www-authenticate"]), /invalid_token/);
  t.false("key" in expired.json);
  t.true(Date.now() > (claims.exp as number) * 1000, "refused only after the token's expiry");

  // And the host gets no new token while red.
  const again = await unixJson(sock, "POST", "/api/v1/attest");
  t.is(again.json.state, "refused", JSON.stringify(again.json));
  t.is(again.json.tokenExpiresAt, undefined);
  const still = await dataKey(sock, "kms-b");
  t.is(still.status, 503, JSON.stringify(still.json));
  t.is(problemCode(still), "not-attested");
});

test("a second trusted cluster whose agents imported another Trust Authority cannot use this one's provider", async (t) => {
  const OURS = "ta1-host.example.test";
  const THEIRS = "ta2-host.example.test";
  const [ours, theirs] = await Promise.all([bootedHost(manifest, path.join(dir, "ta1-host")), bootedHost(manifest, path.join(dir, "ta2-host"))]);
  cleanup.add(ours, (h) => h.sw.stop());
  cleanup.add(theirs, (h) => h.sw.stop());
  await ta1.trustTpm(ours.sw);
  // Only TA-2 trusts the other host's TPM.
  await ta2.trustTpm(theirs.sw);

  const our = await startAgent(kmxaArgs(ta1, ours, OURS, path.join(dir, "kmxa-ta1")));
  await untilState(our.socketPath, "attested", "TA-1's host attested");
  const ourKey = await dataKey(our.socketPath, "kms-1");
  t.is(ourKey.status, 201, JSON.stringify(ourKey.json));

  // The other host's agent is given TA-1 on its command line, then imports TA-2's identity (tactl cluster
  // import-ta-identity's request): it is TA-2's host from then on.
  const their = await startAgent(kmxaArgs(ta1, theirs, THEIRS, path.join(dir, "kmxa-ta2")));
  const identity = await ta2.attestdAdmin("GET", "/api/v1/identity");
  t.is(identity.status, 200, JSON.stringify(identity.json));
  t.is(identity.json.attestationService, ta2.attestd.url);
  const ta2Identity = {
    attestd: { url: identity.json.attestationService, ca: identity.json.tlsCa },
    kmxd: { url: ta2.kmxd.url, ca: ta2.kmxd.ca },
    cluster: identity.json.cluster,
  };
  const imported = await unixJson(their.socketPath, "PUT", "/api/v1/ta-identity", { body: ta2Identity });
  t.is(imported.status, 200, JSON.stringify(imported.json));
  t.is((imported.json.status as { state: string }).state, "attested", JSON.stringify(imported.json));
  t.is((await hostAt(ta2, THEIRS)).json.status, "green");
  t.not((await hostAt(ta1, THEIRS)).json.status, "green", "TA-1 never trusted it");
  // Its token is good where it belongs: TA-2's kms-1 gives it keys.
  const theirKey = await dataKey(their.socketPath, "kms-1");
  t.is(theirKey.status, 201, JSON.stringify(theirKey.json));

  // Its token at TA-1's kmxd: refused, no key, nothing audited under its name.
  const { token } = await their.agent.token();
  t.is(claimsOf(token).iss, ta2.attestd.url);
  const toTa1 = (op: string, body: unknown): Promise<JsonAnswer> => httpsJson(`${ta1.kmxd.url}/api/v1/providers/kms-1/${op}`, "POST", ta1.kmxd.ca, { body, token });
  for (const [op, body] of [
    ["data-keys", {}],
    ["unwrap", { wrapped: ourKey.json.wrapped }],
  ] as const) {
    const r = await toTa1(op, body);
    t.is(r.status, 401, `${op}: ${JSON.stringify(r.json)}`);
    t.is(problemCode(r), "token-invalid", op);
    t.false("key" in r.json || "wrapped" in r.json, op);
  }

  // The same through its agent, told to use TA-1's kmxd with TA-2's attestd.
  const mixed = await unixJson(their.socketPath, "PUT", "/api/v1/ta-identity", { body: { ...ta2Identity, kmxd: { url: ta1.kmxd.url, ca: ta1.kmxd.ca } } });
  t.is((mixed.json.status as { state: string }).state, "attested", JSON.stringify(mixed.json));
  const viaAgent = await dataKey(their.socketPath, "kms-1");
  t.is(viaAgent.status, 401, JSON.stringify(viaAgent.json));
  t.is(problemCode(viaAgent), "token-invalid");
  t.is(viaAgent.json.source, "kmxd");
  t.false("key" in viaAgent.json);

  // TA-1's own host keeps getting keys from the same provider.
  const ourNext = await dataKey(our.socketPath, "kms-1");
  t.is(ourNext.status, 201, JSON.stringify(ourNext.json));
  const ourBack = await unwrap(our.socketPath, "kms-1", ourKey.json.wrapped);
  t.is(ourBack.json.key, ourKey.json.key);
  // The audit trail: TA-1's host's operations are there (the query finds what was released), TA-2's host has none.
  const auditOf = async (host: string): Promise<{ operation: string; result: string }[]> =>
    (await ta1.kmxdAdmin("GET", `/api/v1/audit?host=${host}&limit=1000`)).json.entries as { operation: string; result: string }[];
  t.true((await auditOf(OURS)).some((e) => e.result === "ok"), "TA-1's host's keys are audited");
  t.deepEqual(await auditOf(THEIRS), [], "TA-1's kmxd released nothing to TA-2's host");
});
