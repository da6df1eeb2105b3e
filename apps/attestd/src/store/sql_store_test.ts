import test from "ava";
import type { ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ImageModel } from "@tessera/host-image";
import { postgresForTests } from "@tessera/postgres-testing";
import { openDatabase, type Db } from "@tessera/sql";
import { openAttestdStore, type StoreOptions } from "./sql_store.ts";
import type { AttestationRecord, AttestdStore, EnrollmentRecord, HostRecord, NonceRecord, SigningKeyRecord } from "./store.ts";

const dirs: string[] = [];
const toClose: AttestdStore[] = [];

test.after.always(async () => {
  for (const s of toClose) await s.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
// After the hook above: the connections close before the server stops.
const pg = postgresForTests(test);

/** One fresh database: `open()` opens a store on it (a new connection / pool each time). */
interface Backend {
  name: string;
  fresh(): Promise<() => Promise<AttestdStore>>;
}

const BACKENDS: Backend[] = [
  {
    name: "SQLite",
    async fresh() {
      const dir = await mkdtemp(path.join(tmpdir(), "attestd-store-"));
      dirs.push(dir);
      return () => opened(openDatabase({ sqlite: path.join(dir, "attestd.db") }));
    },
  },
  {
    // The attestation path's writes (nonces, attempts, token expiries) on attestd's writer thread, as bootstrap opens it.
    name: "SQLite with its writer thread",
    async fresh() {
      const dir = await mkdtemp(path.join(tmpdir(), "attestd-store-"));
      dirs.push(dir);
      const file = path.join(dir, "attestd.db");
      return () => opened(openDatabase({ sqlite: file }), { writerFile: file });
    },
  },
  {
    name: "PostgreSQL",
    async fresh() {
      const url = await pg.createDatabase();
      return () => opened(openDatabase({ postgres: url }));
    },
  },
];

async function opened(db: Promise<Db>, options: StoreOptions = {}): Promise<AttestdStore> {
  const s = await openAttestdStore(await db, options);
  toClose.push(s);
  return s;
}

function contract(title: string, fn: (t: ExecutionContext, open: () => Promise<AttestdStore>) => Promise<void>): void {
  for (const b of BACKENDS) test(`${b.name} store: ${title}`, async (t) => fn(t, await b.fresh()));
}

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

function enrollment(over: Partial<EnrollmentRecord> = {}): EnrollmentRecord {
  return {
    id: randomUUID(),
    host: "h1.example.test",
    akPublic: bytes(90),
    akName: `000b${randomBytes(32).toString("hex")}`,
    ekPublic: bytes(300),
    ekFingerprint: randomBytes(32).toString("hex"),
    ekCertificate: bytes(800),
    secretHash: bytes(32),
    createdAt: 1_000,
    expiresAt: 2_000,
    ...over,
  };
}

function nonce(over: Partial<NonceRecord> = {}): NonceRecord {
  return {
    nonce: randomBytes(32).toString("hex"),
    host: "h1.example.test",
    pcrSelection: "sha256:0,1,2,3,4,5,6,7",
    createdAt: 1_000,
    expiresAt: 2_000,
    ...over,
  };
}

function hostRecord(host: string, over: Partial<HostRecord> = {}): HostRecord {
  return { host, akPublic: bytes(90), akName: "000b" + "aa".repeat(32), ekPublic: bytes(300), ekFingerprint: "ff".repeat(32), enrolledAt: 500, ...over };
}

function attempt(host: string, at: number, over: Partial<AttestationRecord> = {}): AttestationRecord {
  return { id: randomUUID(), host, at, status: "affirming", failures: [], ...over };
}

const image = (name: string, version: string): ImageModel => ({
  name,
  version,
  bootChain: [],
  kernelCommandLine: "/vmlinuz root=/dev/sda1",
  secureBoot: { enabled: true, pk: ["aa"], kek: [], db: ["bb"], dbx: [] },
});

contract("an enrollment is consumed once by its host; used, expired, unknown and other-host are told apart", async (t, open) => {
  const s = await open();
  const e = enrollment();
  await s.putEnrollment(e);
  const bare = enrollment({ host: "h2.example.test", ekCertificate: undefined });
  delete (bare as { ekCertificate?: Uint8Array }).ekCertificate;
  await s.putEnrollment(bare);
  t.deepEqual(await s.consumeEnrollment("other.example.test", e.id, 1_500), { ok: false, reason: "other-host" });
  t.deepEqual(await s.consumeEnrollment(e.host, e.id, 1_500), { ok: true, value: e }, "still consumable by its host");
  t.deepEqual(await s.consumeEnrollment(e.host, e.id, 1_600), { ok: false, reason: "used", value: e });
  t.deepEqual(await s.consumeEnrollment(bare.host, bare.id, 2_000), { ok: false, reason: "expired", value: bare }, "expired at expiresAt");
  t.deepEqual(await s.consumeEnrollment(bare.host, bare.id, 1_999), { ok: true, value: bare }, "an expired refusal consumed nothing");
  t.deepEqual(await s.consumeEnrollment(e.host, randomUUID(), 1_500), { ok: false, reason: "unknown" });
});

contract("a nonce is consumed once by its host; used, expired, unknown and other-host are told apart", async (t, open) => {
  const s = await open();
  const n = nonce();
  const late = nonce();
  await s.putNonce(n);
  await s.putNonce(late);
  t.deepEqual(await s.consumeNonce("h2.example.test", n.nonce, 1_100), { ok: false, reason: "other-host" });
  t.deepEqual(await s.consumeNonce(n.host, n.nonce, 1_100), { ok: true, value: n });
  t.deepEqual(await s.consumeNonce(n.host, n.nonce, 1_100), { ok: false, reason: "used", value: n });
  t.deepEqual(await s.consumeNonce(late.host, late.nonce, 2_001), { ok: false, reason: "expired", value: late });
  t.deepEqual(await s.consumeNonce(n.host, "00".repeat(32), 1_100), { ok: false, reason: "unknown" });
});

contract("putNonceIf stores the nonce only while the stored settings are those it was built from; else the current stamp, nothing stored", async (t, open) => {
  const a = await open();
  const b = await open(); // another node of the same database
  const first = nonce();
  t.deepEqual(await a.putNonceIf(first, "null"), { ok: true }, "no settings stored: built from none");
  t.true((await a.consumeNonce(first.host, first.nonce, 1_100)).ok);
  await b.putSettings({ pcrSelection: "sha256:0,1,2" });
  const stale = nonce();
  const refused = await a.putNonceIf(stale, "null");
  t.false(refused.ok);
  t.deepEqual(refused.ok ? undefined : refused.stamp, await a.getPolicyStamp(), "the current stamp, to build the record again");
  t.deepEqual(await a.consumeNonce(stale.host, stale.nonce, 1_100), { ok: false, reason: "unknown" }, "nothing stored");
  const again = nonce({ pcrSelection: "sha256:0,1,2" });
  t.deepEqual(await a.putNonceIf(again, JSON.stringify({ pcrSelection: "sha256:0,1,2" })), { ok: true });
  t.deepEqual(await b.consumeNonce(again.host, again.nonce, 1_100), { ok: true, value: again });
});

contract("purgeExpired deletes expired nonces and enrollments only, and counts them", async (t, open) => {
  const s = await open();
  const old = nonce({ expiresAt: 1_500 });
  const fresh = nonce({ expiresAt: 3_000 });
  await s.putNonce(old);
  await s.putNonce(fresh);
  await s.putEnrollment(enrollment({ expiresAt: 1_200 }));
  const keep = enrollment({ expiresAt: 5_000 });
  await s.putEnrollment(keep);
  t.is(await s.purgeExpired(2_000), 2);
  t.is(await s.purgeExpired(2_000), 0);
  t.deepEqual(await s.consumeNonce(old.host, old.nonce, 1_000), { ok: false, reason: "unknown" });
  t.true((await s.consumeNonce(fresh.host, fresh.nonce, 2_500)).ok);
  t.true((await s.consumeEnrollment(keep.host, keep.id, 2_500)).ok);
});

contract("20 concurrent consumeNonce of one nonce on two stores of one database: exactly one ok, the rest used", async (t, open) => {
  const a = await open();
  const b = await open();
  for (let round = 0; round < 5; round++) {
    const n = nonce();
    await a.putNonce(n);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consumeNonce(n.host, n.nonce, 1_500)));
    t.is(results.filter((r) => r.ok).length, 1, `round ${round}: one winner`);
    t.is(results.filter((r) => !r.ok && r.reason === "used").length, 19, `round ${round}: the others are told it was used`);
  }
  const e = enrollment();
  await b.putEnrollment(e);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consumeEnrollment(e.host, e.id, 1_500)));
  t.is(results.filter((r) => r.ok).length, 1, "one enrollment activation wins");
});

contract("hosts: put, replace, get and remove (with their history and pending challenges)", async (t, open) => {
  const s = await open();
  const h = hostRecord("h1.example.test", { ekCertificate: bytes(700) });
  await s.putHost(h);
  t.deepEqual(await s.getHost(h.host), h);
  const replaced = hostRecord("h1.example.test", { enrolledAt: 900 });
  await s.putHost(replaced);
  t.deepEqual(await s.getHost(h.host), replaced, "the new AK replaces the old one (and the certificate it had is gone)");
  t.is(await s.getHost("nobody"), undefined);
  await s.addAttestation(attempt(h.host, 1_000));
  const n = nonce({ host: h.host });
  await s.putNonce(n);
  t.true(await s.removeHost(h.host));
  t.false(await s.removeHost(h.host));
  t.is(await s.getHost(h.host), undefined);
  t.deepEqual(await s.listAttestations(h.host, 10), []);
  t.is(await s.getHostStatus(h.host, 1_000), undefined);
  t.deepEqual(await s.consumeNonce(h.host, n.nonce, 1_500), { ok: false, reason: "unknown" });
});

contract("attestations: newest first, limited, every field kept", async (t, open) => {
  const s = await open();
  const a1 = attempt("h1", 1_000, { tokenId: "jti-1", tokenExpiresAt: 5_000, image: { name: "deb", version: "1" }, secureBoot: true });
  const a2 = attempt("h1", 2_000, {
    status: "contraindicated",
    failures: [
      { check: "pcr-mismatch", detail: "PCR 4 differs", pcr: 4, expected: "aa" },
      { check: "secure-boot-off", detail: "Secure Boot is off" },
    ],
    secureBoot: false,
  });
  const a3 = attempt("h1", 2_000);
  await s.addAttestation(a1);
  await s.addAttestation(a2);
  await s.addAttestation(a3);
  await s.addAttestation(attempt("h2", 3_000));
  t.deepEqual(await s.listAttestations("h1", 10), [a3, a2, a1], "same time: the later recorded first");
  t.deepEqual(await s.listAttestations("h1", 1), [a3]);
  t.deepEqual(await s.listAttestations("nobody", 10), []);
});

contract("pruneAttestations deletes attempts before the cut-off except each host's last one, in batches, and counts them", async (t, open) => {
  const s = await open();
  // h1: 4,500 old attempts (more than one batch) and one recent; h2: only old ones, its last must stay (its status).
  for (let i = 0; i < 4_500; i++) await s.addAttestation(attempt("h1", 1_000 + i));
  const recent = attempt("h1", 50_000);
  await s.addAttestation(recent);
  const h2 = [attempt("h2", 2_000), attempt("h2", 3_000, { status: "contraindicated", failures: [{ check: "pcr-mismatch", detail: "PCR 4" }] })];
  for (const a of h2) await s.addAttestation(a);
  const before = await s.getHostStatus("h2", 4_000);
  t.is(await s.pruneAttestations(10_000), 4_500 + 1);
  t.deepEqual(await s.listAttestations("h1", 10), [recent]);
  t.deepEqual(await s.listAttestations("h2", 10), [h2[1]], "h2's last attempt is kept although it is old");
  t.deepEqual(await s.getHostStatus("h2", 4_000), before, "h2's status is what it was");
  t.is(await s.pruneAttestations(10_000), 0, "nothing more to prune");
  // The next attempt still records (the last-attempt pointer moved from the kept row).
  t.like(await s.addAttestation(attempt("h2", 60_000)), { previous: "red" });
});

contract("host status: green, stale, red and unknown at chosen times, with messages", async (t, open) => {
  const s = await open();
  await s.putHost(hostRecord("a-unknown"));
  await s.putHost(hostRecord("b-green"));
  await s.addAttestation(attempt("b-green", 1_000, { tokenExpiresAt: 10_000, tokenId: "t1", image: { name: "deb", version: "2" } }));
  await s.addAttestation(attempt("c-red", 1_000, { tokenExpiresAt: 10_000 }));
  await s.addAttestation(
    attempt("c-red", 2_000, {
      status: "contraindicated",
      failures: [
        { check: "kernel-unknown", detail: "kernel sha256:ab is in no image" },
        { check: "x", detail: "y" },
      ],
    }),
  );
  const back = attempt("d-back", 2_000, { tokenExpiresAt: 20_000 });
  await s.addAttestation(attempt("d-back", 1_000, { status: "contraindicated", failures: [{ check: "quote-signature", detail: "bad" }] }));
  await s.addAttestation(back);
  // An older attempt recorded late (a slow node) does not replace the newer one as the host's last.
  await s.addAttestation(attempt("e-late", 3_000, { tokenExpiresAt: 20_000 }));
  await s.addAttestation(attempt("e-late", 2_500, { status: "contraindicated", failures: [{ check: "quote-signature", detail: "bad" }] }));

  const at5 = await s.listHostStatus(5_000);
  t.deepEqual(
    at5.map((h) => [h.host, h.status]),
    [
      ["a-unknown", "unknown"],
      ["b-green", "green"],
      ["c-red", "red"],
      ["d-back", "green"],
      ["e-late", "green"],
    ],
  );
  const red = at5.find((h) => h.host === "c-red")!;
  t.is(red.message, "kernel-unknown: kernel sha256:ab is in no image");
  t.is(red.lastAttempt?.status, "contraindicated");
  t.is(red.enrolledAt, undefined, "attempted without an enrolment: listed, no enrolledAt");
  const unknown = at5.find((h) => h.host === "a-unknown")!;
  t.is(unknown.enrolledAt, 500);
  t.is(unknown.lastAttempt, undefined);
  t.deepEqual(at5.find((h) => h.host === "d-back")?.lastAttempt, back);
  t.regex(at5.find((h) => h.host === "b-green")!.message, /deb 2/);

  const at10 = await s.listHostStatus(10_000);
  const stale = at10.find((h) => h.host === "b-green")!;
  t.is(stale.status, "stale", "the token expired at 10 000: stale from then on");
  t.is(stale.message, `token expired at ${new Date(10_000).toISOString()}`);
  t.is(at10.find((h) => h.host === "d-back")?.status, "green");
  t.is(at10.find((h) => h.host === "c-red")?.status, "red", "red stays red when its earlier token expires");

  t.is((await s.getHostStatus("b-green", 9_999))?.status, "green");
  t.is((await s.getHostStatus("b-green", 10_000))?.status, "stale");
  t.deepEqual(await s.getHostStatus("a-unknown", 0), unknown);
  t.is(await s.getHostStatus("nobody", 0), undefined);
});

contract("TPM CAs, CRLs and EK pins: add once, list, replace pins, remove", async (t, open) => {
  const s = await open();
  const ca1 = { id: "11".repeat(32), certificate: bytes(900), subject: "CN=Root A", addedAt: 1 };
  const ca2 = { id: "22".repeat(32), certificate: bytes(900), subject: "CN=Intermediate B", addedAt: 2 };
  t.true(await s.addTpmCa(ca2));
  t.true(await s.addTpmCa(ca1));
  t.false(await s.addTpmCa({ ...ca1, subject: "changed", addedAt: 9 }), "an existing CA is not replaced");
  t.deepEqual(await s.listTpmCas(), [ca1, ca2]);
  t.true(await s.removeTpmCa(ca1.id));
  t.false(await s.removeTpmCa(ca1.id));
  t.deepEqual(await s.listTpmCas(), [ca2]);

  const crl = { id: "33".repeat(32), crl: bytes(400), issuer: "CN=Root A", addedAt: 3 };
  t.true(await s.addCrl(crl));
  t.false(await s.addCrl(crl));
  t.deepEqual(await s.listCrls(), [crl]);
  t.true(await s.removeCrl(crl.id));
  t.false(await s.removeCrl(crl.id));
  t.deepEqual(await s.listCrls(), []);

  const byCert = { host: "b-host", certificate: bytes(800), ekFingerprint: "aa".repeat(32), addedAt: 4 };
  const byKey = { host: "a-host", ekPublic: bytes(300), ekFingerprint: "bb".repeat(32), addedAt: 5 };
  await s.putEkPin(byCert);
  await s.putEkPin(byKey);
  t.deepEqual(await s.getEkPin("b-host"), byCert);
  t.deepEqual(await s.listEkPins(), [byKey, byCert]);
  const both = { host: "b-host", certificate: bytes(800), ekPublic: bytes(300), ekFingerprint: "cc".repeat(32), addedAt: 6 };
  await s.putEkPin(both);
  t.deepEqual(await s.getEkPin("b-host"), both);
  t.true(await s.removeEkPin("b-host"));
  t.false(await s.removeEkPin("b-host"));
  t.is(await s.getEkPin("b-host"), undefined);
});

contract("images: a name and version once, versions oldest first, remove one or all", async (t, open) => {
  const s = await open();
  const d1 = { name: "deb", version: "1", image: image("deb", "1"), addedAt: 10 };
  const d2 = { name: "deb", version: "2", image: image("deb", "2"), addedAt: 20 };
  const f1 = { name: "fedora", version: "40", image: image("fedora", "40"), addedAt: 5 };
  t.true(await s.addImage(d2));
  t.true(await s.addImage(d1));
  t.true(await s.addImage(f1));
  t.false(await s.addImage({ ...d1, addedAt: 99 }));
  t.deepEqual(await s.getImage("deb"), [d1, d2]);
  t.deepEqual(await s.listImages(), [d1, d2, f1]);
  t.deepEqual(await s.getImage("nope"), []);
  t.is(await s.removeImage("deb", "1"), 1);
  t.is(await s.removeImage("deb", "1"), 0);
  t.true(await s.addImage({ ...d1, addedAt: 30 }));
  t.is(await s.removeImage("deb"), 2);
  t.deepEqual(await s.listImages(), [f1]);
});

contract("signing keys: retire once, lastTokenExpiresAt only rises, purge removes retired keys whose tokens expired", async (t, open) => {
  const s = await open();
  const key = (kid: string, createdAt: number): SigningKeyRecord => ({
    kid,
    publicJwk: { kty: "EC", crv: "P-256", x: "x", y: "y" },
    wrappedPrivateJwk: bytes(120),
    createdAt,
  });
  const k1 = key("k1", 1);
  const k2 = key("k2", 2);
  const k3 = key("k3", 3);
  for (const k of [k2, k1, k3]) await s.addSigningKey(k);
  await s.noteTokenIssued("k1", 500);
  await s.noteTokenIssued("k1", 300);
  await s.noteTokenIssued("k2", 900);
  await s.retireSigningKey("k1", 100);
  await s.retireSigningKey("k1", 200);
  await s.retireSigningKey("k2", 150);
  t.deepEqual(await s.listSigningKeys(), [{ ...k1, retiredAt: 100, lastTokenExpiresAt: 500 }, { ...k2, retiredAt: 150, lastTokenExpiresAt: 900 }, k3]);
  t.is(await s.purgeSigningKeys(600), 1, "k1's last token expired at 500");
  t.deepEqual(
    (await s.listSigningKeys()).map((k) => k.kid),
    ["k2", "k3"],
    "k2's token is still valid, k3 is active",
  );
});

contract("accounts, audit and settings", async (t, open) => {
  const s = await open();
  const admin = { user: "admin", passwordHash: "scrypt$16384$8$1$c2FsdA$aGFzaA", groups: ["TrustedAdmins"], createdAt: 1 };
  const reader = { user: "bob", passwordHash: "scrypt$x", groups: ["TrustedReaders", "Other"], createdAt: 2 };
  await s.putAccount(reader);
  await s.putAccount(admin);
  t.deepEqual(await s.getAccount("admin"), admin);
  t.deepEqual(await s.listAccounts(), [admin, reader]);
  const changed = { ...reader, passwordHash: "scrypt$y", groups: [] };
  await s.putAccount(changed);
  t.deepEqual(await s.getAccount("bob"), changed);
  t.true(await s.removeAccount("bob"));
  t.false(await s.removeAccount("bob"));
  t.is(await s.getAccount("bob"), undefined);

  await s.addAudit({ at: 1, actor: "admin", action: "tpm-ca.add", target: "11", details: { subject: "CN=A", count: 2 } });
  await s.addAudit({ at: 2, actor: "admin", action: "image.remove", target: "deb" });
  await s.addAudit({ at: 3, actor: "oidc:alice", action: "settings.update", target: "settings", details: { ekTrustMode: "pin" } });
  const audit = await s.listAudit(2);
  t.deepEqual(
    audit.map(({ id: _id, ...rest }) => rest),
    [
      { at: 3, actor: "oidc:alice", action: "settings.update", target: "settings", details: { ekTrustMode: "pin" } },
      { at: 2, actor: "admin", action: "image.remove", target: "deb" },
    ],
  );
  t.true(audit[0].id > audit[1].id);
  t.is((await s.listAudit(10)).length, 3);

  t.is(await s.getSettings(), undefined);
  await s.putSettings({ ekTrustMode: "ca", tokenLifetimeSeconds: 3600 });
  await s.putSettings({ ekTrustMode: "pin", hashAlgorithms: ["sha256"] });
  t.deepEqual(await s.getSettings(), { ekTrustMode: "pin", hashAlgorithms: ["sha256"] });
});

contract("withLock: two stores' critical sections never overlap; its work is all or nothing; it returns fn's value", async (t, open) => {
  const a = await open();
  const b = await open();
  await a.putSettings({ n: 0 });
  let inside = 0;
  let overlapped = false;
  const bump = (s: AttestdStore): Promise<number> =>
    s.withLock("counter", async () => {
      inside++;
      if (inside > 1) overlapped = true;
      const n = (await s.getSettings())!.n as number;
      await new Promise((r) => setTimeout(r, 2));
      await s.putSettings({ n: n + 1 });
      inside--;
      return n + 1;
    });
  const values = await Promise.all(Array.from({ length: 20 }, (_, i) => bump(i % 2 === 0 ? a : b)));
  t.false(overlapped);
  t.deepEqual(
    [...values].sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  t.deepEqual(await b.getSettings(), { n: 20 });
  await t.throwsAsync(
    a.withLock("counter", async () => {
      await a.putSettings({ n: -1 });
      await a.addAudit({ at: 1, actor: "x", action: "y", target: "z" });
      throw new Error("fails half-way");
    }),
    { message: "fails half-way" },
  );
  t.deepEqual(await b.getSettings(), { n: 20 });
  t.deepEqual(await b.listAudit(10), []);
});

contract("a restart (close and reopen) keeps everything, and opening a migrated database changes nothing", async (t, open) => {
  const s = await open();
  const h = hostRecord("h1");
  const a = attempt("h1", 1_000, { tokenExpiresAt: 9_000 });
  const n = nonce();
  const e = enrollment();
  const k: SigningKeyRecord = { kid: "k", publicJwk: { kty: "EC" }, wrappedPrivateJwk: bytes(64), createdAt: 1 };
  await s.putHost(h);
  await s.addAttestation(a);
  await s.putNonce(n);
  await s.putEnrollment(e);
  await s.addSigningKey(k);
  await s.addImage({ name: "deb", version: "1", image: image("deb", "1"), addedAt: 1 });
  await s.addTpmCa({ id: "ab", certificate: bytes(10), subject: "CN=A", addedAt: 1 });
  await s.putSettings({ x: 1 });
  await s.putAccount({ user: "admin", passwordHash: "h", groups: ["TrustedAdmins"], createdAt: 1 });
  t.true((await s.consumeNonce(n.host, n.nonce, 1_500)).ok);
  await s.close();

  const again = await open();
  t.deepEqual(await again.getHost("h1"), h);
  t.deepEqual(await again.listAttestations("h1", 5), [a]);
  t.is((await again.getHostStatus("h1", 2_000))?.status, "green");
  t.deepEqual(await again.consumeNonce(n.host, n.nonce, 1_600), { ok: false, reason: "used", value: n }, "a used nonce stays used");
  t.deepEqual(await again.consumeEnrollment(e.host, e.id, 1_500), { ok: true, value: e });
  t.deepEqual(await again.listSigningKeys(), [k]);
  t.is((await again.listImages()).length, 1);
  t.is((await again.listTpmCas()).length, 1);
  t.deepEqual(await again.getSettings(), { x: 1 });
  t.is((await again.getAccount("admin"))?.groups[0], "TrustedAdmins");
});

contract("two stores opening one new database at once both migrate it without error", async (t, open) => {
  const [a, b] = await Promise.all([open(), open()]);
  await a.putSettings({ from: "a" });
  t.deepEqual(await b.getSettings(), { from: "a" });
});

test("SQLite store: three processes consuming the same nonces of one file: each nonce has exactly one winner", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "attestd-store-"));
  dirs.push(dir);
  const file = path.join(dir, "attestd.db");
  const s = await opened(openDatabase({ sqlite: file }));
  const nonces = Array.from({ length: 5 }, () => nonce());
  for (const n of nonces) await s.putNonce(n);
  const sql = pathToFileURL(path.join(import.meta.dirname, "sql_store.ts")).href;
  const script = `
    import { openDatabase } from "@tessera/sql";
    import { openAttestdStore } from ${JSON.stringify(sql)};
    const store = await openAttestdStore(await openDatabase({ sqlite: ${JSON.stringify(file)} }));
    const nonces = ${JSON.stringify(nonces.map((n) => n.nonce))};
    const results = await Promise.all(nonces.flatMap((n) => Array.from({ length: 4 }, () => store.consumeNonce(${JSON.stringify(nonces[0].host)}, n, 1500))));
    await store.close();
    process.stdout.write(JSON.stringify(results.map((r, i) => [nonces[Math.floor(i / 4)], r.ok ? "ok" : r.reason])));
  `;
  const child = (): Promise<[string, string][]> =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: import.meta.dirname, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as [string, string][]) : reject(new Error(`child exited ${code}: ${err}`))));
    });
  const all = (await Promise.all([child(), child(), child()])).flat();
  for (const n of nonces) {
    const mine = all.filter(([x]) => x === n.nonce).map(([, r]) => r);
    t.is(mine.length, 12);
    t.is(mine.filter((r) => r === "ok").length, 1, `nonce ${n.nonce.slice(0, 8)}: one winner over three processes`);
    t.is(mine.filter((r) => r === "used").length, 11);
  }
});

contract("an attempt whose evidence is not the host's is kept in the history but never decides its status", async (t, open) => {
  const s = await open();
  await s.putHost(hostRecord("h1"));
  const green = attempt("h1", 1_000, { tokenExpiresAt: 10_000, tokenId: "t1" });
  await s.addAttestation(green);
  const forged = attempt("h1", 2_000, { status: "contraindicated", failures: [{ check: "quote-signature", detail: "bad" }], foreign: true });
  await s.addAttestation(forged);
  t.deepEqual(await s.listAttestations("h1", 10), [forged, green], "the forged attempt is listed, marked");
  t.is((await s.getHostStatus("h1", 3_000))?.status, "green");
  t.deepEqual((await s.getHostStatus("h1", 3_000))?.lastAttempt, green);
  t.deepEqual(
    (await s.listHostStatus(3_000)).map((h) => [h.host, h.status]),
    [["h1", "green"]],
  );
  // A host that only ever got forged attempts has none of its own.
  await s.addAttestation(attempt("h2", 2_000, { status: "contraindicated", failures: [{ check: "quote-signature", detail: "bad" }], foreign: true }));
  t.is(await s.getHostStatus("h2", 3_000), undefined);
});

contract("addAttestation returns the host's status before it; the policy stamp moves with every image or settings change", async (t, open) => {
  const s = await open();
  t.deepEqual(await s.addAttestation(attempt("p1", 1_000, { tokenExpiresAt: 5_000 })), { previous: "unknown" });
  t.deepEqual(await s.addAttestation(attempt("p1", 2_000, { status: "contraindicated", failures: [{ check: "image-unknown", detail: "x" }] })), { previous: "green" });
  t.deepEqual(await s.addAttestation(attempt("p1", 3_000, { tokenExpiresAt: 4_000 })), { previous: "red" });
  t.deepEqual(await s.addAttestation(attempt("p1", 4_500, { tokenExpiresAt: 9_000 })), { previous: "stale" }, "at its own time: the token expired at 4000");

  const stamps: string[] = [];
  const stamp = async () => {
    const st = await s.getPolicyStamp();
    stamps.push(st.images);
    return st;
  };
  t.deepEqual(await stamp(), { settings: undefined, images: stamps[0] });
  t.is((await stamp()).images, stamps[0], "no change, same stamp");
  await s.addImage({ name: "a", version: "1", image: image("a", "1"), addedAt: 1 });
  await s.addImage({ name: "a", version: "2", image: image("a", "2"), addedAt: 2 });
  await stamp();
  t.false(await s.addImage({ name: "a", version: "2", image: image("a", "2"), addedAt: 3 }));
  t.is((await stamp()).images, stamps[2], "a refused duplicate changes nothing");
  await s.removeImage("a", "1");
  await stamp();
  await s.addImage({ name: "a", version: "1", image: image("a", "1"), addedAt: 4 });
  await stamp();
  await s.removeImage("a", "1");
  await stamp();
  // Each change moves the stamp from the one before; a stamp seen again means the same set of images (seqs are never
  // reused: the set of {a 1, a 2} made again has a new maximum; {a 2} alone again is 1:2 both times).
  const moved = (i: number): boolean => stamps[i] !== stamps[i - 1];
  t.deepEqual([2, 4, 5, 6].map(moved), [true, true, true, true], `every change moved the stamp: ${stamps.join(" ")}`);
  t.is(stamps[4], stamps[6], "the same set {a 2} gives the same stamp");
  t.not(stamps[2], stamps[5], "{a 1, a 2} made again is a new stamp");
  await s.putSettings({ pcrSelection: "sha256:0" });
  t.deepEqual((await stamp()).settings, { pcrSelection: "sha256:0" });
});

contract("peekNonce reads without spending; recordAttestation spends the nonce and records in one go: 20 racing on two stores, one recorded", async (t, open) => {
  const a = await open();
  const b = await open();
  const n = nonce({ host: "r1" });
  await a.putNonce(n);
  t.deepEqual(await a.peekNonce("r1", n.nonce, 1_500), { ok: true, value: n });
  t.deepEqual(await b.peekNonce("r1", n.nonce, 1_500), { ok: true, value: n }, "still live: peeking spends nothing");
  t.deepEqual(await a.peekNonce("r2", n.nonce, 1_500), { ok: false, reason: "other-host" });
  t.like(await a.peekNonce("r1", n.nonce, 2_000), { ok: false, reason: "expired" });
  t.deepEqual(await a.peekNonce("r1", "ab".repeat(32), 1_500), { ok: false, reason: "unknown" });
  t.like(await a.recordAttestation(attempt("r2", 1_500), n.nonce), { ok: false, reason: "other-host" });
  t.like(await a.recordAttestation(attempt("r1", 2_000), n.nonce), { ok: false, reason: "expired" });
  t.deepEqual(await a.listAttestations("r1", 10), [], "refused attempts are not recorded");

  const attempts = Array.from({ length: 20 }, (_, i) => attempt("r1", 1_500 + i, { tokenExpiresAt: 10_000 }));
  const results = await Promise.all(attempts.map((x, i) => (i % 2 === 0 ? a : b).recordAttestation(x, n.nonce)));
  t.is(results.filter((r) => r.ok).length, 1, "one winner");
  t.is(results.filter((r) => !r.ok && r.reason === "used").length, 19);
  const winner = attempts[results.findIndex((r) => r.ok)];
  t.deepEqual(await b.listAttestations("r1", 10), [winner], "only the winner's attempt is recorded");
  t.deepEqual(results.find((r) => r.ok), { ok: true, previous: "unknown" });
  t.like(await a.peekNonce("r1", n.nonce, 1_600), { ok: false, reason: "used" });
  t.is((await a.getHostStatus("r1", 1_600))?.status, "green");
});

contract("attestationInputs reads what peekNonce, getHost and getPolicyStamp read, in one statement", async (t, open) => {
  const s = await open();
  const h = hostRecord("h1.example.test");
  const n = nonce({ host: h.host });
  const late = nonce({ host: h.host });
  const compare = async (hostName: string, value: string, now: number): Promise<void> => {
    const inputs = await s.attestationInputs(hostName, value, now);
    t.deepEqual(inputs.nonce, await s.peekNonce(hostName, value, now), `nonce ${value.slice(0, 8)} for ${hostName} at ${now}`);
    t.deepEqual(inputs.host, await s.getHost(hostName));
    t.deepEqual(inputs.stamp, await s.getPolicyStamp());
  };
  // Nothing yet: unknown nonce, no host, no settings, no image.
  await compare(h.host, n.nonce, 1_100);
  t.deepEqual((await s.attestationInputs(h.host, n.nonce, 1_100)).nonce, { ok: false, reason: "unknown" });
  await s.putHost(h);
  await s.putNonce(n);
  await s.putNonce(late);
  await s.putSettings({ pcrSelection: "sha256:0,7" });
  t.is((await s.attestationInputs(h.host, n.nonce, 1_100)).host?.akName, h.akName);
  await compare(h.host, n.nonce, 1_100);
  await compare("h2.example.test", n.nonce, 1_100);
  await compare(h.host, late.nonce, 2_001);
  t.deepEqual((await s.attestationInputs(h.host, late.nonce, 2_001)).nonce, { ok: false, reason: "expired", value: late });
  t.true((await s.consumeNonce(h.host, n.nonce, 1_100)).ok);
  await compare(h.host, n.nonce, 1_100);
  t.deepEqual((await s.attestationInputs(h.host, n.nonce, 1_100)).nonce, { ok: false, reason: "used", value: n });
});
