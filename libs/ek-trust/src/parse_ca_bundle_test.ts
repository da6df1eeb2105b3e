import test from "ava";
import { X509Certificate as NodeX509 } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fixturePath } from "@tessera/fixtures";
import { EkTrustError } from "./errors.ts";
import { parseCaBundle } from "./parse_ca_bundle.ts";
import { freshSpki, issueEkCertificate, testRootCa } from "./_test_support.ts";

const DIR = fixturePath("tpm-ca-certs");
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith(".pem"))
  .sort();
/** OpenSSL's multi-line name (as node:crypto gives it) in formatName's layout. */
const opensslName = (name: string): string => name.split("\n").join(", ").replace(/ \+ /g, "+");

// The self-signed ones, read off the certificates with `openssl verify -CAfile f f`: the others are
// intermediates, or roots cross-signed by a CA outside the store (IFX_RSA_RT by VeriSign, STM's by GlobalSign).
const ROOTS = new Set([
  "GS_TPM_RT.pem",
  "INF_ECC_010RT.pem",
  "INF_RSA_010RT.pem",
  "INTEL_RT.pem",
  "NTC1.pem",
  "NTC2.pem",
  "NUVO_0100.pem",
  "NUVO_1110.pem",
  "NUVO_1111.pem",
  "NUVO_2110.pem",
  "NUVO_2111.pem",
]);

test("the fixtures hold the 51 TPM manufacturer CA files", (t) => {
  t.is(FILES.length, 51);
});

for (const file of FILES) {
  test(`${file} loads as a CA bundle: one CA, its subject, and whether it is a root`, (t) => {
    const text = readFileSync(`${DIR}/${file}`, "latin1");
    const cas = parseCaBundle(text);
    t.is(cas.length, 1);
    const [ca] = cas;
    if (ca === undefined) throw new Error("no CA");
    const node = new NodeX509(text);
    t.deepEqual(Buffer.from(ca.certificate), node.raw);
    t.is(ca.subject, opensslName(node.subject));
    t.is(ca.issuer, opensslName(node.issuer));
    t.is(ca.notAfter.getTime(), node.validToDate.getTime());
    t.is(ca.isRoot, ROOTS.has(file));
    // The same certificate as DER bytes, and as PEM bytes, gives the same entry.
    t.deepEqual(parseCaBundle(new Uint8Array(node.raw)), cas);
    t.deepEqual(parseCaBundle(new TextEncoder().encode(text)), cas);
  });
}

test("a bundle of several PEMs (with text around them) gives every certificate in order", (t) => {
  const names = ["INF_RSA_010RT.pem", "Nationz_TPM_EK.pem", "INF_RSA_011.pem", "Alibaba_Cloud_vTPM_EK.pem", "STM_ECC_01I.pem"];
  const bundle = names.map((f) => readFileSync(`${DIR}/${f}`, "latin1")).join("\n# next vendor\n");
  const cas = parseCaBundle(bundle);
  t.deepEqual(
    cas.map((c) => c.subject),
    names.map((f) => opensslName(new NodeX509(readFileSync(`${DIR}/${f}`)).subject)),
  );
  t.deepEqual(
    cas.map((c) => c.isRoot),
    [true, false, false, false, false],
  );
});

test("refusals name the certificate: no certificate, bad DER, a block that does not parse, an EK certificate", async (t) => {
  const none = t.throws(() => parseCaBundle("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"), { instanceOf: EkTrustError });
  t.is(none?.code, "EK_TRUST_PARSE");
  t.regex(none?.message ?? "", /no PEM block labelled "CERTIFICATE" \(found X509 CRL\)/);
  t.is(t.throws(() => parseCaBundle(""), { instanceOf: EkTrustError })?.code, "EK_TRUST_PARSE");
  t.is(t.throws(() => parseCaBundle(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), { instanceOf: EkTrustError })?.code, "EK_TRUST_PARSE");
  const good = readFileSync(`${DIR}/NUVO_2110.pem`, "latin1");
  const broken = good + "-----BEGIN CERTIFICATE-----\nMIIBszCCAVqgAwIBAgIUFAKE\n-----END CERTIFICATE-----\n";
  const second = t.throws(() => parseCaBundle(broken), { instanceOf: EkTrustError });
  t.is(second?.code, "EK_TRUST_PARSE");
  t.regex(second?.message ?? "", /certificate 2 \(PEM block 2\)/);
  const ca = await testRootCa("Bundle Test CA");
  const ek = await issueEkCertificate(ca, freshSpki("rsa"));
  const notCa = t.throws(() => parseCaBundle(ek), { instanceOf: EkTrustError });
  t.is(notCa?.code, "EK_TRUST_NOT_CA");
  t.regex(notCa?.message ?? "", /is not a CA/);
});
