/**
 * `tactl kp` against a real kmxd (`apps/kmxd/bin/kmxd`, its own process, HTTPS with the CA it made on first
 * start), the real attestd whose admin tokens it takes (`apps/attestd/bin/attestd`), and a real kmipd
 * (`apps/kmipd/src/main.ts`) holding the providers' keys: create with an issued client certificate (kmipd's own),
 * list/show, grant/revoke, rotate (kmxd's new key, and a given one), rewrap of a key wrapped under an older
 * version, trust-setup (kmxd's CSR issued by kmipd's CA, then create with only the certificate), remove, trusted
 * clusters, the refusals kmxd names (unknown or inactive key), and a reader who may read but change nothing.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { type ReadyProcess, spawnReady as startProcess } from "@tessera/process-testing";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createProviderClient, decodeWrapped, unwrap, wrap, type ProviderKey } from "@tessera/key-provider";
import { issueCertificate } from "@tessera/pki";
import { type Ran, tactl, tactlWith } from "./_test_support.ts";
import { saveSession } from "./ta_session.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMXD = path.join(ROOT, "apps/kmxd/bin/kmxd");
const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");

let dir: string;
let adminHome: string;
let readerHome: string;
const children: ReadyProcess[] = [];
let attestdUrl: string;
let attestdCa: string;
let kmxdUrl: string;
let kmxdCa: string;
let kmipPort: number;
/** kmipd's TLS directory: ca.pem, ca-key.pem, client.pem (CN=kmipd-admin), client-key.pem. */
let kmipTls: string;
let kmipConn: string[];

/** Starts a service (its own process) and resolves with its ready line's match; kept to be stopped after the tests. */
async function spawnReady(what: string, cmd: string, args: string[], ready: RegExp): Promise<RegExpExecArray> {
  const p = await startProcess(what, cmd, args, ready);
  children.push(p);
  return p.match;
}

const admin = (...argv: string[]): Promise<Ran> => tactlWith({ env: { TESSERA_HOME: adminHome } }, ...argv);
const reader = (...argv: string[]): Promise<Ran> => tactlWith({ env: { TESSERA_HOME: readerHome } }, ...argv);
/** `tactl kp …` as the administrator, against kmxd. */
const kp = (...argv: string[]): Promise<Ran> => admin("kp", ...argv, "--server", kmxdUrl, "--ca", kmxdCa);
const kpJson = async (...argv: string[]): Promise<Record<string, unknown>> => {
  const r = await kp(...argv, "--json");
  if (r.code !== 0) throw new Error(`tactl kp ${argv.join(" ")} exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as Record<string, unknown>;
};

/** A new AES-256 key on kmipd (owned by kmipd-admin), activated unless `active` is false; its id. */
async function kmipKey(name: string, active = true, usage = "Encrypt Decrypt"): Promise<string> {
  const c = await tactl("kmip", "create", ...kmipConn, "--alg", "AES", "--length", "256", "--name", name, "--usage", usage, "--json");
  if (c.code !== 0) throw new Error(c.err);
  const id = (JSON.parse(c.out) as { id: string }).id;
  if (active) {
    const a = await tactl("kmip", "activate", id, ...kmipConn);
    if (a.code !== 0) throw new Error(a.err);
  }
  return id;
}

/** The provider document of `kp show NAME --json` (the view itself, or its `provider` member). */
async function showProvider(name: string): Promise<Record<string, unknown>> {
  const r = await kpJson("show", name);
  return (typeof r.provider === "object" && r.provider !== null ? r.provider : r) as Record<string, unknown>;
}

function versions(p: Record<string, unknown>): { version: number; keyId: string; mode: string }[] {
  return (p.versions as { version: number; keyId: string; mode: string }[]).slice().sort((a, b) => a.version - b.version);
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-kp-"));
  adminHome = path.join(dir, "admin-home");
  readerHome = path.join(dir, "reader-home");
  const attestdDir = path.join(dir, "attestd");
  const kmipDir = path.join(dir, "kmipd");
  const [a, k] = await Promise.all([
    spawnReady("attestd", ATTESTD, ["--listen", "127.0.0.1:0", "--data-dir", attestdDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m),
    spawnReady("kmipd", process.execPath, [KMIPD, "--listen", "127.0.0.1:0", "--data-dir", kmipDir], /kmipd: listening on \S+:(\d+)/),
  ]);
  attestdUrl = a[1];
  attestdCa = path.join(attestdDir, "tls", "ca.pem");
  kmipPort = Number(k[1]);
  kmipTls = path.join(kmipDir, "tls");
  kmipConn = [
    "--server",
    `127.0.0.1:${kmipPort}`,
    "--cert",
    path.join(kmipTls, "client.pem"),
    "--key",
    path.join(kmipTls, "client-key.pem"),
    "--ca",
    path.join(kmipTls, "ca.pem"),
  ];
  const kmxdDir = path.join(dir, "kmxd");
  const x = await spawnReady(
    "kmxd",
    KMXD,
    [
      ...["--listen", "127.0.0.1:0", "--data-dir", kmxdDir, "--log-level", "warn"],
      ...["--attestd", attestdUrl, "--attestd-ca", attestdCa, "--attestd-user", "admin", "--attestd-password-file", path.join(attestdDir, "admin.password")],
    ],
    /^kmxd: listening on (https:\/\/\S+)/m,
  );
  kmxdUrl = x[1];
  kmxdCa = path.join(kmxdDir, "tls", "ca.pem");
  const login = await admin(
    "ta",
    "login",
    "--server",
    attestdUrl,
    "--ca",
    attestdCa,
    "--user",
    "admin",
    "--password-file",
    path.join(attestdDir, "admin.password"),
  );
  if (login.code !== 0) throw new Error(login.err);
  const pw = path.join(dir, "reader.password");
  const add = await admin("ta", "account", "add", "kp-reader", "--group", "TrustedReaders", "--password-out", pw);
  if (add.code !== 0) throw new Error(add.err);
  const rlogin = await reader("ta", "login", "--server", attestdUrl, "--ca", attestdCa, "--user", "kp-reader", "--password-file", pw);
  if (rlogin.code !== 0) throw new Error(rlogin.err);
});

test.after.always(async () => {
  for (const c of children.reverse()) await c.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const CREATE = () => [
  ...["--kmip-server", `127.0.0.1:${kmipPort}`, "--server-ca", path.join(kmipTls, "ca.pem")],
  ...["--cert", path.join(kmipTls, "client.pem"), "--key", path.join(kmipTls, "client-key.pem")],
];

test.serial("create with an issued client certificate: kmxd checks the key and probes the mode; list and show, as tables and --json", async (t) => {
  const keyId = await kmipKey("kp-e2e-1");
  const r = await kp("create", "kms1", ...CREATE(), "--key-id", keyId);
  t.is(r.code, 0, r.err);
  t.regex(r.out, new RegExp(`^created provider kms1: key ${keyId} \\(version 1, mode A256GCM\\) on 127\\.0\\.0\\.1:${kmipPort}\\n`));
  const p = await showProvider("kms1");
  t.is(p.name, "kms1");
  t.deepEqual(p.kmipServers, [`127.0.0.1:${kmipPort}`]);
  t.deepEqual(versions(p), [{ ...versions(p)[0], version: 1, keyId, mode: "A256GCM" }]);
  t.deepEqual(p.grants, [], "a new provider serves no cluster until granted");
  t.false(JSON.stringify(p).includes("PRIVATE KEY"), "the view never holds the client key");
  const list = await kpJson("list");
  const providers = (Array.isArray(list) ? list : list.providers) as { name: string }[];
  t.deepEqual(
    providers.map((x) => x.name),
    ["kms1"],
  );
  const table = await kp("list");
  t.is(table.code, 0, table.err);
  t.regex(table.out, /^NAME +VERSION +KEY ID +MODE +KMIP SERVERS +CLUSTERS\n/);
  t.regex(table.out, new RegExp(`\\nkms1 +1 +${keyId} +A256GCM +127\\.0\\.0\\.1:${kmipPort} +\\(none\\)\\n`));
  const show = await kp("show", "kms1");
  t.is(show.code, 0, show.err);
  t.regex(show.out, /^provider kms1\n/);
  t.regex(show.out, new RegExp(`1 \\(current\\) +A256GCM +\\S+ \\S+ +${keyId}\\n`));
  // The same name twice: kmxd's problem, exit 1.
  const again = await kp("create", "kms1", ...CREATE(), "--key-id", keyId);
  t.is(again.code, 1, again.err);
  t.regex(again.err, /^tactl: Conflict: provider kms1 exists already/);
});

test.serial("create refuses a key the server does not have, and one that is not Active, naming why (exit 1)", async (t) => {
  const unknown = await kp("create", "nokey", ...CREATE(), "--key-id", "no-such-key-id");
  t.is(unknown.code, 1, unknown.err);
  t.regex(unknown.err, /^tactl: Bad Request: provider nokey, key no-such-key-id: the key server has no such key/);
  const inactive = await kp("create", "inactive", ...CREATE(), "--key-id", await kmipKey("kp-e2e-preactive", false));
  t.is(inactive.code, 1, inactive.err);
  t.regex(inactive.err, /^tactl: Bad Request: provider inactive, key \S+: the key is not Active/);
  const gone = await kp("show", "nokey");
  t.is(gone.code, 1, "nothing was created");
  t.regex(gone.err, /^tactl: /);
});

test.serial("--wrap-mode CBC-HMAC-SHA256 is what kmxd records for a key that may MAC; a key without MAC usage is refused for it", async (t) => {
  const mac = await kmipKey("kp-e2e-cbc", true, "Encrypt Decrypt MACGenerate MACVerify");
  const c = await kp("create", "cbc", ...CREATE(), "--key-id", mac, "--wrap-mode", "cbc-hmac-sha256");
  t.is(c.code, 0, c.err);
  t.regex(c.out, /\(version 1, mode CBC-HMAC-SHA256\)/);
  t.is((await showProvider("cbc")).mode, "CBC-HMAC-SHA256");
  const noMac = await kp("create", "cbc2", ...CREATE(), "--key-id", await kmipKey("kp-e2e-nomac"), "--wrap-mode", "CBC-HMAC-SHA256");
  t.is(noMac.code, 1, noMac.err);
  t.regex(noMac.err, /^tactl: Bad Request: provider cbc2, key \S+: .*lacks MAC Generate/);
  t.is((await kp("remove", "cbc")).code, 0);
});

test.serial("grant and revoke: the provider's clusters follow", async (t) => {
  const g = await kp("grant", "kms1", "--cluster", "default");
  t.is(g.code, 0, g.err);
  t.is(g.out, "hosts of cluster default may now use provider kms1\n");
  t.deepEqual((await showProvider("kms1")).grants, ["default"]);
  t.regex((await kp("list")).out, /\nkms1 .* default\n/);
  const r = await kp("revoke", "kms1", "--cluster", "default");
  t.is(r.code, 0, r.err);
  t.deepEqual((await showProvider("kms1")).grants, []);
  const unknown = await kp("grant", "nope", "--cluster", "default");
  t.is(unknown.code, 1);
  t.regex(unknown.err, /^tactl: Not Found: there is no provider nope/);
  const noCluster = await kp("grant", "kms1", "--cluster", "nowhere");
  t.is(noCluster.code, 1);
  t.regex(noCluster.err, /there is no trusted cluster nowhere/);
});

test.serial("rotate: kmxd's new key, then a given one; a key wrapped under version 1 still unwraps and rewrap moves it to the current version", async (t) => {
  const before = versions(await showProvider("kms1"));
  const v1: ProviderKey = { provider: "kms1", version: 1, keyId: before[0].keyId, mode: "A256GCM" };
  const client = createProviderClient({
    servers: [{ host: "127.0.0.1", port: kmipPort }],
    tls: {
      cert: await readFile(path.join(kmipTls, "client.pem"), "utf8"),
      key: await readFile(path.join(kmipTls, "client-key.pem"), "utf8"),
      ca: await readFile(path.join(kmipTls, "ca.pem"), "utf8"),
    },
  });
  try {
    const secret = new Uint8Array(32).fill(7);
    const wrapped = await wrap(client, v1, secret);
    const r = await kp("rotate", "kms1");
    t.is(r.code, 0, r.err);
    t.regex(r.out, /^provider kms1: key version 2 is current \(key \S+/);
    const given = await kmipKey("kp-e2e-3");
    const r3 = await kpJson("rotate", "kms1", "--key-id", given);
    t.truthy(r3);
    const vs = versions(await showProvider("kms1"));
    t.deepEqual(
      vs.map((v) => v.version),
      [1, 2, 3],
    );
    t.is(vs[0].keyId, v1.keyId);
    t.is(vs[2].keyId, given);
    t.not(vs[1].keyId, v1.keyId, "version 2 is a new key kmxd made on the key server");

    const wfile = path.join(dir, "wrapped-v1.txt");
    await writeFile(wfile, `${wrapped}\n`);
    const rw = await kp("rewrap", "kms1", "--file", wfile);
    t.is(rw.code, 0, rw.err);
    const moved = rw.out.trim();
    t.is(decodeWrapped(wrapped).kv, 1);
    t.is(decodeWrapped(moved).kv, 3, "rewrapped under the current version");
    const byVersion = (kv: number): ProviderKey | undefined => {
      const v = vs.find((x) => x.version === kv);
      return v === undefined ? undefined : { provider: "kms1", version: v.version, keyId: v.keyId, mode: v.mode as ProviderKey["mode"] };
    };
    t.deepEqual(await unwrap(client, byVersion, moved), secret, "the same data key");
    t.deepEqual(await unwrap(client, byVersion, wrapped), secret, "the old wrapped form still unwraps");
    const j = await kpJson("rewrap", "kms1", "--wrapped", wrapped);
    t.is(decodeWrapped(String(j.wrapped)).kv, 3);
    const bad = await kp("rewrap", "kms1", "--wrapped", Buffer.from('{"v":1}').toString("base64"));
    t.is(bad.code, 1, bad.err);
    t.regex(bad.err, /^tactl: /);
  } finally {
    client.close();
  }
});

test.serial("trust-setup: kmxd's CSR, issued by the key server's CA, then create with only the certificate", async (t) => {
  const csrFile = path.join(dir, "kms2.csr");
  const ts = await kp("trust-setup", "kms2", "--kmip-server", `127.0.0.1:${kmipPort}`, "--server-ca", path.join(kmipTls, "ca.pem"), "--csr-out", csrFile);
  t.is(ts.code, 0, ts.err);
  t.regex(ts.err, new RegExp(`wrote the CSR to ${csrFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  const csr = await readFile(csrFile, "utf8");
  t.regex(csr, /^-----BEGIN CERTIFICATE REQUEST-----/);
  const subject = execFileSync("openssl", ["req", "-in", csrFile, "-noout", "-subject", "-verify"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  t.regex(subject, /CN ?= ?tessera-kmxd-kms2/);
  // The key server's CA issues the client certificate for the CSR's key.
  const publicKeyPem = execFileSync("openssl", ["req", "-in", csrFile, "-noout", "-pubkey"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const issued = await issueCertificate(
    { certificatePem: await readFile(path.join(kmipTls, "ca.pem"), "utf8"), privateKeyPem: await readFile(path.join(kmipTls, "ca-key.pem"), "utf8") },
    { commonName: "tessera-kmxd-kms2", profile: "client", publicKeyPem },
  );
  const certFile = path.join(dir, "kms2.pem");
  await writeFile(certFile, issued.certificatePem);
  // kmipd lets kmxd's new identity use a key of kmipd-admin's.
  const keyId = await kmipKey("kp-e2e-kms2");
  const g = await tactl("kmip", "grant", keyId, "--to", "CN=tessera-kmxd-kms2", ...kmipConn);
  t.is(g.code, 0, g.err);
  const c = await kp(
    "create",
    "kms2",
    "--kmip-server",
    `127.0.0.1:${kmipPort}`,
    "--server-ca",
    path.join(kmipTls, "ca.pem"),
    "--cert",
    certFile,
    "--key-id",
    keyId,
  );
  t.is(c.code, 0, c.err);
  const p = await showProvider("kms2");
  t.is(versions(p)[0].keyId, keyId);
  // The JSON form of trust-setup carries the CSR too.
  const j = await kpJson("trust-setup", "kms3", "--kmip-server", `127.0.0.1:${kmipPort}`, "--server-ca", path.join(kmipTls, "ca.pem"));
  t.is(j.name, "kms3");
  t.regex(String(j.csr), /^-----BEGIN CERTIFICATE REQUEST-----/);
  // Without --key and without a trust set-up of that name: kmxd says which is missing.
  const none = await kp(
    "create",
    "kms4",
    "--kmip-server",
    `127.0.0.1:${kmipPort}`,
    "--server-ca",
    path.join(kmipTls, "ca.pem"),
    "--cert",
    certFile,
    "--key-id",
    keyId,
  );
  t.is(none.code, 1, none.err);
  t.regex(none.err, /no clientKey given and no trust set-up kms4/);
});

test.serial("trusted clusters: set (host pattern, EK, TPM CA), list, replace, remove; default cannot be removed", async (t) => {
  const caPem = await readFile(path.join(kmipTls, "ca.pem"), "utf8");
  const caSha = createHash("sha256").update(new X509Certificate(caPem).raw).digest("hex");
  const ek = "ab".repeat(32);
  const s = await kp("cluster", "set", "prod", "--host", "esx-*", "--ek", ek, "--tpm-ca", path.join(kmipTls, "ca.pem"));
  t.is(s.code, 0, s.err);
  t.is(s.out, "cluster prod: 3 rules (a host is in it when any matches)\n");
  const list = await kpJson("cluster", "list");
  const clusters = (Array.isArray(list) ? list : list.clusters) as { name: string; rules: unknown[] }[];
  t.deepEqual(clusters.find((c) => c.name === "prod")?.rules, [{ host: "esx-*" }, { ekFingerprint: ek }, { tpmCa: caSha }]);
  const table = await kp("cluster", "list");
  t.regex(table.out, /prod +host esx-\*\n +ek ab/);
  t.is((await kp("cluster", "set", "prod", "--host", "esx-0?")).code, 2, "a bad pattern is refused before any request");
  t.is((await kp("cluster", "set", "prod", "--host", "esx-01")).code, 0);
  const replaced = (await kpJson("cluster", "list")) as Record<string, unknown>;
  t.deepEqual(((Array.isArray(replaced) ? replaced : replaced.clusters) as { name: string; rules: unknown[] }[]).find((c) => c.name === "prod")?.rules, [
    { host: "esx-01" },
  ]);
  t.is((await kp("grant", "kms1", "--cluster", "prod")).code, 0);
  t.deepEqual((await showProvider("kms1")).grants, ["prod"]);
  const rm1 = await kp("cluster", "remove", "prod");
  t.is(rm1.code, 0, rm1.err);
  t.deepEqual((await showProvider("kms1")).grants, [], "its grants go with it");
  const after = await kpJson("cluster", "list");
  t.false(((Array.isArray(after) ? after : after.clusters) as { name: string }[]).some((c) => c.name === "prod"));
  const twice = await kp("cluster", "remove", "prod");
  t.is(twice.code, 1, "removing it twice is kmxd's problem");
  t.regex(twice.err, /^tactl: Not Found: there is no trusted cluster prod/);
  t.is((await kp("cluster", "remove", "default")).code, 2, "default is refused before any request");
  t.is((await kp("cluster", "set", "default", "--host", "x")).code, 2);
});

test.serial("audit: every change, by whom, newest first; filtered by provider", async (t) => {
  const r = await kpJson("audit", "--provider", "kms1", "--limit", "1000");
  const entries = r.entries as { actor?: string; provider?: string; operation: string; result: string; keyVersion?: number }[];
  t.true(entries.every((e) => e.provider === "kms1"));
  const ops = entries.map((e) => `${e.operation}:${e.result}`).reverse();
  t.deepEqual(
    ops.filter((o) => o.startsWith("provider.create") || o.startsWith("provider.rotate")),
    ["provider.create:ok", "provider.rotate:ok", "provider.rotate:ok"],
  );
  t.true(ops.includes("provider.rewrap:ok") && ops.includes("grant.add:ok") && ops.includes("grant.remove:ok"));
  t.true(entries.every((e) => e.actor === "admin"));
  const refused = (await kpJson("audit", "--provider", "inactive")).entries as { operation: string; result: string }[];
  t.deepEqual(
    refused.map((e) => `${e.operation}:${e.result}`),
    ["provider.create:refused"],
  );
  const table = await kp("audit", "--limit", "3");
  t.is(table.code, 0, table.err);
  t.is(table.out.trimEnd().split("\n").length, 4, "a header and three entries");
  t.regex(table.out, /^AT +WHO +PROVIDER +KV +OPERATION +RESULT +DETAILS\n/);
});

test.serial("a reader may list and show, and is refused every change (exit 1); no session at all is exit 1 too", async (t) => {
  const as = (...argv: string[]) => reader("kp", ...argv, "--server", kmxdUrl, "--ca", kmxdCa);
  const l = await as("list", "--json");
  t.is(l.code, 0, l.err);
  t.is((await as("audit")).code, 0, "the audit trail is a read");
  t.is((await as("show", "kms1")).code, 0);
  for (const argv of [
    ["create", "r1", ...CREATE(), "--key-id", "x"],
    ["remove", "kms1"],
    ["rotate", "kms1"],
    ["grant", "kms1", "--cluster", "default"],
    ["revoke", "kms1", "--cluster", "default"],
    ["cluster", "set", "r", "--host", "x"],
    ["cluster", "remove", "r"],
    ["trust-setup", "r2", "--kmip-server", `127.0.0.1:${kmipPort}`, "--server-ca", path.join(kmipTls, "ca.pem")],
  ]) {
    const r = await as(...argv);
    t.is(r.code, 1, `${argv.join(" ")}: ${r.err}`);
    t.regex(r.err, /^tactl: Forbidden/, argv.join(" "));
  }
  t.is(versions(await showProvider("kms1")).length, 3, "the reader changed nothing");
  const nobody = await tactlWith({ env: { TESSERA_HOME: path.join(dir, "nobody") } }, "kp", "list", "--server", kmxdUrl, "--ca", kmxdCa);
  t.is(nobody.code, 1);
  t.regex(nobody.err, /not logged in/);
  // A token kmxd does not take (here: not a token at all): kmxd's 401, and the hint to log in again.
  const forged = path.join(dir, "forged-home");
  await saveSession(forged, {
    server: attestdUrl,
    token: "not.a.token",
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
    subject: "admin",
    groups: ["TrustedAdmins"],
  });
  const f = await tactlWith({ env: { TESSERA_HOME: forged } }, "kp", "list", "--server", kmxdUrl, "--ca", kmxdCa);
  t.is(f.code, 1, f.err);
  t.regex(f.err, /^tactl: Unauthorized: .*; the session is for https:\/\/127\.0\.0\.1:\d+: log in again with `tactl ta login/);
  // kmxd's TLS checked against the CA given: attestd's CA is not kmxd's.
  const wrongCa = await admin("kp", "list", "--server", kmxdUrl, "--ca", attestdCa);
  t.is(wrongCa.code, 3, wrongCa.err);
  t.regex(wrongCa.err, /TLS with/);
});

test.serial("remove: the provider is gone (show is kmxd's problem), the other stays", async (t) => {
  const r = await kp("remove", "kms2");
  t.is(r.code, 0, r.err);
  t.is(r.out, "removed provider kms2: kmxd no longer serves it (its keys stay on the key servers)\n");
  const s = await kp("show", "kms2");
  t.is(s.code, 1);
  t.regex(s.err, /^tactl: /);
  const list = await kpJson("list");
  t.deepEqual(
    ((Array.isArray(list) ? list : list.providers) as { name: string }[]).map((p) => p.name),
    ["kms1"],
  );
});
