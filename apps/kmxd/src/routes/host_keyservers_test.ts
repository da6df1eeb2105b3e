/**
 * The host API against the key servers a provider may have, every component real and in its own process: attestd
 * (`apps/attestd/bin/attestd`), a swtpm host booted by libs/boot that attests with tpm2-tools and curl
 * (host_protocol.sh, TPM-resident binding key), kmxd (`apps/kmxd/bin/kmxd`), and as key servers
 * - two kmipd nodes (`apps/kmipd/src/main.ts`) on one PostgreSQL database with one master key file and one set of
 *   TLS material, so both hold the provider's primary key: one stopped, the other serves; both stopped, 503
 *   naming each server tried; one back, served again, all without restarting kmxd;
 * - the PyKMIP server holding the primary key of another provider.
 * Every secret is opened by the host's TPM with `tpm2_rsadecrypt -s oaep`. Serial: the tests share the TPM.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { createProviderClient } from "@tessera/key-provider";
import { startPostgres, type PostgresCluster } from "@tessera/postgres-testing";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { startPykmipServer, type PykmipServer } from "@tessera/pykmip-testing";
import type { SwtpmInstance } from "@tessera/swtpm-testing";
import { decodeProtectedHeader } from "jose";
import { call, startKmxdProcess, type Answer, type KmxdProc } from "../_admin_test_support.ts";
import { attestWithTools, bootedSwtpm, eventually, openJweWithTpm, prepareAttestd, ROOT, startAttestd, type Attestd, type HostRun } from "../_host_test_support.ts";

const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");
const HOST = "ks.example.test";

let dir: string;
let attestd: Attestd;
let pg: PostgresCluster;
let py: PykmipServer;
let sw: SwtpmInstance;
let host: HostRun;
let kmxd: KmxdProc;
let adminToken: string;
/** The flags both kmipd nodes share: one database, one master key, one TLS identity (set once node A made it). */
let kmipdShared: string[];
/** The two kmipd nodes, by name, and the port each keeps across restarts. */
const kmipds = new Map<"a" | "b", { proc: ReadyProcess; port: number }>();
/** The TLS material kmipd node A generated; node B is given the same files. */
let kmipTls: { ca: string; cert: string; key: string };

/** Starts kmipd node `name` on `port` (0: any) with the shared flags, and waits for its ready line. */
async function startKmipdNode(name: "a" | "b", port: number): Promise<void> {
  const proc = await spawnReady(
    `kmipd ${name}`,
    process.execPath,
    [KMIPD, "--listen", `127.0.0.1:${port}`, "--data-dir", path.join(dir, `kmipd-${name}`), "--threads", "1", "--log-level", "warn", ...kmipdShared],
    /kmipd: listening on [^\s]+:(\d+)/,
  );
  kmipds.set(name, { proc, port: Number(proc.match[1]) });
}

/** kmipd node `name`'s `HOST:PORT`. */
const kmipServer = (name: "a" | "b"): string => `127.0.0.1:${kmipds.get(name)!.port}`;

const hostCall = (p: string, body: unknown): Promise<Answer> => call(kmxd.url, kmxd.ca, "POST", p, { token: host.answer!.token, body });

async function admin(method: string, p: string, body?: unknown): Promise<Answer> {
  const r = await call(kmxd.url, kmxd.ca, method, p, { token: adminToken, ...(body === undefined ? {} : { body }) });
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

const problemCode = (r: Answer): string => String(r.body?.type).replace("urn:tessera:problem:", "");

/** The wrapped form's JSON (it names the provider, the key version and the mode). */
const wrappedForm = (wrapped: string): Record<string, unknown> => JSON.parse(Buffer.from(wrapped, "base64").toString("utf8")) as Record<string, unknown>;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxd-keyservers-"));
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  let booted: { sw: SwtpmInstance; log: Uint8Array };
  [attestd, pg, py, booted] = await Promise.all([
    startAttestd(path.join(dir, "attestd")),
    startPostgres(),
    startPykmipServer({ loggingLevel: "ERROR" }),
    bootedSwtpm(manifest),
  ]);
  sw = booted.sw;
  await prepareAttestd(attestd, sw, manifest);

  // Node A makes the master key and the TLS material; node B is started with the same files.
  kmipdShared = ["--database", await pg.createDatabase("kmipd_shared"), "--master-key-file", path.join(dir, "kmipd-master.key")];
  await startKmipdNode("a", 0);
  const tlsDir = path.join(dir, "kmipd-a", "tls");
  kmipdShared.push("--tls-cert", path.join(tlsDir, "server.pem"), "--tls-key", path.join(tlsDir, "server-key.pem"), "--client-ca", path.join(tlsDir, "ca.pem"));
  const read = (f: string): Promise<string> => readFile(path.join(tlsDir, f), "utf8");
  kmipTls = { ca: await read("ca.pem"), cert: await read("client.pem"), key: await read("client-key.pem") };

  const passwordFile = path.join(dir, "attestd.password");
  await writeFile(passwordFile, `${attestd.password}\n`, { mode: 0o600 });
  [, host, kmxd] = await Promise.all([
    startKmipdNode("b", 0),
    attestWithTools(attestd, sw, HOST, booted.log, dir),
    startKmxdProcess(["--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--attestd-user", "admin", "--attestd-password-file", passwordFile], path.join(dir, "kmxd")),
  ]);
  if (host.status !== 0) throw new Error(`the host did not attest: ${host.stderr}`);
  adminToken = await attestd.adminToken();
});

test.after.always(async () => {
  await kmxd?.stop();
  for (const { proc } of kmipds.values()) await proc.stop();
  await py?.stop();
  await attestd?.stop();
  await sw?.stop();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("failover between two key servers when one is stopped: the next one serves, none left is 503 naming both, one back serves again (no kmxd restart)", async (t) => {
  // The primary key is made through node A; node B holds it through the shared database.
  const client = createProviderClient({ servers: [{ host: "127.0.0.1", port: kmipds.get("a")!.port }], tls: kmipTls });
  let keyId: string;
  try {
    keyId = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt MACGenerate MACVerify", name: "kmxd-test-ha" });
    await client.activate(keyId);
  } finally {
    client.close();
  }
  const [a, b] = [kmipServer("a"), kmipServer("b")];
  await admin("POST", "/api/v1/providers", { name: "kms-ha", kmipServers: [a, b], keyId, serverCa: kmipTls.ca, clientCertificate: kmipTls.cert, clientKey: kmipTls.key });
  await admin("POST", "/api/v1/providers/kms-ha/grants", { cluster: "default" });

  const first = await hostCall("/api/v1/providers/kms-ha/data-keys", {});
  t.is(first.status, 201, JSON.stringify(first.body));
  const key = await openJweWithTpm(sw, host.dir, first.body.key as string);
  t.is(key.length, 32);

  // Node A killed (no drain, its connections in kmxd's pool cut): node B serves, on the first call.
  await kmipds.get("a")!.proc.stop("SIGKILL");
  const u = await hostCall("/api/v1/providers/kms-ha/unwrap", { wrapped: first.body.wrapped });
  t.is(u.status, 200, JSON.stringify(u.body));
  t.deepEqual(await openJweWithTpm(sw, host.dir, u.body.key as string), key, "the same key, unwrapped through node B");
  const second = await hostCall("/api/v1/providers/kms-ha/data-keys", {});
  t.is(second.status, 201, JSON.stringify(second.body));
  const key2 = await openJweWithTpm(sw, host.dir, second.body.key as string);
  t.is(key2.length, 32);
  t.notDeepEqual(key2, key);

  // Both killed: 503 naming each server tried, in order, for a generation and an unwrap alike.
  await kmipds.get("b")!.proc.stop("SIGKILL");
  for (const [route, body] of [
    ["data-keys", {}],
    ["unwrap", { wrapped: first.body.wrapped }],
  ] as const) {
    const r = await hostCall(`/api/v1/providers/kms-ha/${route}`, body);
    t.is(r.status, 503, `${route}: ${JSON.stringify(r.body)}`);
    t.is(problemCode(r), "key-servers-unreachable", route);
    const servers = r.body.servers as string[];
    t.is(servers.length, 2, JSON.stringify(servers));
    t.true(servers[0]!.startsWith(`${a}:`), servers[0]);
    t.true(servers[1]!.startsWith(`${b}:`), servers[1]);
  }

  // Node B back on its port: kmxd serves again, both keys unwrap to what the host had, and a new one is made.
  await startKmipdNode("b", kmipds.get("b")!.port);
  const again = await eventually("served again through node B", async () => {
    const r = await hostCall("/api/v1/providers/kms-ha/unwrap", { wrapped: first.body.wrapped });
    return r.status === 200 ? r : undefined;
  });
  t.deepEqual(await openJweWithTpm(sw, host.dir, again.body.key as string), key);
  const u2 = await hostCall("/api/v1/providers/kms-ha/unwrap", { wrapped: second.body.wrapped });
  t.is(u2.status, 200, JSON.stringify(u2.body));
  t.deepEqual(await openJweWithTpm(sw, host.dir, u2.body.key as string), key2);
  const third = await hostCall("/api/v1/providers/kms-ha/data-keys", {});
  t.is(third.status, 201, JSON.stringify(third.body));
  t.is((await openJweWithTpm(sw, host.dir, third.body.key as string)).length, 32);
});

test.serial("against the PyKMIP server: an attested host generates and unwraps a data key and round-trips encrypt/decrypt, each secret opened by its TPM", async (t) => {
  const tls = { cert: py.pki.clients.alice.certPem, key: py.pki.clients.alice.keyPem, ca: py.pki.ca.certPem };
  const client = createProviderClient({ servers: [{ host: "127.0.0.1", port: py.port }], tls });
  let keyId: string;
  try {
    keyId = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt MACGenerate", name: `kmxd-test-${randomBytes(4).toString("hex")}` });
    await client.activate(keyId);
  } finally {
    client.close();
  }
  const created = await admin("POST", "/api/v1/providers", {
    name: "pykmip-1",
    kmipServers: [`127.0.0.1:${py.port}`],
    keyId,
    serverCa: tls.ca,
    clientCertificate: tls.cert,
    clientKey: tls.key,
  });
  const mode = created.body.mode as string;
  t.true(["A256GCM", "CBC-HMAC-SHA256"].includes(mode), mode);
  await admin("POST", "/api/v1/providers/pykmip-1/grants", { cluster: "default" });

  const g = await hostCall("/api/v1/providers/pykmip-1/data-keys", { bytes: 48 });
  t.is(g.status, 201, JSON.stringify(g.body));
  t.like(decodeProtectedHeader(g.body.key as string), { alg: "RSA-OAEP-256", enc: "A256GCM" });
  const key = await openJweWithTpm(sw, host.dir, g.body.key as string);
  t.is(key.length, 48);
  t.like(wrappedForm(g.body.wrapped as string), { v: 1, provider: "pykmip-1", kv: 1, mode });
  t.false(Buffer.from(g.body.wrapped as string, "base64").includes(Buffer.from(key)), "the wrapped form does not hold the key in the clear");
  const u = await hostCall("/api/v1/providers/pykmip-1/unwrap", { wrapped: g.body.wrapped });
  t.is(u.status, 200, JSON.stringify(u.body));
  t.deepEqual(await openJweWithTpm(sw, host.dir, u.body.key as string), key);

  const secret = randomBytes(300);
  const e = await hostCall("/api/v1/providers/pykmip-1/encrypt", { plaintext: secret.toString("base64") });
  t.is(e.status, 200, JSON.stringify(e.body));
  t.like(wrappedForm(e.body.ciphertext as string), { provider: "pykmip-1", kv: 1 });
  t.false(Buffer.from(e.body.ciphertext as string, "base64").includes(secret), "the ciphertext does not hold the plaintext");
  const d = await hostCall("/api/v1/providers/pykmip-1/decrypt", { ciphertext: e.body.ciphertext });
  t.is(d.status, 200, JSON.stringify(d.body));
  t.deepEqual(Buffer.from(await openJweWithTpm(sw, host.dir, d.body.plaintext as string)), secret);
});
