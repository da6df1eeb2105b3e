/**
 * A non-admin changes nothing: every mutating admin route, called without a token, with a bad token and with a
 * TrustedReaders token, is refused (401 / 403) and leaves the store exactly as it was; the same calls by an
 * administrator succeed (so the refusals are not the routes failing for another reason). Readers read
 * every read route; nobody without a token reads anything.
 */
import { readFile } from "node:fs/promises";
import test from "ava";
import { adminHarness, crlPem, EVENT_LOG, testCa, testEk, type AdminHarness } from "./admin_test_support.ts";

let h: AdminHarness;
let admin: string;
let reader: string;
let caId: string;
let crlId: string;
let ekCert: string;

test.before(async () => {
  h = await adminHarness();
  admin = await h.adminToken();
  reader = await h.readerToken();
  const ca = await testCa("Authz Test CA");
  const added = await h.call("POST", "/api/v1/tpm-cas", { certificates: ca.certificatePem }, admin);
  if (added.status !== 201) throw new Error(`tpm-cas: ${added.status} ${JSON.stringify(added.json)}`);
  caId = added.json.added[0].id;
  const crl = await h.call("POST", "/api/v1/tpm-crls", { crl: await crlPem(ca) }, admin);
  crlId = crl.json.crl.id;
  ekCert = (await testEk(ca)).certificatePem;
  await h.call("POST", "/api/v1/ek-pins", { host: "pinned.example", ekCertificate: ekCert }, admin);
  await h.call("POST", "/api/v1/images", { name: "base", version: "1", eventLog: (await readFile(EVENT_LOG)).toString("base64") }, admin);
  await h.store.putHost({
    host: "h1.example",
    akPublic: new Uint8Array([1]),
    akName: "000b" + "11".repeat(32),
    ekPublic: new Uint8Array([2]),
    ekFingerprint: "22".repeat(32),
    enrolledAt: Date.now(),
  });
  await h.call("POST", "/api/v1/accounts", { user: "victim", password: "victim password 1", groups: ["TrustedAdmins"] }, admin);
});

test.after.always(async () => {
  await h?.close();
});

/** Everything the admin API can change, as one comparable value. */
async function snapshot(): Promise<string> {
  const s = h.store;
  const now = h.clock.now();
  return JSON.stringify({
    cas: (await s.listTpmCas()).map((c) => c.id).sort(),
    crls: (await s.listCrls()).map((c) => c.id).sort(),
    pins: (await s.listEkPins()).map((p) => [p.host, p.ekFingerprint]),
    images: (await s.listImages()).map((i) => `${i.name}@${i.version}`).sort(),
    hosts: (await s.listHostStatus(now)).map((x) => x.host).sort(),
    enrolled: (await s.getHost("h1.example"))?.akName,
    settings: (await s.getSettings()) ?? null,
    keys: (await s.listSigningKeys()).map((k) => [k.kid, k.retiredAt ?? null]),
    accounts: (await s.listAccounts()).map((a) => [a.user, a.groups]).sort(),
    audit: (await s.listAudit(1000)).length,
  });
}

interface Mutation {
  readonly method: string;
  readonly path: () => string;
  readonly body?: () => Promise<unknown>;
}

const MUTATIONS: readonly Mutation[] = [
  { method: "POST", path: () => "/api/v1/tpm-cas", body: async () => ({ certificates: (await testCa("Another CA")).certificatePem }) },
  { method: "DELETE", path: () => `/api/v1/tpm-cas/${caId}` },
  { method: "POST", path: () => "/api/v1/tpm-crls", body: async () => ({ crl: await crlPem(await testCa("CRL CA")) }) },
  { method: "DELETE", path: () => `/api/v1/tpm-crls/${crlId}` },
  { method: "POST", path: () => "/api/v1/ek-pins", body: async () => ({ host: "new.example", ekCertificate: ekCert }) },
  { method: "DELETE", path: () => "/api/v1/ek-pins/pinned.example" },
  {
    method: "POST",
    path: () => "/api/v1/images",
    body: async () => ({ name: "base", version: "2", eventLog: (await readFile(EVENT_LOG)).toString("base64") }),
  },
  { method: "DELETE", path: () => "/api/v1/images/base" },
  { method: "DELETE", path: () => "/api/v1/hosts/h1.example" },
  { method: "PATCH", path: () => "/api/v1/settings", body: async () => ({ ekTrustMode: "pin" }) },
  { method: "POST", path: () => "/api/v1/signing-keys/rotate" },
  { method: "POST", path: () => "/api/v1/accounts", body: async () => ({ user: "intruder", password: "intruder password", groups: ["TrustedAdmins"] }) },
  { method: "DELETE", path: () => "/api/v1/accounts/victim" },
];

for (const m of MUTATIONS) {
  const name = `${m.method} ${m.path().replace(/[0-9a-f]{64}|undefined/, "{id}")}`;
  test.serial(`${name}: refused without a token, with a bad token and for a reader; the store is unchanged`, async (t) => {
    const before = await snapshot();
    const body = m.body === undefined ? undefined : await m.body();
    const none = await h.call(m.method, m.path(), body);
    t.is(none.status, 401, JSON.stringify(none.json));
    t.is(none.json.type, "urn:tessera:problem:unauthorized");
    const forged = await h.call(m.method, m.path(), body, `${admin.slice(0, -4)}AAAA`);
    t.is(forged.status, 401);
    t.is(forged.json.type, "urn:tessera:problem:token-invalid");
    const asReader = await h.call(m.method, m.path(), body, reader);
    t.is(asReader.status, 403, JSON.stringify(asReader.json));
    t.is(asReader.json.type, "urn:tessera:problem:forbidden");
    t.deepEqual(asReader.json.requiredGroups, ["TrustedAdmins"]);
    t.is(await snapshot(), before);
  });
}

test.serial("the same changes by an administrator succeed and are each audited", async (t) => {
  for (const m of MUTATIONS) {
    const auditBefore = (await h.store.listAudit(1000)).length;
    const before = await snapshot();
    const r = await h.call(m.method, m.path(), m.body === undefined ? undefined : await m.body(), admin);
    t.true(r.status === 200 || r.status === 201, `${m.method} ${m.path()}: ${r.status} ${JSON.stringify(r.json)}`);
    t.not(await snapshot(), before, `${m.method} ${m.path()} changed nothing`);
    const audit = await h.store.listAudit(1000);
    t.is(audit.length, auditBefore + 1, `${m.method} ${m.path()} is audited once`);
    t.is(audit[0].actor, "admin");
  }
});

const READS = [
  "/api/v1/whoami",
  "/api/v1/tpm-cas",
  "/api/v1/tpm-crls",
  "/api/v1/ek-pins",
  "/api/v1/images",
  "/api/v1/hosts",
  "/api/v1/hosts/h1.example",
  "/api/v1/settings",
  "/api/v1/audit",
  "/api/v1/identity",
  "/api/v1/signing-keys",
];

test.serial("a reader reads every read route; without a token nothing is read", async (t) => {
  await h.store.putHost({
    host: "h1.example",
    akPublic: new Uint8Array([1]),
    akName: "000b" + "11".repeat(32),
    ekPublic: new Uint8Array([2]),
    ekFingerprint: "22".repeat(32),
    enrolledAt: Date.now(),
  });
  for (const p of READS) {
    const r = await h.call("GET", p, undefined, reader);
    t.is(r.status, 200, `${p}: ${JSON.stringify(r.json)}`);
    const anonymous = await h.call("GET", p);
    t.is(anonymous.status, 401, p);
  }
  t.is((await h.call("GET", "/api/v1/accounts", undefined, reader)).status, 403, "accounts are for administrators only");
});
