/** Trust set-up helpers: the CSR kmxd sends, and the checks on the certificate it gets back. */
import test from "ava";
import { createPrivateKey, createPublicKey } from "node:crypto";
// @tessera/pki first: it sets @peculiar/x509 up before that loads.
import { type CertificateAndKey, createCa, issueCertificate } from "@tessera/pki";
import * as x509 from "@peculiar/x509";
import { checkClientCertificate, makeClientCsr, MAX_CLIENT_NAME_LENGTH } from "./client_csr.ts";
import { TrustSetupError } from "./errors.ts";

let ca: CertificateAndKey;
test.before(async () => {
  ca = await createCa({ commonName: "KMS Test CA" });
});

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof TrustSetupError) return e.code;
    throw e;
  }
  return undefined;
}

test("makeClientCsr: EC P-256, CN tessera-kmxd-<name>, clientAuth requested, signed by the returned key", async (t) => {
  const { csrPem, privateKeyPem } = await makeClientCsr("kms-1");
  t.regex(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----/);
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  t.is(csr.subject, "CN=tessera-kmxd-kms-1");
  t.true(await csr.verify());
  t.like(csr.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  const eku = csr.extensions.find((e) => e instanceof x509.ExtendedKeyUsageExtension);
  const ku = csr.extensions.find((e) => e instanceof x509.KeyUsagesExtension);
  t.deepEqual([...(eku?.usages ?? [])], ["1.3.6.1.5.5.7.3.2"]);
  t.is(ku?.usages, x509.KeyUsageFlags.digitalSignature);
  const spki = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
  t.deepEqual(new Uint8Array(spki), new Uint8Array(csr.publicKey.rawData));
  // A name with characters that DN strings escape goes in as it is.
  t.is(new x509.Pkcs10CertificateRequest((await makeClientCsr('a,b+c="d"')).csrPem).subjectName.getField("CN")[0], 'tessera-kmxd-a,b+c="d"');
});

test("makeClientCsr refuses an empty, too long or control-character name", async (t) => {
  for (const name of ["", "x".repeat(MAX_CLIENT_NAME_LENGTH + 1), "a\nb", "\ud800"]) {
    const e = await t.throwsAsync(makeClientCsr(name), { instanceOf: TrustSetupError });
    t.is(e?.code, "CSR_NAME_INVALID");
  }
  t.is(new x509.Pkcs10CertificateRequest((await makeClientCsr("x".repeat(MAX_CLIENT_NAME_LENGTH))).csrPem).subject.length, 3 + 64);
});

test("checkClientCertificate accepts the issued client certificate (also as the first of a chain)", async (t) => {
  const { csrPem, privateKeyPem } = await makeClientCsr("kms-1");
  const publicKeyPem = new x509.Pkcs10CertificateRequest(csrPem).publicKey.toString("pem");
  const issued = await issueCertificate(ca, { commonName: "tessera-kmxd-kms-1", profile: "client", publicKeyPem });
  const info = checkClientCertificate(issued.certificatePem, privateKeyPem);
  t.like(info, { subject: "CN=tessera-kmxd-kms-1", issuer: "CN=KMS Test CA" });
  t.true(info.notAfter > new Date());
  t.notThrows(() => checkClientCertificate(issued.certificatePem + ca.certificatePem, privateKeyPem));
  const both = await issueCertificate(ca, { commonName: "both", profile: "both", publicKeyPem });
  t.notThrows(() => checkClientCertificate(both.certificatePem, privateKeyPem));
});

test("checkClientCertificate refuses: another key, expired, not yet valid, server-only, unreadable", async (t) => {
  const { csrPem, privateKeyPem } = await makeClientCsr("kms-1");
  const publicKeyPem = new x509.Pkcs10CertificateRequest(csrPem).publicKey.toString("pem");
  const good = await issueCertificate(ca, { commonName: "c", profile: "client", publicKeyPem });
  const other = await makeClientCsr("other");
  t.is(
    code(() => checkClientCertificate(good.certificatePem, other.privateKeyPem)),
    "CERT_KEY_MISMATCH",
  );
  t.is(
    code(() => checkClientCertificate(good.certificatePem, privateKeyPem, { now: new Date(Date.now() + 400 * 86_400_000) })),
    "CERT_EXPIRED",
  );
  t.is(
    code(() => checkClientCertificate(good.certificatePem, privateKeyPem, { now: new Date(Date.now() - 86_400_000) })),
    "CERT_NOT_YET_VALID",
  );
  const expired = await issueCertificate(ca, {
    commonName: "c",
    profile: "client",
    publicKeyPem,
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  t.is(
    code(() => checkClientCertificate(expired.certificatePem, privateKeyPem)),
    "CERT_EXPIRED",
  );
  const server = await issueCertificate(ca, { commonName: "kms.example", profile: "server", publicKeyPem });
  t.is(
    code(() => checkClientCertificate(server.certificatePem, privateKeyPem)),
    "CERT_NOT_CLIENT_AUTH",
  );
  t.is(
    code(() => checkClientCertificate("not a certificate", privateKeyPem)),
    "CERT_MALFORMED",
  );
  t.is(
    code(() => checkClientCertificate(csrPem, privateKeyPem)),
    "CERT_MALFORMED",
  );
  t.is(
    code(() => checkClientCertificate(good.certificatePem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
    "KEY_MALFORMED",
  );
});
