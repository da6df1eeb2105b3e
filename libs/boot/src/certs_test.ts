// Tests of the private _certs.ts (ava never runs files that start with an underscore).
import test from "ava";
import { readFileSync } from "node:fs";
import { fixturePath } from "@tessera/fixtures";
import { createCa } from "@tessera/pki";
import { certificateMatches, parseCertificatePem } from "./_certs.ts";

test("a subject with escaped separators: commonName is the value, the subject is escaped, signedBy matches either", async (t) => {
  const { certificatePem } = await createCa({ commonName: "Example, Inc. UEFI CA", organization: "Example, Inc." });
  const cert = parseCertificatePem(certificatePem);
  t.is(cert.commonName, "Example, Inc. UEFI CA");
  t.is(cert.subject, "O=Example\\, Inc., CN=Example\\, Inc. UEFI CA");
  t.true(certificateMatches(cert, "Example, Inc. UEFI CA"));
  t.true(certificateMatches(cert, "O=Example\\, Inc., CN=Example\\, Inc. UEFI CA"));
  t.true(certificateMatches(cert, "CN=Example\\, Inc. UEFI CA, O=Example\\, Inc.")); // any RDN order
  t.false(certificateMatches(cert, "O=Example, CN=Inc. UEFI CA"));
  t.false(certificateMatches(cert, "Example"));
});

test("a multi-valued RDN (Nuvoton's root CA): commonName is the CN alone", (t) => {
  const cert = parseCertificatePem(readFileSync(fixturePath("tpm-ca-certs", "NUVO_2110.pem"), "latin1"));
  t.is(cert.commonName, "Nuvoton TPM Root CA 2110");
  t.is(cert.subject, "CN=Nuvoton TPM Root CA 2110+O=Nuvoton Technology Corporation+C=TW");
  t.true(certificateMatches(cert, "Nuvoton TPM Root CA 2110"));
  t.true(certificateMatches(cert, cert.subject));
  t.is(cert.der.length, 522);
});

test("text that is not a PEM certificate throws", (t) => {
  t.throws(() => parseCertificatePem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), { instanceOf: TypeError });
  t.throws(() => parseCertificatePem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
});
