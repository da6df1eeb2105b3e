/**
 * kmxd's admin API end to end, every component real and in its own process: attestd (`apps/attestd/bin/attestd`,
 * its admin tokens and JWKS), kmipd (`apps/kmipd/src/main.ts`, its generated TLS), the PyKMIP server, PostgreSQL,
 * and kmxd itself (`apps/kmxd/bin/kmxd`). Providers created against kmipd and PyKMIP, a key unknown or inactive
 * refused with its code, servers that cannot be reached named, the trust set-up's CSR signed by kmipd's CA and
 * used, rotation keeping old versions (rewrap moves a key from v1 to v2), clusters and grants, a reader and an
 * anonymous caller changing nothing, the audit rows, a restart keeping the providers, and two kmxd nodes on one
 * PostgreSQL seeing each other's providers and rotations.
 */
import test from "ava";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { issueCertificate } from "@tessera/pki";
import * as x509 from "@peculiar/x509";
import { createProviderClient, decodeWrapped, unwrap, wrap, type ProviderKey, type WrapMode } from "@tessera/key-provider";
import type { KmipClient } from "@tessera/kmip-client";
import { startPostgres, type PostgresCluster } from "@tessera/postgres-testing";
import { startPykmipServer, type PykmipServer } from "@tessera/pykmip-testing";
import {
  type AttestdProc,
  call,
  freePort,
  type KmipdProc,
  type KmxdProc,
  signIn,
  startAttestdProcess,
  startKmipdProcess,
  startKmxdProcess,
} from "../_admin_test_support.ts";

let dir: string;
let attestd: AttestdProc;
let kmipd: KmipdProc;
let py: PykmipServer;
let pg: PostgresCluster;
let kmxd: KmxdProc;
let kmxdArgs: string[];
let adminToken: string;
let readerToken: string;
let kmipdClient: KmipClient;
let pyClient: KmipClient;
const running: { stop(): Promise<void> }[] = [];

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmxd-admin-"));
  [attestd, kmipd, py, pg] = await Promise.all([
    startAttestdProcess(path.join(dir, "attestd")),
    startKmipdProcess(path.join(dir, "kmipd")),
    startPykmipServer({ loggingLevel: "ERROR" }),
    startPostgres(),
  ]);
  running.push(attestd, kmipd, py, pg);
  adminToken = await signIn(attestd, "admin", attestd.adminPassword);
  const added = await call(attestd.url, attestd.ca, "POST", "/api/v1/accounts", {
    token: adminToken,
    body: { user: "reader", password: "reader-password-1", groups: ["TrustedReaders"] },
  });
  if (added.status !== 201) throw new Error(`cannot add the reader: ${added.status} ${JSON.stringify(added.body)}`);
  readerToken = await signIn(attestd, "reader", "reader-password-1");
  kmxdArgs = ["--attestd", attestd.url, "--attestd-ca", attestd.caFile];
  kmxd = await startKmxdProcess(kmxdArgs, path.join(dir, "kmxd"));
  running.push(kmxd);
  kmipdClient = createProviderClient({ servers: [{ host: "127.0.0.1", port: kmipd.port }], tls: { cert: kmipd.clientCert, key: kmipd.clientKey, ca: kmipd.ca } });
  pyClient = createProviderClient({
    servers: [{ host: "127.0.0.1", port: py.port }],
    tls: { cert: py.pki.clients.alice.certPem, key: py.pki.clients.alice.keyPem, ca: py.pki.ca.certPem },
  });
});

test.after.always(async () => {
  kmipdClient?.close();
  pyClient?.close();
  for (const p of running.reverse()) await p.stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const admin = (method: string, p: string, body?: unknown, node: KmxdProc = kmxd) => call(node.url, node.ca, method, p, { token: adminToken, ...(body === undefined ? {} : { body }) });

/** A new AES-256 key on `client`'s server (Active unless told). */
async function newKey(client: KmipClient, options: { activate?: boolean; usage?: string } = {}): Promise<string> {
  const id = await client.create({ algorithm: "AES", length: 256, usage: options.usage ?? "Encrypt Decrypt MACGenerate", name: `kmxd-test-${randomBytes(4).toString("hex")}` });
  if (options.activate !== false) await client.activate(id);
  return id;
}

function kmipdProvider(name: string, keyId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, kmipServers: [`127.0.0.1:${kmipd.port}`], keyId, serverCa: kmipd.ca, clientCertificate: kmipd.clientCert, clientKey: kmipd.clientKey, ...extra };
}

/** The provider's versions as the key-provider lib takes them (from the admin view). */
function versionsOf(view: { name: string; versions: { version: number; keyId: string; mode: WrapMode }[] }): (kv: number) => ProviderKey | undefined {
  return (kv) => {
    const v = view.versions.find((x) => x.version === kv);
    return v === undefined ? undefined : { provider: view.name, version: v.version, keyId: v.keyId, mode: v.mode };
  };
}

async function auditOf(provider: string, node: KmxdProc = kmxd): Promise<{ operation: string; result: string; actor?: string; keyVersion?: number }[]> {
  const r = await admin("GET", `/api/v1/audit?provider=${provider}&limit=100`, undefined, node);
  if (r.status !== 200) throw new Error(`audit: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.entries;
}

test.serial("a provider on kmipd: created with the key checked and the mode probed, listed, shown (never its key), audited", async (t) => {
  const keyId = await newKey(kmipdClient);
  const r = await admin("POST", "/api/v1/providers", kmipdProvider("kms-1", keyId));
  t.is(r.status, 201, JSON.stringify(r.body));
  t.like(r.body, { name: "kms-1", kmipServers: [`127.0.0.1:${kmipd.port}`], currentVersion: 1, mode: "A256GCM", grants: [] });
  t.like(r.body.versions[0], { version: 1, keyId, mode: "A256GCM" });
  t.false(JSON.stringify(r.body).includes("PRIVATE KEY"), "the client key is never shown");
  const list = await admin("GET", "/api/v1/providers");
  t.deepEqual(
    list.body.providers.map((p: { name: string }) => p.name),
    ["kms-1"],
  );
  const shown = await call(kmxd.url, kmxd.ca, "GET", "/api/v1/providers/kms-1", { token: readerToken });
  t.is(shown.status, 200, "a reader may read");
  t.is(shown.body.versions[0].keyId, keyId);
  t.false(JSON.stringify(shown.body).includes("PRIVATE KEY"));
  const again = await admin("POST", "/api/v1/providers", kmipdProvider("kms-1", keyId));
  t.is(again.status, 409);
  t.is(again.body.type, "urn:tessera:problem:provider-exists");
  const audit = await auditOf("kms-1");
  t.like(
    audit.find((a) => a.operation === "provider.create"),
    { result: "ok", actor: "admin", keyVersion: 1 },
  );
  t.is((await admin("GET", "/api/v1/providers/nope")).body.type, "urn:tessera:problem:provider-unknown");
});

test.serial("an unknown key, an inactive key and unreachable servers are refused with their codes; nothing is created", async (t) => {
  const unknown = await admin("POST", "/api/v1/providers", kmipdProvider("bad-1", "no-such-key-42"));
  t.is(unknown.status, 400, JSON.stringify(unknown.body));
  t.is(unknown.body.type, "urn:tessera:problem:kmip-key-unknown");
  t.regex(unknown.body.detail, /no-such-key-42/);

  const inactive = await newKey(kmipdClient, { activate: false });
  const r = await admin("POST", "/api/v1/providers", kmipdProvider("bad-2", inactive));
  t.is(r.status, 400, JSON.stringify(r.body));
  t.is(r.body.type, "urn:tessera:problem:kmip-key-inactive");

  const [p1, p2] = [await freePort(), await freePort()];
  const down = await admin("POST", "/api/v1/providers", kmipdProvider("bad-3", "1", { kmipServers: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`] }));
  t.is(down.status, 502, JSON.stringify(down.body));
  t.is(down.body.type, "urn:tessera:problem:kmip-connection-failed");
  t.is(down.body.servers.length, 2);
  t.true(down.body.servers[0].includes(String(p1)) && down.body.servers[1].includes(String(p2)), "each server tried is named, in order");

  const wrongCert = await admin("POST", "/api/v1/providers", kmipdProvider("bad-4", inactive, { clientKey: py.pki.clients.alice.keyPem }));
  t.is(wrongCert.status, 400);
  t.is(wrongCert.body.type, "urn:tessera:problem:client-certificate-invalid");

  const bad = await admin("POST", "/api/v1/providers", { ...kmipdProvider("bad-5", "1"), kmipServers: ["no-port"] });
  t.is(bad.status, 400);
  t.is(bad.body.type, "urn:tessera:problem:bad-request");

  const names = (await admin("GET", "/api/v1/providers")).body.providers.map((p: { name: string }) => p.name);
  t.false(names.some((n: string) => n.startsWith("bad-")));
  t.like(
    (await auditOf("bad-2")).find((a) => a.operation === "provider.create"),
    { result: "refused" },
  );
});

test.serial("a provider on the PyKMIP server, with an issued certificate", async (t) => {
  const keyId = await newKey(pyClient);
  const r = await admin("POST", "/api/v1/providers", {
    name: "pykmip-1",
    kmipServers: [`127.0.0.1:${py.port}`],
    keyId,
    serverCa: py.pki.ca.certPem,
    clientCertificate: py.pki.clients.alice.certPem,
    clientKey: py.pki.clients.alice.keyPem,
  });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.true(["A256GCM", "CBC-HMAC-SHA256"].includes(r.body.mode));
  const cbc = await admin("POST", "/api/v1/providers", {
    name: "pykmip-cbc",
    kmipServers: [`127.0.0.1:${py.port}`],
    keyId,
    serverCa: py.pki.ca.certPem,
    clientCertificate: py.pki.clients.alice.certPem,
    clientKey: py.pki.clients.alice.keyPem,
    wrapMode: "CBC-HMAC-SHA256",
  });
  t.is(cbc.status, 201, JSON.stringify(cbc.body));
  t.is(cbc.body.mode, "CBC-HMAC-SHA256");
  // Rotation on PyKMIP: kmxd creates and activates the new key itself, in the provider's mode.
  const rot = await admin("POST", "/api/v1/providers/pykmip-cbc/rotate", {});
  t.is(rot.status, 201, JSON.stringify(rot.body));
  t.like(rot.body, { version: 2, mode: "CBC-HMAC-SHA256" });
});

test.serial("trust set-up: kmxd's CSR, signed by kmipd's CA, becomes the provider's client certificate", async (t) => {
  const missing = await admin("POST", "/api/v1/providers", { ...kmipdProvider("csr-1", "1"), clientKey: undefined });
  t.is(missing.status, 400);
  t.is(missing.body.type, "urn:tessera:problem:trust-setup-missing");

  const closed = await freePort();
  const checked = await admin("POST", "/api/v1/trust-setups", {
    name: "csr-1",
    kmipServers: [`127.0.0.1:${kmipd.port}`, `127.0.0.1:${py.port}`, `127.0.0.1:${closed}`],
    serverCa: kmipd.ca,
  });
  t.is(checked.status, 201, JSON.stringify(checked.body));
  t.deepEqual(
    checked.body.servers.map((s: { server: string; status: string }) => [s.server, s.status]),
    [
      [`127.0.0.1:${kmipd.port}`, "trusted"],
      [`127.0.0.1:${py.port}`, "untrusted"],
      [`127.0.0.1:${closed}`, "unreachable"],
    ],
    "the connection test: kmipd's certificate chains to its CA, PyKMIP's does not, a closed port answers nothing",
  );
  const pyChecked = await admin("POST", "/api/v1/trust-setups", { name: "py-check", kmipServers: [`127.0.0.1:${py.port}`, `localhost:${kmipd.port}`], serverCa: py.pki.ca.certPem });
  t.deepEqual(
    pyChecked.body.servers.map((s: { status: string }) => s.status),
    ["trusted", "untrusted"],
    "PyKMIP (TLS 1.2) checked against its CA; kmipd (TLS 1.3) against another CA",
  );
  const setup = await admin("POST", "/api/v1/trust-setups", { name: "csr-1", kmipServers: [`127.0.0.1:${kmipd.port}`], serverCa: kmipd.ca });
  t.is(setup.status, 201, JSON.stringify(setup.body));
  t.not(setup.body.csr, checked.body.csr, "a second set-up of the name replaces the first (a new key)");
  const csr = new x509.Pkcs10CertificateRequest(setup.body.csr);
  t.is(csr.subject, "CN=tessera-kmxd-csr-1");
  t.true(await csr.verify());
  const issued = await issueCertificate(
    { certificatePem: kmipd.ca, privateKeyPem: kmipd.caKey },
    { commonName: "tessera-kmxd-csr-1", profile: "client", publicKeyPem: csr.publicKey.toString("pem") },
  );
  // The key belongs to kmipd's own client; it shares it with kmxd's new identity.
  const keyId = await newKey(kmipdClient);
  const hidden = await admin("POST", "/api/v1/providers", { name: "csr-1", kmipServers: [`127.0.0.1:${kmipd.port}`], keyId, serverCa: kmipd.ca, clientCertificate: issued.certificatePem });
  t.is(hidden.status, 400, "kmipd hides another client's key until it is shared");
  t.is(hidden.body.type, "urn:tessera:problem:kmip-key-unknown");
  await kmipdClient.addCustomAttribute(keyId, "tessera-grant", "CN=tessera-kmxd-csr-1");
  const r = await admin("POST", "/api/v1/providers", { name: "csr-1", kmipServers: [`127.0.0.1:${kmipd.port}`], keyId, serverCa: kmipd.ca, clientCertificate: issued.certificatePem });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.is(r.body.mode, "A256GCM");
  const otherCert = await issueCertificate({ certificatePem: kmipd.ca, privateKeyPem: kmipd.caKey }, { commonName: "tessera-kmxd-csr-2", profile: "client" });
  const used = await admin("POST", "/api/v1/providers", { name: "csr-2", kmipServers: [`127.0.0.1:${kmipd.port}`], keyId, serverCa: kmipd.ca, clientCertificate: otherCert.certificatePem });
  t.is(used.body.type, "urn:tessera:problem:trust-setup-missing", "the trust set-up of csr-1 was used up; csr-2 has none");
  t.deepEqual(
    (await auditOf("csr-1")).map((a) => a.operation).sort(),
    ["provider.create", "provider.create", "trust-setup.create", "trust-setup.create"],
  );
});

test.serial("rotation keeps old versions: a v1 wrapped key still unwraps and rewrap moves it to v2", async (t) => {
  const before = (await admin("GET", "/api/v1/providers/kms-1")).body;
  const dataKey = randomBytes(32);
  const v1 = await wrap(kmipdClient, { provider: "kms-1", version: 1, keyId: before.versions[0].keyId, mode: "A256GCM" }, dataKey);
  const rot = await admin("POST", "/api/v1/providers/kms-1/rotate", {});
  t.is(rot.status, 201, JSON.stringify(rot.body));
  t.like(rot.body, { provider: "kms-1", version: 2, mode: "A256GCM" });
  const key2 = await kmipdClient.getAttributes(rot.body.keyId, ["Name", "State"]);
  t.true(key2.size > 0, "kmxd created the new key on the key server");
  const after = (await admin("GET", "/api/v1/providers/kms-1")).body;
  t.is(after.currentVersion, 2);
  t.deepEqual(
    after.versions.map((v: { version: number }) => v.version),
    [1, 2],
  );
  const moved = await admin("POST", "/api/v1/admin/providers/kms-1/rewrap", { wrapped: v1 });
  t.is(moved.status, 200, JSON.stringify(moved.body));
  t.is(moved.body.keyVersion, 2);
  t.is(decodeWrapped(moved.body.wrapped).kv, 2);
  t.deepEqual(Buffer.from(await unwrap(kmipdClient, versionsOf(after), moved.body.wrapped)), dataKey);
  t.deepEqual(Buffer.from(await unwrap(kmipdClient, versionsOf(after), v1)), dataKey, "the old form still unwraps");

  const withId = await newKey(kmipdClient);
  const rot3 = await admin("POST", "/api/v1/providers/kms-1/rotate", { keyId: withId });
  t.like(rot3.body, { version: 3, keyId: withId });
  const tampered = await admin("POST", "/api/v1/admin/providers/kms-1/rewrap", { wrapped: "bm90IGEgd3JhcHBlZCBrZXk=" });
  t.is(tampered.status, 400);
  t.is(tampered.body.type, "urn:tessera:problem:wrapped-malformed");
  const foreign = await admin("POST", "/api/v1/admin/providers/csr-1/rewrap", { wrapped: v1 });
  t.is(foreign.status, 422, "another provider's wrapped key is refused");
  t.is(foreign.body.type, "urn:tessera:problem:unwrap-failed");
  const inactiveRot = await admin("POST", "/api/v1/providers/kms-1/rotate", { keyId: await newKey(kmipdClient, { activate: false }) });
  t.is(inactiveRot.body.type, "urn:tessera:problem:kmip-key-inactive");
  t.is((await admin("GET", "/api/v1/providers/kms-1")).body.currentVersion, 3, "a refused rotation changes nothing");
  const ops = (await auditOf("kms-1")).map((a) => `${a.operation}:${a.result}`);
  t.true(ops.includes("provider.rotate:ok") && ops.includes("provider.rewrap:ok") && ops.includes("provider.rotate:refused"));
});

test.serial("clusters and grants", async (t) => {
  const none = await admin("POST", "/api/v1/providers/kms-1/grants", { cluster: "prod" });
  t.is(none.status, 404);
  t.is(none.body.type, "urn:tessera:problem:cluster-unknown");
  const put = await admin("PUT", "/api/v1/clusters/prod", { rules: [{ host: "esx-*" }, { ekFingerprint: "AB".repeat(32) }] });
  t.is(put.status, 201, JSON.stringify(put.body));
  t.deepEqual(put.body.rules, [{ host: "esx-*" }, { ekFingerprint: "ab".repeat(32) }]);
  t.is((await admin("PUT", "/api/v1/clusters/prod", { rules: [{ host: "esx-*" }] })).status, 200);
  t.is((await admin("PUT", "/api/v1/clusters/x", { rules: [{}] })).status, 400, "a rule naming nothing");
  t.is((await admin("PUT", "/api/v1/clusters/default", { rules: [] })).body.type, "urn:tessera:problem:cluster-default");
  t.is((await admin("DELETE", "/api/v1/clusters/default")).body.type, "urn:tessera:problem:cluster-default");
  const g = await admin("POST", "/api/v1/providers/kms-1/grants", { cluster: "prod" });
  t.is(g.status, 201, JSON.stringify(g.body));
  t.deepEqual(g.body.grants, ["prod"]);
  t.deepEqual((await admin("POST", "/api/v1/providers/kms-1/grants", { cluster: "default" })).body.grants, ["default", "prod"]);
  t.is((await admin("POST", "/api/v1/providers/nope/grants", { cluster: "default" })).body.type, "urn:tessera:problem:provider-unknown");
  t.deepEqual((await admin("GET", "/api/v1/providers/kms-1")).body.grants, ["default", "prod"]);
  const list = await admin("GET", "/api/v1/clusters");
  t.deepEqual(
    list.body.clusters.map((c: { name: string }) => c.name),
    ["default", "prod"],
  );
  t.is((await admin("DELETE", "/api/v1/providers/kms-1/grants/default")).status, 204);
  t.is((await admin("DELETE", "/api/v1/providers/kms-1/grants/default")).body.type, "urn:tessera:problem:grant-unknown");
  t.is((await admin("DELETE", "/api/v1/clusters/prod")).status, 204);
  t.deepEqual((await admin("GET", "/api/v1/providers/kms-1")).body.grants, [], "the cluster's grants went with it");
  t.is((await admin("DELETE", "/api/v1/clusters/prod")).body.type, "urn:tessera:problem:cluster-unknown");
  const ops = (await auditOf("kms-1")).map((a) => a.operation);
  t.true(ops.includes("grant.add") && ops.includes("grant.remove"));
});

test.serial("a reader and an anonymous caller change nothing; a forged token is refused", async (t) => {
  const auditBefore = (await admin("GET", "/api/v1/audit?limit=1000")).body.entries.length;
  const providersBefore = (await admin("GET", "/api/v1/providers")).body;
  const attempts: [string, string, unknown?][] = [
    ["POST", "/api/v1/providers", kmipdProvider("reader-made", "1")],
    ["DELETE", "/api/v1/providers/kms-1"],
    ["POST", "/api/v1/providers/kms-1/rotate", {}],
    ["POST", "/api/v1/providers/kms-1/grants", { cluster: "default" }],
    ["PUT", "/api/v1/clusters/evil", { rules: [{ host: "*" }] }],
    ["POST", "/api/v1/trust-setups", { name: "evil", kmipServers: ["127.0.0.1:1"], serverCa: kmipd.ca }],
    ["POST", "/api/v1/admin/providers/kms-1/rewrap", { wrapped: "eA==" }],
  ];
  for (const [method, p, body] of attempts) {
    const asReader = await call(kmxd.url, kmxd.ca, method, p, { token: readerToken, ...(body === undefined ? {} : { body }) });
    t.is(asReader.status, 403, `${method} ${p} as a reader`);
    t.is(asReader.body.type, "urn:tessera:problem:forbidden");
    const anonymous = await call(kmxd.url, kmxd.ca, method, p, body === undefined ? {} : { body });
    t.is(anonymous.status, 401, `${method} ${p} without a token`);
  }
  const parts = adminToken.split(".");
  const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString()) as Record<string, unknown>;
  const forged = [parts[0], Buffer.from(JSON.stringify({ ...claims, sub: "mallory" })).toString("base64url"), parts[2]].join(".");
  const f = await call(kmxd.url, kmxd.ca, "GET", "/api/v1/providers", { token: forged });
  t.is(f.status, 401);
  t.is(f.body.type, "urn:tessera:problem:token-invalid");
  t.is((await call(kmxd.url, kmxd.ca, "GET", "/api/v1/providers")).status, 401);
  t.deepEqual((await admin("GET", "/api/v1/providers")).body, providersBefore);
  t.is((await admin("GET", "/api/v1/audit?limit=1000")).body.entries.length, auditBefore, "no audit row: nothing happened");
  const doc = await call(kmxd.url, kmxd.ca, "GET", "/api/v1/openapi.json");
  t.is(doc.status, 200, "the OpenAPI document is public");
  t.truthy(doc.body.paths["/api/v1/providers/{provider}/rotate"]);
  t.truthy(doc.body.paths["/api/v1/providers/{provider}/unwrap"]);
});

test.serial("a restart keeps the providers (client keys unwrapped from the store) and removal is audited", async (t) => {
  const before = (await admin("GET", "/api/v1/providers/kms-1")).body;
  await kmxd.stop();
  kmxd = await startKmxdProcess(kmxdArgs, path.join(dir, "kmxd"));
  running.push(kmxd);
  const after = (await admin("GET", "/api/v1/providers/kms-1")).body;
  t.deepEqual(after, before);
  const dataKey = randomBytes(32);
  const v1 = await wrap(kmipdClient, { provider: "kms-1", version: 1, keyId: before.versions[0].keyId, mode: "A256GCM" }, dataKey);
  const moved = await admin("POST", "/api/v1/admin/providers/kms-1/rewrap", { wrapped: v1 });
  t.is(moved.status, 200, "the restarted node talks to kmipd with the stored client key");
  t.is(moved.body.keyVersion, 3);
  t.is((await admin("DELETE", "/api/v1/providers/pykmip-1")).status, 204);
  t.is((await admin("DELETE", "/api/v1/providers/pykmip-1")).status, 404);
  t.like(
    (await auditOf("pykmip-1")).find((a) => a.operation === "provider.remove"),
    { result: "ok", actor: "admin" },
  );
});

test.serial("two kmxd nodes on one PostgreSQL see the same providers, rotations and removals", async (t) => {
  const url = await pg.createDatabase();
  const masterKey = path.join(dir, "shared-master.key");
  await writeFile(masterKey, randomBytes(32), { mode: 0o600 });
  const args = [...kmxdArgs, "--database", url, "--master-key-file", masterKey];
  const a = await startKmxdProcess(args, path.join(dir, "node-a"));
  running.push(a);
  const b = await startKmxdProcess(args, path.join(dir, "node-b"));
  running.push(b);
  const keyId = await newKey(kmipdClient);
  t.is((await admin("POST", "/api/v1/providers", kmipdProvider("shared", keyId), a)).status, 201);
  const seen = await admin("GET", "/api/v1/providers/shared", undefined, b);
  t.is(seen.status, 200);
  t.is(seen.body.versions[0].keyId, keyId);
  const dataKey = randomBytes(32);
  const v1 = await wrap(kmipdClient, { provider: "shared", version: 1, keyId, mode: "A256GCM" }, dataKey);
  // Node a loads the provider (v1), node b rotates it: node a's next use sees v2 without a restart.
  t.is((await admin("POST", "/api/v1/admin/providers/shared/rewrap", { wrapped: v1 }, a)).body.keyVersion, 1);
  t.is((await admin("POST", "/api/v1/providers/shared/rotate", {}, b)).body.version, 2);
  const moved = await admin("POST", "/api/v1/admin/providers/shared/rewrap", { wrapped: v1 }, a);
  t.is(moved.body.keyVersion, 2, JSON.stringify(moved.body));
  const view = (await admin("GET", "/api/v1/providers/shared", undefined, a)).body;
  t.deepEqual(Buffer.from(await unwrap(kmipdClient, versionsOf(view), moved.body.wrapped)), dataKey);
  t.deepEqual(
    (await auditOf("shared", a)).map((x) => x.operation).sort(),
    (await auditOf("shared", b)).map((x) => x.operation).sort(),
    "one audit trail",
  );
  t.is((await admin("DELETE", "/api/v1/providers/shared", undefined, b)).status, 204);
  const gone = await admin("POST", "/api/v1/admin/providers/shared/rewrap", { wrapped: v1 }, a);
  t.is(gone.status, 404, "removed on b: unknown on a at once");
  t.is(gone.body.type, "urn:tessera:problem:provider-unknown");
  // A node with another master key cannot start on this database: it would not unwrap the client keys.
  t.is((await admin("POST", "/api/v1/providers", kmipdProvider("shared2", keyId), a)).status, 201);
  await t.throwsAsync(startKmxdProcess([...kmxdArgs, "--database", url], path.join(dir, "node-c")), { message: /master key/ });
});

test.serial("hostile bodies and parameters: refusals are 4xx problem documents, never a 500; no provider is made", async (t) => {
  const before = (await admin("GET", "/api/v1/providers")).body.providers.length;
  const routes: [string, string][] = [
    ["POST", "/api/v1/providers"],
    ["POST", "/api/v1/trust-setups"],
    ["POST", "/api/v1/providers/kms-1/rotate"],
    ["POST", "/api/v1/providers/kms-1/grants"],
    ["PUT", "/api/v1/clusters/fuzz"],
    ["POST", "/api/v1/admin/providers/kms-1/rewrap"],
  ];
  const body = fc.oneof(
    fc.jsonValue(),
    fc.record({
      name: fc.oneof(fc.string(), fc.constant("kms-1"), fc.constant("../x"), fc.constant("a".repeat(300))),
      kmipServers: fc.oneof(fc.array(fc.string()), fc.constant(["127.0.0.1:0"]), fc.constant(["[::1]:99999"]), fc.string()),
      keyId: fc.oneof(fc.string(), fc.integer()),
      serverCa: fc.string(),
      clientCertificate: fc.string(),
      rules: fc.array(fc.record({ host: fc.string(), ekFingerprint: fc.string(), tpmCa: fc.string() }, { requiredKeys: [] })),
      wrapped: fc.string(),
      cluster: fc.string(),
      wrapMode: fc.string(),
    }, { requiredKeys: [] }),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), body, async ([method, p], b) => {
      const r = await admin(method, p, b);
      // A body that happens to be valid may succeed (an empty rotation, an empty cluster); nothing may fail inside.
      if (r.status >= 500) return false;
      return r.status < 400 || (typeof r.body?.type === "string" && r.body.type.startsWith("urn:tessera:problem:"));
    }),
    { numRuns: 150 },
  );
  for (const q of ["limit=0", "limit=abc", "limit=100000", "before=-1", "nope=1"]) {
    const r = await admin("GET", `/api/v1/audit?${q}`);
    t.is(r.status, 400, q);
    t.is(r.body.type, "urn:tessera:problem:bad-request");
  }
  for (const name of ["_x", "a%2Fb", "-x", "x".repeat(64)]) {
    t.is((await admin("GET", `/api/v1/providers/${name}`)).status, 400, name);
  }
  t.is((await admin("GET", "/api/v1/providers")).body.providers.length, before);
});
