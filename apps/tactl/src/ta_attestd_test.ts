/**
 * `tactl ta` against a real attestd (`apps/attestd/bin/attestd`, its own process, HTTPS with the CA it made on
 * first start) and real swtpm hosts booted by libs/boot and attested through the host protocol with libs/tss:
 * sign-in and the session, the 51 vendor CAs as one bundle, CRLs, EK pins, images from an event log and a
 * manifest, host status (a green and a red host), the identity export, settings, the audit trail, a reader who
 * may read and change nothing, and the failures (problems, TLS, refused tokens) as the CLI reports them.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { bootHost, defaultHostImage, makeTestSecureBootPki, withKernel, type HostImage } from "@tessera/boot";
import { fixturePath } from "@tessera/fixtures";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { createCa } from "@tessera/pki";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { algName, decodeCredentialFile, parsePcrSelection, toHex } from "@tessera/tpm2";
import { activateAkCredential, createAk, Tpm, withAk, withEk } from "@tessera/tss";
import { type Ran, tactlWith } from "./_test_support.ts";
import { run } from "./cli.ts";
import { taRequest, TaProblemError } from "./ta_client.ts";
import { saveSession, sessionPath, type TaSession } from "./ta_session.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const TACTL = path.join(ROOT, "apps/tactl/bin/tactl");
const CA_DIR = fixturePath("tpm-ca-certs");
const FIXTURE_LOG = fixturePath("eventlogs", "go-tpm-tools_gdc-host.bin");
/** The PCRs libs/boot measures (firmware 0–7, grub 8–9, the software version 14): quoting them covers the kernel. */
const BOOT_SELECTION = "sha256:0,1,2,3,4,5,6,7,8,9,14";

interface Attestd {
  url: string;
  dataDir: string;
  caFile: string;
  passwordFile: string;
  proc: ReadyProcess;
}

let dir: string;
let attestd: Attestd;
let adminHome: string;
let readerHome: string;
let manifest: HostImage;
let green: SwtpmInstance;
let red: SwtpmInstance;
let greenLog: Uint8Array;
let redLog: Uint8Array;

/** Starts attestd as an administrator would, and waits for its ready line. */
async function startAttestd(dataDir: string): Promise<Attestd> {
  // Port 0: attestd binds first and prints (and issues tokens under) the URL with the port it got.
  const proc = await spawnReady("attestd", ATTESTD, ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m);
  const url = proc.match[1]!;
  return { url, dataDir, caFile: path.join(dataDir, "tls", "ca.pem"), passwordFile: path.join(dataDir, "admin.password"), proc };
}

const admin = (...argv: string[]): Promise<Ran> => tactlWith({ env: { TESSERA_HOME: adminHome } }, ...argv);
const reader = (...argv: string[]): Promise<Ran> => tactlWith({ env: { TESSERA_HOME: readerHome } }, ...argv);
const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

/** Boots `image` into a new swtpm (SHA-256 bank, RSA EK certificate from swtpm_setup's CA). */
async function bootedSwtpm(image: HostImage): Promise<{ sw: SwtpmInstance; log: Uint8Array }> {
  const sw = await startSwtpm({ pcrBanks: ["sha256"], eccP256Ek: false });
  const tpm = Tpm.open(sw.tcti);
  try {
    return { sw, log: (await bootHost(tpm, image)).log };
  } finally {
    await tpm.close();
  }
}

/** The host protocol (PROTOCOL.md §1–3) with libs/tss: enroll an AK, take a challenge, attest. Resolves with the answer or the problem. */
async function attest(host: string, sw: SwtpmInstance, log: Uint8Array): Promise<{ status: string; problem?: Record<string, unknown> }> {
  const endpoint = { server: attestd.url, ca: await readFile(attestd.caFile, "utf8") };
  const call = async (p: string, body?: unknown) => (await taRequest(endpoint, "POST", p, body)).body as Record<string, string>;
  const tpm = Tpm.open(sw.tcti);
  try {
    return await withEk(tpm, "rsa2048", async (ek) => {
      const ak = await createAk(tpm, ek, "rsa");
      const e = await call(`/api/v1/hosts/${host}/enrollments`, { ekCertificate: b64(ek.certificate!), akPublic: b64(ak.publicBytes) });
      const cred = decodeCredentialFile(new Uint8Array(Buffer.from(e.credential, "base64")));
      const secret = await withAk(tpm, ek, ak, (l) => activateAkCredential(tpm, ek, l, cred.credentialBlob, cred.secret));
      await call(`/api/v1/hosts/${host}/enrollments/${e.enrollment}/activation`, { secret: b64(secret) });
      const c = await call(`/api/v1/hosts/${host}/challenges`);
      const sel = parsePcrSelection(c.pcrSelection);
      const q = await withAk(tpm, ek, ak, (l) => tpm.quote(l.handle, new Uint8Array(Buffer.from(c.nonce, "hex")), sel));
      const pcrs: Record<string, Record<string, string>> = {};
      for (const [alg, bank] of await tpm.pcrRead(sel)) pcrs[algName(alg)] = Object.fromEntries([...bank].map(([i, v]) => [String(i), toHex(v)]));
      try {
        const r = await call(`/api/v1/hosts/${host}/attestations`, {
          nonce: c.nonce,
          quote: b64(q.quoted),
          signature: b64(q.signatureBytes),
          pcrs,
          eventLog: b64(log),
        });
        return { status: r.status };
      } catch (err) {
        if (err instanceof TaProblemError) return { status: "refused", problem: err.problem as Record<string, unknown> };
        throw err;
      }
    });
  } finally {
    await tpm.close();
  }
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-attestd-"));
  adminHome = path.join(dir, "admin-home");
  readerHome = path.join(dir, "reader-home");
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  await writeFile(path.join(dir, "manifest.json"), JSON.stringify(manifest));
  // The red host booted a kernel that no accepted image has.
  [attestd, { sw: green, log: greenLog }, { sw: red, log: redLog }] = await Promise.all([
    startAttestd(path.join(dir, "attestd")),
    bootedSwtpm(manifest),
    bootedSwtpm(withKernel(manifest, "ab".repeat(32))),
  ]);
  await writeFile(path.join(dir, "swtpm-ca.pem"), [...green.caCertsPem, ...red.caCertsPem].join("\n"));
});

test.after.always(async () => {
  await attestd?.proc.stop();
  await green?.stop();
  await red?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("login: a wrong password is the server's problem (exit 1); the right one keeps the session 0600 in a 0700 directory", async (t) => {
  const wrong = path.join(dir, "wrong.password");
  await writeFile(wrong, "not the password\n");
  const bad = await admin("ta", "login", "--server", attestd.url, "--ca", attestd.caFile, "--user", "admin", "--password-file", wrong);
  t.is(bad.code, 1, bad.err);
  t.is(bad.err, "tactl: Unauthorized: wrong user or password\n");
  await t.throwsAsync(stat(sessionPath(adminHome)), { code: "ENOENT" }, "a refused sign-in keeps no session");
  const ok = await admin("ta", "login", "--server", attestd.url, "--ca", attestd.caFile, "--user", "admin", "--password-file", attestd.passwordFile);
  t.is(ok.code, 0, ok.err);
  t.regex(ok.out, new RegExp(`^signed in to ${attestd.url} as admin \\(TrustedAdmins\\) until \\S+; session in ${sessionPath(adminHome)}\\n$`));
  t.is((await stat(adminHome)).mode & 0o777, 0o700);
  t.is((await stat(sessionPath(adminHome))).mode & 0o777, 0o600);
  const session = JSON.parse(await readFile(sessionPath(adminHome), "utf8")) as Record<string, unknown>;
  t.is(session.ca, await readFile(attestd.caFile, "utf8"));
  t.is(session.server, attestd.url);
  const me = await admin("ta", "whoami", "--json");
  t.is(me.code, 0, me.err);
  t.like(JSON.parse(me.out), { subject: "admin", groups: ["TrustedAdmins"], issuer: attestd.url, server: attestd.url });
});

test.serial("tpm-ca add imports the directory of 51 vendor CAs as one bundle; list, prefix remove, and the problem of a removed id", async (t) => {
  const files = (await readdir(CA_DIR)).filter((f) => f.endsWith(".pem"));
  t.is(files.length, 51);
  const distinct = new Set<string>();
  for (const f of files)
    distinct.add(
      createHash("sha256")
        .update(new X509Certificate(await readFile(path.join(CA_DIR, f))).raw)
        .digest("hex"),
    );
  const r = await admin("ta", "tpm-ca", "add", CA_DIR, "--json");
  t.is(r.code, 0, r.err);
  const added = JSON.parse(r.out) as { added: { id: string; subject: string; isRoot: boolean }[]; existing: string[] };
  t.is(added.added.length, distinct.size, "each distinct certificate once");
  t.is(added.added.length + added.existing.length, 51);
  t.deepEqual(new Set(added.added.map((c) => c.id)), distinct);
  t.true(added.added.some((c) => c.isRoot) && added.added.some((c) => !c.isRoot), "roots and intermediates");
  // One bundle: one request, so one audit entry.
  const audit = JSON.parse((await admin("ta", "audit", "--json")).out) as { entries: { action: string; target: string }[] };
  t.deepEqual(
    audit.entries.filter((e) => e.action === "tpm-ca.add").map((e) => e.target),
    [`${distinct.size} CAs`],
  );
  const again = await admin("ta", "tpm-ca", "add", ...files.slice(0, 3).map((f) => path.join(CA_DIR, f)));
  t.is(again.code, 0, again.err);
  t.is(again.out, "added 0 TPM CAs, 3 already trusted\n");
  // A directory of DER (.der, .cer) files and a PEM bundle (.crt); other files in it are not certificates to read.
  const mixed = path.join(dir, "mixed-cas");
  await mkdir(mixed);
  const pems = await Promise.all(files.slice(0, 4).map((f) => readFile(path.join(CA_DIR, f), "utf8")));
  await writeFile(path.join(mixed, "a.der"), new X509Certificate(pems[0]).raw);
  await writeFile(path.join(mixed, "b.CER"), new X509Certificate(pems[1]).raw);
  await writeFile(path.join(mixed, "bundle.crt"), pems[2] + pems[3]);
  await writeFile(path.join(mixed, "README.txt"), "not a certificate\n");
  const der = await admin("ta", "tpm-ca", "add", mixed);
  t.is(der.code, 0, der.err);
  t.is(der.out, "added 0 TPM CAs, 4 already trusted\n");
  const sw = await admin("ta", "tpm-ca", "add", path.join(dir, "swtpm-ca.pem"));
  t.is(sw.code, 0, sw.err);
  t.regex(sw.out, /^added \d+ TPM CAs?/);

  const list = await admin("ta", "tpm-ca", "list");
  t.is(list.code, 0, list.err);
  t.regex(list.out, /^ID {16}KIND {10}NOT AFTER {3}SUBJECT\n/);
  t.regex(list.out, /STM TPM EK Root CA/);
  const before = (JSON.parse((await admin("ta", "tpm-ca", "list", "--json")).out) as { cas: { id: string; subject: string }[] }).cas;
  const victim = before.find((c) => c.subject.includes("Nationz"))!;
  const removed = await admin("ta", "tpm-ca", "remove", victim.id.slice(0, 16));
  t.is(removed.code, 0, removed.err);
  t.is(removed.out, `removed TPM CA ${victim.id}\n`);
  const after = (JSON.parse((await admin("ta", "tpm-ca", "list", "--json")).out) as { cas: unknown[] }).cas;
  t.is(after.length, before.length - 1);
  const gone = await admin("ta", "tpm-ca", "remove", victim.id);
  t.is(gone.code, 1);
  t.is(gone.err, `tactl: Not Found: no trusted TPM CA ${victim.id}\n`);
  const noPrefix = await admin("ta", "tpm-ca", "remove", victim.id.slice(0, 16));
  t.is(noPrefix.code, 2);
  t.regex(noPrefix.err, /no TPM CA with an id starting/);
});

test.serial("crl add (PEM and DER), list, remove", async (t) => {
  const d = path.join(dir, "crl");
  const sh = (cmd: string) => {
    const r = spawnSync("sh", ["-ec", cmd], { cwd: d, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  await rm(d, { recursive: true, force: true });
  await mkdir(d);
  await writeFile(
    path.join(d, "ca.cnf"),
    "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n",
  );
  sh(
    "touch index.txt && echo 01 > crlnumber && " +
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 -subj '/CN=Tessera test TPM CA' " +
      "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && " +
      "openssl ca -batch -gencrl -config ca.cnf -keyfile ca.key -cert ca.pem -out crl.pem 2>/dev/null && openssl crl -in crl.pem -outform DER -out crl.der",
  );
  const add = await admin("ta", "crl", "add", path.join(d, "crl.pem"));
  t.is(add.code, 0, add.err);
  t.regex(add.out, /^added CRL [0-9a-f]{64} of CN=Tessera test TPM CA \(next update \d{4}-/);
  const der = await admin("ta", "crl", "add", path.join(d, "crl.der"), "--json");
  t.is(der.code, 0, der.err);
  t.is((JSON.parse(der.out) as { added: boolean }).added, false, "the same CRL in DER is the same CRL");
  const list = JSON.parse((await admin("ta", "crl", "list", "--json")).out) as { crls: { id: string; issuer: string }[] };
  t.is(list.crls.length, 1);
  t.is(list.crls[0].issuer, "CN=Tessera test TPM CA");
  t.regex((await admin("ta", "crl", "list")).out, /^ID +THIS UPDATE +NEXT UPDATE +ISSUER\n/);
  const rm1 = await admin("ta", "crl", "remove", list.crls[0].id.slice(0, 8));
  t.is(rm1.code, 0, rm1.err);
  t.is((await admin("ta", "crl", "list")).out, "no CRL\n");
  const notCrl = await admin("ta", "crl", "add", path.join(d, "ca.pem"));
  t.is(notCrl.code, 1);
  t.regex(notCrl.err, /^tactl: Bad Request: .*crl/);
});

test.serial("ek-pin add by certificate and by public key (files of tactl tpm ek), list, remove", async (t) => {
  const ekDir = path.join(dir, "ek");
  const ek = await tactlWith({}, "tpm", "ek", "--tcti", green.tcti, "--out-dir", ekDir);
  t.is(ek.code, 0, ek.err);
  const byCert = await admin("ta", "ek-pin", "add", "--host", "pinned-by-cert", "--ek-cert", path.join(ekDir, "ek-cert.der"));
  t.is(byCert.code, 0, byCert.err);
  t.regex(byCert.out, /^pinned the EK of pinned-by-cert: fingerprint [0-9a-f]{64} \(by certificate\)\n$/);
  const byKey = await admin("ta", "ek-pin", "add", "--host", "pinned-by-key", "--ek-pub", path.join(ekDir, "ek.pub"), "--json");
  t.is(byKey.code, 0, byKey.err);
  const byPem = await admin("ta", "ek-pin", "add", "--host", "pinned-by-pem", "--ek-pub", path.join(ekDir, "ek.pem"), "--json");
  t.is(byPem.code, 0, byPem.err);
  const fp = (r: Ran) => (JSON.parse(r.out) as { pin: { ekFingerprint: string } }).pin.ekFingerprint;
  t.is(fp(byKey), fp(byPem), "ek.pub and ek.pem are the same key");
  t.true(byCert.out.includes(fp(byKey)), "and the certificate's");
  const list = await admin("ta", "ek-pin", "list");
  t.regex(list.out, /^HOST {12}BY {11}ADDED {17}EK FINGERPRINT/);
  t.regex(list.out, /pinned-by-cert {2}certificate/);
  t.regex(list.out, /pinned-by-key {3}public key/);
  t.is((await admin("ta", "ek-pin", "remove", "pinned-by-pem")).code, 0);
  const missing = await admin("ta", "ek-pin", "remove", "pinned-by-pem");
  t.is(missing.code, 1);
  t.is(missing.err, "tactl: Not Found: no EK pin for host pinned-by-pem\n");
  const notCert = await admin("ta", "ek-pin", "add", "--host", "x", "--ek-cert", path.join(CA_DIR, (await readdir(CA_DIR))[0]));
  t.is(notCert.code, 1);
  t.regex(notCert.err, /^tactl: Bad Request: .*CA certificate, not an EK certificate/);
});

test.serial("image add from a known-good event log and from a boot manifest; list, show, a second add of a version, remove", async (t) => {
  const fromLog = await admin("ta", "image", "add", "--from-log", FIXTURE_LOG, "--name", "gdc-host", "--version", "2024.1");
  t.is(fromLog.code, 0, fromLog.err);
  t.regex(fromLog.out, /^added image gdc-host 2024\.1: kernel \/vmlinuz-6\.9\.0-rc7\+, 3 boot applications, Secure Boot off\n$/);
  const fromManifest = await admin("ta", "image", "add", "--manifest", path.join(dir, "manifest.json"), "--name", "tessera-host", "--version", "1");
  t.is(fromManifest.code, 0, fromManifest.err);
  t.regex(fromManifest.out, /^added image tessera-host 1: .*Secure Boot on/);
  const dup = await admin("ta", "image", "add", "--from-log", FIXTURE_LOG, "--name", "gdc-host", "--version", "2024.1");
  t.is(dup.code, 1);
  t.is(dup.err, "tactl: Conflict: image gdc-host version 2024.1 exists already; add a new version\n");
  await admin("ta", "image", "add", "--from-log", FIXTURE_LOG, "--name", "gdc-host", "--version", "2024.2", "--firmware");
  const list = JSON.parse((await admin("ta", "image", "list", "--json")).out) as { images: { name: string; version: string }[] };
  t.deepEqual(list.images.map((i) => `${i.name} ${i.version}`).sort(), ["gdc-host 2024.1", "gdc-host 2024.2", "tessera-host 1"]);
  const table = await admin("ta", "image", "list");
  t.regex(table.out, /^NAME +VERSION +ADDED +SUMMARY\n/);
  const show = await admin("ta", "image", "show", "gdc-host");
  t.is(show.code, 0, show.err);
  t.regex(show.out, /^gdc-host 2024\.1 \(added .*\)\n {2}Secure Boot {2}off/);
  t.regex(show.out, /kernel {7}\/vmlinuz-6\.9\.0-rc7\+ sha256:f53c6df6/);
  t.regex(show.out, /shim {9}\\EFI\\ubuntu\\shimx64\.efi sha256:/);
  t.regex(show.out, /firmware {5}gdc-host/);
  const showJson = JSON.parse((await admin("ta", "image", "show", "gdc-host", "--json")).out) as { versions: unknown[] };
  t.is(showJson.versions.length, 2);
  const rmv = await admin("ta", "image", "remove", "gdc-host", "--version", "2024.2");
  t.is(rmv.code, 0, rmv.err);
  t.is(rmv.out, "removed image gdc-host 2024.2\n");
  const none = await admin("ta", "image", "show", "no-such-image");
  t.is(none.code, 1);
  t.is(none.err, "tactl: Not Found: no image no-such-image\n");
});

test.serial("settings: shown, changed with --set (typed), a bad value refused by the server naming the field", async (t) => {
  const set = await admin("ta", "settings", "--set", `pcrSelection=${BOOT_SELECTION}`, "--set", "tokenLifetimeSeconds=300");
  t.is(set.code, 0, set.err);
  t.regex(set.out, /^ekTrustMode {16}ca\n/m);
  t.regex(set.out, /^pcrSelection {15}sha256:0,1,2,3,4,5,6,7,8,9,14\n/m);
  t.regex(set.out, /^tokenLifetimeSeconds {7}300\n/m);
  const json = JSON.parse((await admin("ta", "settings", "--json")).out) as Record<string, unknown>;
  t.like(json, { ekTrustMode: "ca", pcrSelection: BOOT_SELECTION, secureBootRequired: true, tokenLifetimeSeconds: 300 });
  const bad = await admin("ta", "settings", "--set", "pcrSelection=sha256:99");
  t.is(bad.code, 1);
  t.regex(bad.err, /^tactl: Bad Request: .*pcrSelection.*0-23\n$/);
  const tooShort = await admin("ta", "settings", "--set", "tokenLifetimeSeconds=1");
  t.is(tooShort.code, 1);
  t.regex(tooShort.err, /^tactl: Bad Request: .*tokenLifetimeSeconds/);
});

test.serial("host list and show: a green host and a red one with every failed check; colour only on a terminal", async (t) => {
  t.is((await attest("green-1", green, greenLog)).status, "affirming");
  const r = await attest("red-1", red, redLog);
  t.is(r.status, "refused", JSON.stringify(r));
  const list = await admin("ta", "host", "list");
  t.is(list.code, 0, list.err);
  t.false(list.out.includes("\x1b["), "no colour when not on a terminal");
  const lines = list.out.split("\n");
  t.regex(lines[0], /^HOST +STATUS +LAST ATTEMPT +TOKEN EXPIRES +IMAGE +MESSAGE$/);
  t.regex(list.out, /^green-1 {2}green {3}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}\d{4}-.*Z {2}tessera-host 1 {2}\S/m);
  t.regex(list.out, /^red-1 {4}red {5}\d{4}-.*image-unknown/m);
  t.regex(list.out, /^2 hosts: 1 green, 1 red, 0 stale, 0 unknown\n$/m);
  const coloured = await tactlWith({ env: { TESSERA_HOME: adminHome }, colour: true }, "ta", "host", "list");
  t.true(coloured.out.includes("\x1b[32mgreen\x1b[0m"));
  t.true(coloured.out.includes("\x1b[31mred\x1b[0m"));
  const json = JSON.parse((await admin("ta", "host", "list", "--json")).out) as { hosts: { host: string; status: string }[]; summary: Record<string, number> };
  t.deepEqual(json.summary, { green: 1, red: 1, stale: 0, unknown: 0, total: 2 });
  t.deepEqual(json.hosts.map((h) => `${h.host} ${h.status}`).sort(), ["green-1 green", "red-1 red"]);

  const redShow = await admin("ta", "host", "show", "red-1");
  t.is(redShow.code, 0, redShow.err);
  t.regex(redShow.out, /^red-1: red: /);
  t.regex(redShow.out, /^ {2}enrolled {8}\d{4}-/m);
  t.regex(redShow.out, /^ {2}EK fingerprint {2}[0-9a-f]{64}$/m);
  t.regex(redShow.out, /^failed checks of the last attempt \(.*\), \d+:$/m);
  t.regex(redShow.out, /^ {2}image-unknown: .*kernel .*digest differs.*$/m);
  t.regex(redShow.out, /^ {4}component .*kernel .*vmlinuz-6\.1\.0-28-amd64.*$/m);
  t.regex(redShow.out, /^ {4}closest image tessera-host 1$/m);
  t.regex(redShow.out, /^ {4}expected [0-9a-f]{64}\n {4}measured (ab){32}$/m);
  t.regex(redShow.out, /^history \(1 attempt, newest first\):\n {2}AT .*\n {2}\d{4}-\S+ \S+ {2}red {4}/m);
  const redJson = JSON.parse((await admin("ta", "host", "show", "red-1", "--json")).out) as { history: { failures: { check: string; image?: string }[] }[] };
  t.true(
    redJson.history[0].failures.some((f) => f.check === "image-unknown" && f.image === "tessera-host 1"),
    JSON.stringify(redJson),
  );
  const greenShow = await admin("ta", "host", "show", "green-1");
  t.regex(greenShow.out, /^green-1: green: /);
  t.false(greenShow.out.includes("failed checks"));
  t.regex(greenShow.out, /tessera-host 1 {2}on {11}-/);
  const none = await admin("ta", "host", "show", "nobody");
  t.is(none.code, 1);
  t.is(none.err, "tactl: Not Found: no host nobody\n");
});

test.serial("export-identity writes the cluster's identity: its URL, the TLS CA attestd made, the token keys", async (t) => {
  const file = path.join(dir, "identity.json");
  const r = await admin("ta", "export-identity", "-o", file);
  t.is(r.code, 0, r.err);
  t.is(r.out, "");
  t.regex(r.err, new RegExp(`^wrote the identity of cluster 127\\.0\\.0\\.1 \\(${attestd.url.replace(/\./g, "\\.")}, 1 token key\\(s\\)\\) to `));
  const id = JSON.parse(await readFile(file, "utf8")) as {
    cluster: string;
    attestationService: string;
    tlsCa: string;
    jwks: { keys: { kty: string; kid: string }[] };
  };
  t.is(id.attestationService, attestd.url);
  t.is(id.tlsCa, await readFile(attestd.caFile, "utf8"));
  t.is(id.jwks.keys[0].kty, "EC");
  const stdout = await admin("ta", "export-identity");
  t.deepEqual(JSON.parse(stdout.out), id);
});

test.serial("a TrustedReaders account reads status and changes nothing: every change is Forbidden", async (t) => {
  const pwFile = path.join(dir, "reader.password");
  const add = await admin("ta", "account", "add", "ops-reader", "--group", "TrustedReaders", "--password-out", pwFile);
  t.is(add.code, 0, add.err);
  t.is(add.out, `added account ops-reader (TrustedReaders)\nits generated password is in ${pwFile} (0600)\n`);
  t.is((await stat(pwFile)).mode & 0o777, 0o600);
  const accounts = JSON.parse((await admin("ta", "account", "list", "--json")).out) as { accounts: { user: string; groups: string[] }[] };
  t.deepEqual(accounts.accounts.map((a) => `${a.user}:${a.groups.join(",")}`).sort(), ["admin:TrustedAdmins", "ops-reader:TrustedReaders"]);

  const login = await reader("ta", "login", "--server", attestd.url, "--ca", attestd.caFile, "--user", "ops-reader", "--password-file", pwFile);
  t.is(login.code, 0, login.err);
  for (const argv of [
    ["ta", "host", "list"],
    ["ta", "tpm-ca", "list"],
    ["ta", "image", "list"],
    ["ta", "settings"],
    ["ta", "audit"],
    ["ta", "export-identity"],
  ]) {
    const r = await reader(...argv);
    t.is(r.code, 0, `${argv.join(" ")}: ${r.err}`);
  }
  const before = (await admin("ta", "tpm-ca", "list", "--json")).out;
  const changes = [
    ["ta", "tpm-ca", "add", CA_DIR],
    ["ta", "settings", "--set", "ekTrustMode=pin"],
    ["ta", "image", "remove", "tessera-host"],
    ["ta", "host", "remove", "green-1"],
    ["ta", "ek-pin", "remove", "pinned-by-key"],
    ["ta", "account", "add", "mallory", "--group", "TrustedAdmins"],
    ["ta", "account", "list"],
    ["ta", "signing-key", "rotate"],
  ];
  for (const argv of changes) {
    const r = await reader(...argv);
    t.is(r.code, 1, `${argv.join(" ")}: ${r.err}`);
    t.regex(r.err, /^tactl: Forbidden: .*TrustedAdmins/, argv.join(" "));
  }
  t.is((await admin("ta", "tpm-ca", "list", "--json")).out, before);
  t.like(JSON.parse((await admin("ta", "settings", "--json")).out), { ekTrustMode: "ca" });
  t.is((await admin("ta", "image", "show", "tessera-host")).code, 0);
  t.is((await admin("ta", "host", "show", "green-1")).code, 0);
  const audit = JSON.parse((await admin("ta", "audit", "--json")).out) as { entries: { actor: string }[] };
  t.false(
    audit.entries.some((e) => e.actor === "ops-reader"),
    "the reader's attempts changed nothing",
  );
});

test.serial("audit: who changed what, newest first, --limit", async (t) => {
  const r = await admin("ta", "audit", "--limit", "3", "--json");
  t.is(r.code, 0, r.err);
  const entries = (JSON.parse(r.out) as { entries: { actor: string; action: string; at: string }[] }).entries;
  t.is(entries.length, 3);
  t.is(entries[0].action, "account.add");
  t.true(entries.every((e) => e.actor === "admin"));
  t.true(Date.parse(entries[0].at) >= Date.parse(entries[2].at));
  const text = await admin("ta", "audit");
  t.regex(text.out, /^AT {20}ACTOR {2}ACTION {9,}TARGET/);
  t.regex(text.out, /admin {2}tpm-ca\.add +\d+ CAs +\{"ids":\["[0-9a-f]{64}",.*…$/m, "long details are clipped");
  t.regex(text.out, /admin {2}settings\.update/);
});

test.serial("TLS failures and refused tokens: a session with the wrong CA (exit 3), without a CA, a token the server does not take (exit 1)", async (t) => {
  const session = JSON.parse(await readFile(sessionPath(adminHome), "utf8")) as TaSession;
  const other = await createCa({ commonName: "Some other CA" });
  const wrongHome = path.join(dir, "wrong-ca-home");
  await saveSession(wrongHome, { ...session, ca: other.certificatePem });
  const wrong = await tactlWith({ env: { TESSERA_HOME: wrongHome } }, "ta", "host", "list");
  t.is(wrong.code, 3, wrong.err);
  t.true(wrong.err.startsWith(`tactl: TLS with ${attestd.url} failed: `), wrong.err);
  t.regex(wrong.err, /is the session's CA the one that signed the server's certificate\?\)\n$/);
  const noCa = await tactlWith(
    { env: { TESSERA_HOME: path.join(dir, "no-ca-home") } },
    "ta",
    "login",
    "--server",
    attestd.url,
    "--user",
    "admin",
    "--password-file",
    attestd.passwordFile,
  );
  t.is(noCa.code, 3, noCa.err);
  t.regex(noCa.err, /\(give the server's CA with --ca\)\n$/);
  const forgedHome = path.join(dir, "forged-home");
  const token = session.token;
  await saveSession(forgedHome, { ...session, token: `${token.slice(0, -4)}AAAA` });
  const forged = await tactlWith({ env: { TESSERA_HOME: forgedHome } }, "ta", "host", "list");
  t.is(forged.code, 1, forged.err);
  t.regex(forged.err, new RegExp(`^tactl: Unauthorized: .*; log in again with \`tactl ta login --server ${attestd.url} …\`\\n$`));
});

test.serial("the tactl process (bin/tactl, output to a pipe): plain table, exit codes and the problem line", (t) => {
  // FORCE_COLOR must not colour a pipe. Without NO_COLOR (CI sets it): Node warns on stderr when both are set.
  const { NO_COLOR: _noColor, ...env } = process.env;
  const runBin = (home: string, ...argv: string[]) =>
    spawnSync(TACTL, argv, { encoding: "utf8", timeout: 60_000, env: { ...env, TESSERA_HOME: home, FORCE_COLOR: "1" } });
  const list = runBin(adminHome, "ta", "host", "list");
  t.is(list.status, 0, list.stderr);
  t.false(list.stdout.includes("\x1b["));
  t.regex(list.stdout, /^green-1 {2}green /m);
  const refused = runBin(readerHome, "ta", "settings", "--set", "secureBootRequired=false");
  t.is(refused.status, 1);
  t.regex(refused.stderr, /^tactl: Forbidden: /);
  const usage = runBin(readerHome, "ta", "host", "show");
  t.is(usage.status, 2);
});

test.serial("signing-key rotate: a new active key, the old one still published, the session still good", async (t) => {
  const before = JSON.parse((await admin("ta", "signing-key", "list", "--json")).out) as { keys: { kid: string; active: boolean }[] };
  t.is(before.keys.length, 1);
  const r = await admin("ta", "signing-key", "rotate");
  t.is(r.code, 0, r.err);
  t.regex(r.out, new RegExp(`^new token signing key \\S+; ${before.keys[0].kid} retired \\(published until its last token expires\\)\\n$`));
  const list = await admin("ta", "signing-key", "list");
  t.is(list.code, 0, list.err);
  t.regex(list.out, /^KID +STATE +CREATED +RETIRED +LAST TOKEN EXPIRES\n/);
  t.regex(list.out, new RegExp(`^${before.keys[0].kid} +retired +`, "m"));
  t.regex(list.out, / active /);
  const identity = JSON.parse((await admin("ta", "export-identity")).out) as { jwks: { keys: { kid: string }[] } };
  t.is(identity.jwks.keys.length, 2, "the retired key is published while its tokens (this session's) live");
  t.is((await admin("ta", "whoami")).code, 0);
});

test.serial("events follows status changes; host remove forgets a host (and is pushed); logout ends the session", async (t) => {
  let out = "";
  let err = "";
  let ready!: () => void;
  const following = new Promise<void>((resolve) => (ready = resolve));
  const watcher = run(["ta", "events", "--count", "1"], {
    stdout: (x) => (out += x),
    stderr: (x) => {
      err += x;
      if (err.includes("following")) ready();
    },
    env: { TESSERA_HOME: readerHome },
  });
  await Promise.race([following, watcher]);
  t.is(err, `following the status changes of ${attestd.url}\n`);
  const r = await admin("ta", "host", "remove", "red-1");
  t.is(r.code, 0, r.err);
  t.is(r.out, "removed host red-1: its enrollment and history are gone; it must enroll again\n");
  t.is(await watcher, 0, err);
  t.regex(out, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}red-1 {2}red -> unknown {2}host removed\n$/);
  t.regex((await admin("ta", "host", "list")).out, /^1 host: 1 green, 0 red, 0 stale, 0 unknown\n$/m);
  const bye = await admin("ta", "logout");
  t.is(bye.code, 0);
  const after = await admin("ta", "whoami");
  t.is(after.code, 1);
  t.regex(after.err, /^tactl: not logged in/);
});
