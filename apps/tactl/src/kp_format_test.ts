/**
 * `tactl kp`'s text output (kp_format.ts) on kmxd's documents, and the commands' behaviour that needs no kmxd:
 * help, usage errors (exit 2) before any request, no session (exit 1), kmxd out of reach (exit 3).
 */
import test from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createCa, issueCertificate } from "@tessera/pki";
import { tactlWith } from "./_test_support.ts";
import { auditTable, certificateSummary, clusterTable, currentVersion, kpTime, modeOf, providerListing, providerTable, ruleText } from "./kp_format.ts";
import { saveSession } from "./ta_session.ts";

const KMS1 = {
  name: "kms1",
  kmipServers: ["kms-1.example:5696", "kms-2.example:5696"],
  currentVersion: 2,
  mode: "A256GCM",
  versions: [
    { version: 2, keyId: "key-2", mode: "A256GCM", createdAt: "2026-12-03T08:00:00.000Z" },
    { version: 1, keyId: "key-1", mode: "CBC-HMAC-SHA256", createdAt: Date.parse("2026-12-01T10:00:00Z") },
  ],
  grants: ["default", "prod"],
  createdAt: Date.parse("2026-12-01T10:00:00Z"),
  updatedAt: "2026-12-03T08:00:00Z",
};

test("providerTable: one row per provider with its current version, key, mode, servers in order and clusters", (t) => {
  t.is(providerTable([]), "no key provider\n");
  const out = providerTable([KMS1, { name: "kms2", kmipServers: ["10.0.0.5:5696"], versions: [{ version: 1, keyId: "k", mode: "A256GCM" }], grants: [] }]);
  t.is(
    out,
    "NAME  VERSION  KEY ID  MODE     KMIP SERVERS                           CLUSTERS\n" +
      "kms1  2        key-2   A256GCM  kms-1.example:5696,kms-2.example:5696  default, prod\n" +
      "kms2  1        k       A256GCM  10.0.0.5:5696                          (none)\n",
  );
});

test("currentVersion/modeOf: currentVersion wins; else the highest; the mode from the provider or its current version", (t) => {
  t.is(currentVersion(KMS1)?.keyId, "key-2");
  t.is(currentVersion({ versions: [{ version: 1 }, { version: 3, keyId: "c" }, { version: 2 }] })?.keyId, "c");
  t.is(currentVersion({}), undefined);
  t.is(modeOf({ versions: [{ version: 1, mode: "CBC-HMAC-SHA256" }] }), "CBC-HMAC-SHA256");
  t.is(modeOf({ wrapMode: "A256GCM" }), "A256GCM");
  t.is(modeOf({}), "-");
});

test("providerListing: servers, mode, clusters, times (RFC 3339 or epoch ms), every version oldest first with the current marked", (t) => {
  t.is(
    providerListing(KMS1),
    "provider kms1\n" +
      "  kmip servers  kms-1.example:5696, kms-2.example:5696\n" +
      "  mode          A256GCM\n" +
      "  clusters      default, prod\n" +
      "  created       2026-12-01 10:00:00Z\n" +
      "  updated       2026-12-03 08:00:00Z\n" +
      "\n" +
      "VERSION      MODE             CREATED               KEY ID\n" +
      "1            CBC-HMAC-SHA256  2026-12-01 10:00:00Z  key-1\n" +
      "2 (current)  A256GCM          2026-12-03 08:00:00Z  key-2\n",
  );
  t.regex(providerListing({ name: "p", grants: [] }), /clusters {6}\(none: it serves no host until granted\)[\s\S]*no key version\n$/);
  t.is(kpTime(undefined), "-");
});

test("providerListing names kmxd's client certificate by subject and expiry (never more of it)", async (t) => {
  const ca = await createCa({ commonName: "KMS CA" });
  const c = await issueCertificate(ca, { commonName: "tessera-kmxd-kms1", profile: "client", notAfter: new Date("2027-06-01T00:00:00Z") });
  t.deepEqual(certificateSummary(c.certificatePem), { subject: "CN=tessera-kmxd-kms1", notAfter: "2027-06-01T00:00:00.000Z" });
  t.regex(providerListing({ ...KMS1, clientCertificate: c.certificatePem }), /\n {2}client cert {3}CN=tessera-kmxd-kms1 \(expires 2027-06-01 00:00:00Z\)\n/);
  t.is(certificateSummary("not a certificate"), undefined);
});

test("clusterTable and ruleText: one line per rule under its cluster", (t) => {
  t.is(clusterTable([]), "no trusted cluster besides default\n");
  t.is(ruleText({ host: "esx-*", ekFingerprint: "ab" }), "host esx-* and ek ab");
  t.is(
    clusterTable([
      { name: "default", rules: [], implicit: true },
      { name: "empty", rules: [] },
      { name: "prod", rules: [{ host: "esx-*" }, { tpmCa: "cd".repeat(32) }] },
    ]),
    "CLUSTER  RULES (ANY MATCHES)\n" +
      "default  (every host no other cluster claims)\n" +
      "empty    (no rule)\n" +
      "prod     host esx-*\n" +
      `         tpm-ca ${"cd".repeat(32)}\n`,
  );
});

test("auditTable: administrators by name, hosts marked, details clipped", (t) => {
  t.is(auditTable([]), "no audit entry\n");
  const out = auditTable([
    { at: "2026-12-03T08:00:01Z", host: "esx-01", provider: "kms1", keyVersion: 2, operation: "unwrap", result: "ok" },
    { at: "2026-12-03T08:00:00Z", actor: "admin", provider: "kms1", operation: "provider.rotate", result: "ok", detail: { keyId: "k".repeat(200) } },
  ]);
  const lines = out.split("\n");
  t.regex(lines[0], /^AT +WHO +PROVIDER +KV +OPERATION +RESULT +DETAILS$/);
  t.regex(lines[1], /^2026-12-03 08:00:01Z +host esx-01 +kms1 +2 +unwrap +ok$/);
  t.regex(lines[2], /^2026-12-03 08:00:00Z +admin +kms1 +- +provider\.rotate +ok +\{"keyId":"k+…$/);
  t.is([...lines[2].split("  ").pop()!].length, 100);
});

let dir: string;
let home: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-kp-cli-"));
  home = path.join(dir, "home");
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const kp = (...argv: string[]) => tactlWith({ env: { TESSERA_HOME: home } }, "kp", ...argv);

test.serial("help lists the kp commands and their options", async (t) => {
  const g = await kp("--help");
  t.is(g.code, 0);
  for (const c of [
    "create",
    "list",
    "show",
    "remove",
    "rotate",
    "rewrap",
    "trust-setup",
    "grant",
    "revoke",
    "cluster set",
    "cluster list",
    "cluster remove",
    "audit",
  ]) {
    t.true(g.out.includes(`tactl kp ${c} `), c);
  }
  const c = await kp("create", "--help");
  t.is(c.code, 0);
  t.regex(c.out, /--kmip-server HOST:PORT\[,HOST:PORT…\] --key-id ID --server-ca F --cert F \[--key F\]/);
  t.regex(
    c.out,
    /^usage: tactl kp create NAME --kmip-server .*\[--wrap-mode auto\|A256GCM\|CBC-HMAC-SHA256\] --server https:\/\/KMXD:7888 \[--ca CA\.pem\] \[--json\]\n/,
  );
  const l = await kp("list", "--help");
  t.regex(l.out, /^usage: tactl kp list --server https:\/\/KMXD:7888 \[--ca CA\.pem\] \[--json\]\n {2}--server, --ca: kmxd's address/);
});

test.serial("usage errors exit 2 before any session or request: missing --server, a bad server list, a bad wrap mode", async (t) => {
  const noServer = await kp("list");
  t.is(noServer.code, 2);
  t.regex(noServer.err, /missing --server/);
  const badList = await kp("create", "p", "--kmip-server", "kms", "--key-id", "k", "--server-ca", "x", "--cert", "y", "--server", "https://127.0.0.1:1");
  t.is(badList.code, 2, badList.err);
  t.regex(badList.err, /--kmip-server "kms": not HOST:PORT/);
  const badMode = await kp("trust-setup", "bad/name", "--kmip-server", "a:1", "--server-ca", "x", "--server", "127.0.0.1:1");
  t.is(badMode.code, 2);
  t.regex(badMode.err, /provider name "bad\/name"/);
  const both = await kp("rewrap", "p", "--wrapped", "AAAA", "--file", "f", "--server", "127.0.0.1:1");
  t.is(both.code, 2);
  t.regex(both.err, /give --wrapped B64 or --file F/);
  const dflt = await kp("cluster", "remove", "default", "--server", "127.0.0.1:1");
  t.is(dflt.code, 2);
  t.regex(dflt.err, /"default" cannot be removed/);
  const limit = await kp("audit", "--limit", "0", "--server", "127.0.0.1:1");
  t.is(limit.code, 2);
  t.regex(limit.err, /--limit "0" is not a number from 1 to 1000/);
  const http = await kp("list", "--server", "http://127.0.0.1:1");
  t.is(http.code, 2);
  t.regex(http.err, /kmxd speaks HTTPS only/);
});

test.serial("without a session: exit 1 telling to log in; with one and kmxd out of reach: exit 3 naming it", async (t) => {
  const none = await kp("list", "--server", "127.0.0.1:1");
  t.is(none.code, 1);
  t.regex(none.err, /not logged in: run `tactl ta login/);
  await saveSession(home, {
    server: "https://attestd.example:7889",
    token: "t",
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    subject: "admin",
    groups: ["TrustedAdmins"],
  });
  const down = await kp("list", "--server", "127.0.0.1:1");
  t.is(down.code, 3);
  t.regex(down.err, /cannot reach https:\/\/127\.0\.0\.1:1/);
  // --ca is read before any request: a file that is no certificate is bad input.
  await writeFile(path.join(dir, "not-ca.pem"), "nope\n");
  const badCa = await kp("list", "--server", "127.0.0.1:1", "--ca", path.join(dir, "not-ca.pem"));
  t.is(badCa.code, 2);
  t.regex(badCa.err, /--ca .*not-ca\.pem holds no PEM certificate/);
  // A key that is not the certificate's: refused locally (exit 2), nothing sent.
  const ca = await createCa({ commonName: "KMS CA" });
  const a = await issueCertificate(ca, { commonName: "a", profile: "client" });
  const b = await issueCertificate(ca, { commonName: "b", profile: "client" });
  await writeFile(path.join(dir, "ca.pem"), ca.certificatePem);
  await writeFile(path.join(dir, "a.pem"), a.certificatePem);
  await writeFile(path.join(dir, "b-key.pem"), b.privateKeyPem!);
  const mismatch = await kp(
    "create",
    "p",
    ...["--kmip-server", "127.0.0.1:5696", "--key-id", "k", "--server-ca", path.join(dir, "ca.pem")],
    ...["--cert", path.join(dir, "a.pem"), "--key", path.join(dir, "b-key.pem"), "--server", "127.0.0.1:1"],
  );
  t.is(mismatch.code, 2, mismatch.err);
  t.regex(mismatch.err, /does not match the certificate/);
});
