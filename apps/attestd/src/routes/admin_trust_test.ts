/**
 * TPM trust administration over a real SQLite store: the 51 vendor CAs in one call, CRLs, EK pins, and bad
 * input answered with a 400 naming the field.
 */
import { createHash, X509Certificate } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import test from "ava";
import { adminHarness, crlPem, testCa, testEk, TPM_CA_DIR, type AdminHarness } from "./admin_test_support.ts";

let h: AdminHarness;
let admin: string;

test.before(async () => {
  h = await adminHarness();
  admin = await h.adminToken();
});

test.after.always(async () => {
  await h?.close();
});

test.serial("the 51 vendor TPM CAs, concatenated, import in one call; again, all exist; each is listed", async (t) => {
  const files = (await readdir(TPM_CA_DIR)).filter((f) => f.endsWith(".pem") || f.endsWith(".crt") || f.endsWith(".cer")).sort();
  t.is(files.length, 51);
  const bundle = (await Promise.all(files.map((f) => readFile(path.join(TPM_CA_DIR, f), "utf8")))).join("\n");
  const r = await h.call("POST", "/api/v1/tpm-cas", { certificates: bundle }, admin);
  t.is(r.status, 201, JSON.stringify(r.json).slice(0, 500));
  const ids = new Set<string>(r.json.added.map((a: { id: string }) => a.id));
  // Some vendor files hold the same certificate: each distinct one is added once, the repeats are "existing".
  const distinct = new Set(
    bundle
      .match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!
      .map((p) => createHash("sha256").update(new X509Certificate(p).raw).digest("hex")),
  );
  t.is(ids.size, distinct.size);
  t.deepEqual(ids, distinct);
  t.is(ids.size + r.json.existing.length, 51);
  t.is((await h.store.listTpmCas()).length, ids.size);
  const again = await h.call("POST", "/api/v1/tpm-cas", { certificates: bundle }, admin);
  t.is(again.status, 201);
  t.deepEqual(again.json.added, []);
  t.is(again.json.existing.length, 51);
  const list = await h.call("GET", "/api/v1/tpm-cas", undefined, admin);
  t.is(list.json.cas.length, ids.size);
  const ifx = list.json.cas.find((c: { subject: string }) => c.subject.includes("Infineon"));
  t.truthy(ifx, "an Infineon CA is listed by subject");
  t.regex(ifx.notAfter, /^\d{4}-\d\d-\d\dT/);
  t.is(typeof ifx.isRoot, "boolean");
  t.true(list.json.cas.some((c: { isRoot: boolean }) => c.isRoot) && list.json.cas.some((c: { isRoot: boolean }) => !c.isRoot), "roots and intermediates");
  const audit = (await h.store.listAudit(10)).find((a) => a.action === "tpm-ca.add");
  t.is((audit?.details?.ids as string[]).length, ids.size, "one audit entry names every CA added");
});

test.serial("a CA is removed by id (the SHA-256 of its DER); an unknown id is 404, a malformed one 400", async (t) => {
  const ca = await testCa("Removable CA");
  const r = await h.call("POST", "/api/v1/tpm-cas", { certificates: ca.certificatePem }, admin);
  const id = r.json.added[0].id as string;
  t.is(id, createHash("sha256").update(new Uint8Array(ca.certificate.rawData)).digest("hex"));
  t.is((await h.call("DELETE", `/api/v1/tpm-cas/${id}`, undefined, admin)).status, 200);
  t.false((await h.store.listTpmCas()).some((c) => c.id === id));
  const again = await h.call("DELETE", `/api/v1/tpm-cas/${id}`, undefined, admin);
  t.is(again.status, 404);
  t.is(again.json.type, "urn:tessera:problem:not-found");
  t.is((await h.call("DELETE", "/api/v1/tpm-cas/nothex", undefined, admin)).status, 400);
});

test.serial("a bundle with one bad certificate adds nothing and names the field; a non-CA certificate is refused", async (t) => {
  const before = (await h.store.listTpmCas()).length;
  const good = (await testCa("Good CA")).certificatePem;
  const bad = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
  const r = await h.call("POST", "/api/v1/tpm-cas", { certificates: good + bad }, admin);
  t.is(r.status, 400);
  t.is(r.json.field, "certificates");
  t.regex(r.json.detail, /certificates/);
  t.is((await h.store.listTpmCas()).length, before);
  const leaf = await testEk(await testCa("Leaf issuer"));
  const notCa = await h.call("POST", "/api/v1/tpm-cas", { certificates: leaf.certificatePem }, admin);
  t.is(notCa.status, 400);
  t.regex(notCa.json.detail, /CA/);
  const empty = await h.call("POST", "/api/v1/tpm-cas", { certificates: "" }, admin);
  t.is(empty.status, 400);
  t.regex(empty.json.detail, /certificates/);
  const missing = await h.call("POST", "/api/v1/tpm-cas", { pem: good }, admin);
  t.is(missing.status, 400);
});

test.serial("CRLs: PEM or base64 DER, listed with issuer and dates, removed by id; garbage names the field", async (t) => {
  const ca = await testCa("CRL Issuer CA");
  const pem = await crlPem(ca, ["0a", "0b"]);
  const r = await h.call("POST", "/api/v1/tpm-crls", { crl: pem }, admin);
  t.is(r.status, 201, JSON.stringify(r.json));
  t.true(r.json.added);
  t.regex(r.json.crl.issuer, /CRL Issuer CA/);
  const id = r.json.crl.id as string;
  const der = Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----|\s/g, ""), "base64").toString("base64");
  const again = await h.call("POST", "/api/v1/tpm-crls", { crl: der }, admin);
  t.is(again.json.crl.id, id, "the same CRL as base64 DER");
  t.false(again.json.added);
  const list = await h.call("GET", "/api/v1/tpm-crls", undefined, admin);
  t.is(list.json.crls.length, 1);
  t.regex(list.json.crls[0].thisUpdate, /^\d{4}-/);
  t.regex(list.json.crls[0].nextUpdate, /^\d{4}-/);
  const garbage = await h.call("POST", "/api/v1/tpm-crls", { crl: Buffer.from("not a crl").toString("base64") }, admin);
  t.is(garbage.status, 400);
  t.is(garbage.json.field, "crl");
  const cert = await h.call("POST", "/api/v1/tpm-crls", { crl: ca.certificatePem }, admin);
  t.is(cert.status, 400, "a certificate is not a CRL");
  t.is((await h.call("DELETE", `/api/v1/tpm-crls/${id}`, undefined, admin)).status, 200);
  t.deepEqual(await h.store.listCrls(), []);
  t.is((await h.call("DELETE", `/api/v1/tpm-crls/${id}`, undefined, admin)).status, 404);
});

test.serial("EK pins: a certificate (PEM or base64 DER), a bare key, or both when they are the same key", async (t) => {
  const ca = await testCa("EK Vendor CA");
  const ek = await testEk(ca);
  const byPem = await h.call("POST", "/api/v1/ek-pins", { host: "a.example", ekCertificate: ek.certificatePem }, admin);
  t.is(byPem.status, 201, JSON.stringify(byPem.json));
  t.is(byPem.json.pin.ekFingerprint, ek.fingerprint);
  const byDer = await h.call("POST", "/api/v1/ek-pins", { host: "b.example", ekCertificate: Buffer.from(ek.certificateDer).toString("base64") }, admin);
  t.is(byDer.json.pin.ekFingerprint, ek.fingerprint);
  const byKey = await h.call("POST", "/api/v1/ek-pins", { host: "c.example", ekPublic: Buffer.from(ek.ekPublic).toString("base64") }, admin);
  t.is(byKey.status, 201, JSON.stringify(byKey.json));
  t.is(byKey.json.pin.ekFingerprint, ek.fingerprint, "the key's fingerprint equals the certificate's");
  const both = await h.call(
    "POST",
    "/api/v1/ek-pins",
    { host: "d.example", ekCertificate: ek.certificatePem, ekPublic: Buffer.from(ek.ekPublic).toString("base64") },
    admin,
  );
  t.is(both.status, 201);
  const stored = await h.store.getEkPin("d.example");
  t.deepEqual(stored?.ekPublic, ek.ekPublic);
  t.deepEqual(stored?.certificate, ek.certificateDer);
  const list = await h.call("GET", "/api/v1/ek-pins", undefined, admin);
  t.deepEqual(list.json.pins.map((p: { host: string }) => p.host).sort(), ["a.example", "b.example", "c.example", "d.example"]);
  t.is((await h.call("DELETE", "/api/v1/ek-pins/a.example", undefined, admin)).status, 200);
  t.is(await h.store.getEkPin("a.example"), undefined);
  t.is((await h.call("DELETE", "/api/v1/ek-pins/a.example", undefined, admin)).status, 404);
});

test.serial("EK pins refused: another key beside the certificate, a CA certificate, garbage, a bad host, nothing", async (t) => {
  const ca = await testCa("EK Vendor CA 2");
  const ek = await testEk(ca);
  const other = await testEk(ca);
  const before = (await h.store.listEkPins()).length;
  const mismatch = await h.call(
    "POST",
    "/api/v1/ek-pins",
    { host: "x.example", ekCertificate: ek.certificatePem, ekPublic: Buffer.from(other.ekPublic).toString("base64") },
    admin,
  );
  t.is(mismatch.status, 400);
  t.is(mismatch.json.type, "urn:tessera:problem:ek-mismatch");
  const caAsPin = await h.call("POST", "/api/v1/ek-pins", { host: "x.example", ekCertificate: ca.certificatePem }, admin);
  t.is(caAsPin.status, 400);
  t.is(caAsPin.json.field, "ekCertificate");
  const garbageCert = await h.call("POST", "/api/v1/ek-pins", { host: "x.example", ekCertificate: "AAAA" }, admin);
  t.is(garbageCert.status, 400);
  t.is(garbageCert.json.field, "ekCertificate");
  const garbageKey = await h.call("POST", "/api/v1/ek-pins", { host: "x.example", ekPublic: "AAECAw==" }, admin);
  t.is(garbageKey.status, 400);
  t.is(garbageKey.json.field, "ekPublic");
  const notBase64 = await h.call("POST", "/api/v1/ek-pins", { host: "x.example", ekPublic: "not base64!" }, admin);
  t.is(notBase64.status, 400);
  t.regex(notBase64.json.detail, /ekPublic/);
  const badHost = await h.call("POST", "/api/v1/ek-pins", { host: "Bad_Host", ekCertificate: ek.certificatePem }, admin);
  t.is(badHost.status, 400);
  t.regex(badHost.json.detail, /host/);
  const nothing = await h.call("POST", "/api/v1/ek-pins", { host: "x.example" }, admin);
  t.is(nothing.status, 400);
  t.regex(nothing.json.detail, /ekCertificate/);
  t.is((await h.store.listEkPins()).length, before);
});
