import test, { type ExecutionContext } from "ava";
import { generateKeyPairSync, type KeyObject, X509Certificate as NodeX509 } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createCa, type CertificateAndKey } from "./create_ca.ts";
import { parseEkCertificate, TCG_OID } from "./ek_certificate.ts";
import { PkiError, type PkiErrorCode } from "./errors.ts";
import { issueCertificate } from "./issue_certificate.ts";
import { issueEkCertificate, type IssueEkCertificateOptions } from "./issue_ek_certificate.ts";

const dir = mkdtempSync(path.join(tmpdir(), "tessera-pki-ek-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
function writeTemp(name: string, text: string): string {
  const file = path.join(dir, `${fileCounter++}_${name}`);
  writeFileSync(file, text);
  return file;
}

/** Runs openssl; throws (fails the test loudly) if it is not installed. */
function openssl(args: string[]): { status: number | null; output: string } {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  if (result.error) throw new Error(`openssl is required for these tests and could not be run: ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

type EkKind = "rsa-2048" | "rsa-3072" | "ecc-p256" | "ecc-p384";

function ekKeyPem(kind: EkKind): string {
  const pair =
    kind === "rsa-2048" || kind === "rsa-3072"
      ? generateKeyPairSync("rsa", { modulusLength: kind === "rsa-2048" ? 2048 : 3072 })
      : generateKeyPairSync("ec", { namedCurve: kind === "ecc-p256" ? "prime256v1" : "secp384r1" });
  return String(pair.publicKey.export({ type: "spki", format: "pem" }));
}

const spkiDer = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");

const rsaCa = createCa({ commonName: "Tessera vTPM CA (RSA)", organization: "Tessera", keyAlgorithm: "rsa-2048" });
const ecdsaCa = createCa({ commonName: "Tessera vTPM CA", organization: "Tessera" });

const base = { manufacturer: "id:54534553", model: "Tessera vTPM", version: "id:00010000" } as const;

// ---------------------------------------------------------------------------------------------
// issued certificates: read back, verified, and as OpenSSL sees them

const issues = test.macro({
  async exec(t: ExecutionContext, caKind: "rsa" | "ecdsa", ekKind: EkKind) {
    const ca = await (caKind === "rsa" ? rsaCa : ecdsaCa);
    const ekPublicKeyPem = ekKeyPem(ekKind);
    const before = Date.now();
    const issued = await issueEkCertificate(ca, { ...base, ekPublicKeyPem });

    // The PEM and the DER are the same certificate.
    t.deepEqual(Buffer.from(issued.der), new NodeX509(issued.certificatePem).raw);

    const ek = parseEkCertificate(issued.der);
    t.true(ek.isEk);
    t.false(ek.isCa);
    t.is(ek.subject, "");
    t.is(ek.issuer, ca.certificate.subject);
    t.is(ek.tpmManufacturer, base.manufacturer);
    t.is(ek.tpmModel, base.model);
    t.is(ek.tpmVersion, base.version);
    t.deepEqual(ek.extendedKeyUsage, [TCG_OID.ekCertificate]);
    t.deepEqual(ek.keyUsage, ekKind.startsWith("rsa") ? ["keyEncipherment"] : ["keyAgreement"]);
    t.deepEqual(Buffer.from(ek.publicKeyDer), spkiDer(ekPublicKeyPem));
    t.true(ek.notBefore.getTime() <= before - 4 * 60_000);
    t.true(ek.notAfter.getTime() >= before + (3650 * 3 - 1) * 86_400_000);
    t.true(ek.notAfter.getTime() <= Date.now() + 3650 * 3 * 86_400_000);

    // node:crypto: signed by the CA, and not by another CA.
    const node = new NodeX509(issued.certificatePem);
    t.true(node.verify(new NodeX509(ca.certificatePem).publicKey));
    const other = await createCa({ commonName: "Other CA" });
    t.false(node.verify(new NodeX509(other.certificatePem).publicKey));

    // openssl verify: the chain to the CA holds, and fails against another root.
    const caFile = writeTemp("ca.pem", ca.certificatePem);
    const ekFile = writeTemp("ek.pem", issued.certificatePem);
    const verified = openssl(["verify", "-CAfile", caFile, ekFile]);
    t.is(verified.status, 0, verified.output);
    t.regex(verified.output, /: OK/);
    const refused = openssl(["verify", "-CAfile", writeTemp("other.pem", other.certificatePem), ekFile]);
    t.not(refused.status, 0, refused.output);

    // openssl's text: no subject, a critical SAN with the TCG attributes, the EK EKU, cA false.
    const text = openssl(["x509", "-in", ekFile, "-noout", "-text"]);
    t.is(text.status, 0, text.output);
    t.regex(text.output, /\n\s*Subject:\s*\n/);
    t.regex(
      text.output,
      /X509v3 Subject Alternative Name: critical\s*\n\s*DirName:\/?2\.23\.133\.2\.1\s*=\s*id:54534553[,/]\s*2\.23\.133\.2\.2\s*=\s*Tessera vTPM[,/]\s*2\.23\.133\.2\.3\s*=\s*id:00010000\s*\n/,
    );
    t.regex(text.output, /X509v3 Extended Key Usage:\s*\n\s*2\.23\.133\.8\.1\s*\n/);
    t.regex(text.output, /X509v3 Basic Constraints: critical\s*\n\s*CA:FALSE/);
    t.regex(text.output, /X509v3 Key Usage: critical\s*\n\s*(Key Encipherment|Key Agreement)\s*\n/);
    t.regex(text.output, ekKind.startsWith("rsa") ? /Key Encipherment/ : /Key Agreement/);
    t.regex(text.output, /X509v3 Authority Key Identifier/);
  },
  title: (_ = "", caKind: string, ekKind: string) => `issues a ${ekKind} EK certificate under an ${caKind.toUpperCase()} CA`,
});

test(issues, "rsa", "rsa-2048");
test(issues, "ecdsa", "ecc-p256");
test(issues, "rsa", "ecc-p256");
test(issues, "ecdsa", "rsa-2048");
test(issues, "ecdsa", "rsa-3072");
test(issues, "rsa", "ecc-p384");

test("validityDays sets notAfter", async (t) => {
  const before = Date.now();
  const issued = await issueEkCertificate(await ecdsaCa, { ...base, ekPublicKeyPem: ekKeyPem("ecc-p256"), validityDays: 30 });
  const ek = parseEkCertificate(issued.der);
  t.true(ek.notAfter.getTime() >= before + 30 * 86_400_000 - 1000);
  t.true(ek.notAfter.getTime() <= Date.now() + 30 * 86_400_000);
});

test("every certificate has its own random positive serial", async (t) => {
  const ca = await ecdsaCa;
  const ekPublicKeyPem = ekKeyPem("ecc-p256");
  const a = parseEkCertificate((await issueEkCertificate(ca, { ...base, ekPublicKeyPem })).der);
  const b = parseEkCertificate((await issueEkCertificate(ca, { ...base, ekPublicKeyPem })).der);
  t.not(a.serialNumber, b.serialNumber);
  t.regex(a.serialNumber, /^[0-7][0-9a-f]{31}$/);
});

test("non-ASCII model text survives as UTF-8", async (t) => {
  const issued = await issueEkCertificate(await ecdsaCa, { ...base, model: "Tessera vTPM – Zürich", ekPublicKeyPem: ekKeyPem("ecc-p256") });
  t.is(parseEkCertificate(issued.certificatePem).tpmModel, "Tessera vTPM – Zürich");
});

// ---------------------------------------------------------------------------------------------
// bad input: the lib's typed error, naming the field

async function rejects(
  t: ExecutionContext,
  ca: CertificateAndKey | { certificatePem: string; privateKeyPem: string },
  options: IssueEkCertificateOptions,
  code: PkiErrorCode,
  message: RegExp,
): Promise<void> {
  const error = await t.throwsAsync(issueEkCertificate(ca, options), { instanceOf: PkiError });
  t.is(error?.code, code);
  t.regex(error?.message ?? "", message);
}

test("a PEM-less ekPublicKeyPem is PKI_KEY naming ekPublicKeyPem", async (t) => {
  await rejects(t, await ecdsaCa, { ...base, ekPublicKeyPem: "not a pem" }, "PKI_KEY", /ekPublicKeyPem: no PEM block/);
});

test("a private key as ekPublicKeyPem is refused, not certified", async (t) => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pem = String(privateKey.export({ type: "pkcs8", format: "pem" }));
  await rejects(t, await ecdsaCa, { ...base, ekPublicKeyPem: pem }, "PKI_KEY", /ekPublicKeyPem: a "PRIVATE KEY" PEM block/);
});

test("a PUBLIC KEY block that is not a key is PKI_KEY", async (t) => {
  const pem = "-----BEGIN PUBLIC KEY-----\nAAECAwQFBgcICQ==\n-----END PUBLIC KEY-----\n";
  await rejects(t, await ecdsaCa, { ...base, ekPublicKeyPem: pem }, "PKI_KEY", /Cannot read ekPublicKeyPem/);
});

test("key types a TPM has no EK of are refused", async (t) => {
  const ca = await ecdsaCa;
  const pem = (pair: { publicKey: KeyObject }): string => String(pair.publicKey.export({ type: "spki", format: "pem" }));
  await rejects(t, ca, { ...base, ekPublicKeyPem: pem(generateKeyPairSync("rsa", { modulusLength: 1024 })) }, "PKI_KEY", /ekPublicKeyPem key type RSA 1024/);
  await rejects(
    t,
    ca,
    { ...base, ekPublicKeyPem: pem(generateKeyPairSync("ec", { namedCurve: "secp521r1" })) },
    "PKI_KEY",
    /ekPublicKeyPem key type ECC secp521r1/,
  );
  await rejects(t, ca, { ...base, ekPublicKeyPem: pem(generateKeyPairSync("ed25519")) }, "PKI_KEY", /ekPublicKeyPem key type ed25519/);
});

test("empty or over-long TPM attributes are PKI_PROFILE naming the field", async (t) => {
  const ca = await ecdsaCa;
  const ekPublicKeyPem = ekKeyPem("ecc-p256");
  await rejects(t, ca, { ...base, ekPublicKeyPem, model: "" }, "PKI_PROFILE", /^Bad model ""/);
  await rejects(t, ca, { ...base, ekPublicKeyPem, version: "" }, "PKI_PROFILE", /^Bad version ""/);
  await rejects(t, ca, { ...base, ekPublicKeyPem, manufacturer: "" }, "PKI_PROFILE", /^Bad manufacturer ""/);
  await rejects(t, ca, { ...base, ekPublicKeyPem, model: "m".repeat(256) }, "PKI_PROFILE", /^Bad model "m+": must be 1 to 255 characters/);
});

test("a manufacturer that is not a TCG vendor id is PKI_PROFILE", async (t) => {
  const ca = await ecdsaCa;
  const ekPublicKeyPem = ekKeyPem("ecc-p256");
  await rejects(t, ca, { ...base, ekPublicKeyPem, manufacturer: "Tessera" }, "PKI_PROFILE", /^Bad manufacturer "Tessera": must be "id:" and 8 hex digits/);
  await rejects(t, ca, { ...base, ekPublicKeyPem, manufacturer: "id:5453455" }, "PKI_PROFILE", /^Bad manufacturer "id:5453455"/);
});

test("bad validityDays is PKI_PROFILE", async (t) => {
  await rejects(t, await ecdsaCa, { ...base, ekPublicKeyPem: ekKeyPem("ecc-p256"), validityDays: 0 }, "PKI_PROFILE", /Bad validityDays 0/);
});

test("a CA key that does not match the CA certificate is PKI_KEY", async (t) => {
  const ca = await ecdsaCa;
  const other = await createCa({ commonName: "Other CA" });
  await rejects(
    t,
    { certificatePem: ca.certificatePem, privateKeyPem: other.privateKeyPem },
    { ...base, ekPublicKeyPem: ekKeyPem("ecc-p256") },
    "PKI_KEY",
    /CA private key does not match/,
  );
  await rejects(
    t,
    { certificatePem: ca.certificatePem, privateKeyPem: "nothing" },
    { ...base, ekPublicKeyPem: ekKeyPem("ecc-p256") },
    "PKI_KEY",
    /CA private key/,
  );
});

test("an issuer that is not a CA is PKI_PROFILE", async (t) => {
  const ca = await ecdsaCa;
  const leaf = await issueCertificate(ca, { commonName: "leaf.local", profile: "server" });
  await rejects(
    t,
    { certificatePem: leaf.certificatePem, privateKeyPem: leaf.privateKeyPem ?? "" },
    { ...base, ekPublicKeyPem: ekKeyPem("ecc-p256") },
    "PKI_PROFILE",
    /is not a CA/,
  );
});
