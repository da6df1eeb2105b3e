/**
 * Test helpers: CAs that issue EK-like certificates with chosen usages, validity and serials, and CRLs, built
 * with @tessera/pki and @peculiar/x509 (as a manufacturer CA would make them).
 * @module
 */
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { createCa, issueCertificate, type CertificateAndKey } from "@tessera/pki";
import { x509 } from "./_x509.ts";

/** A CA that can sign: its certificate (DER), the parsed form and the signing key. */
export interface TestCa {
  readonly der: Uint8Array;
  readonly certificate: x509.X509Certificate;
  readonly pem: { certificatePem: string; privateKeyPem: string };
  readonly signingKey: CryptoKey;
}

async function signingKeyOf(privateKeyPem: string): Promise<CryptoKey> {
  const pkcs8 = createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "der" });
  return globalThis.crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

async function toTestCa(c: CertificateAndKey | { certificatePem: string; privateKeyPem?: string; certificate: x509.X509Certificate }): Promise<TestCa> {
  const privateKeyPem = c.privateKeyPem as string;
  return {
    der: new Uint8Array(c.certificate.rawData),
    certificate: c.certificate,
    pem: { certificatePem: c.certificatePem, privateKeyPem },
    signingKey: await signingKeyOf(privateKeyPem),
  };
}

/** A self-signed ECDSA P-256 root CA. */
export async function testRootCa(commonName: string): Promise<TestCa> {
  return toTestCa(await createCa({ commonName, organization: "Tessera Test TPM Vendor" }));
}

/** An intermediate CA issued by `parent`. */
export async function testIntermediateCa(parent: TestCa, commonName: string): Promise<TestCa> {
  return toTestCa(await issueCertificate(parent.pem, { commonName, organization: "Tessera Test TPM Vendor", profile: "ca" }));
}

/** A fresh RSA 2048 or ECC P-256 key's SubjectPublicKeyInfo DER. */
export function freshSpki(kind: "rsa" | "ecc"): Uint8Array {
  const { publicKey } =
    kind === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
}

/** Options of {@link issueEkCertificate}. */
export interface EkCertificateOptions {
  /** keyUsage flags (default keyEncipherment for RSA keys, keyAgreement for EC keys); null: no keyUsage. */
  readonly keyUsage?: number | null;
  /** EKU OIDs (default tcg-kp-EKCertificate); null: no EKU. */
  readonly eku?: string[] | null;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Serial as hex (default random). */
  readonly serial?: string;
  /** basicConstraints cA (default false). */
  readonly ca?: boolean;
}

/** An EK certificate (DER) for `spki`, issued by `ca` with an empty subject as real EK certificates have. */
export async function issueEkCertificate(ca: TestCa, spki: Uint8Array, options: EkCertificateOptions = {}): Promise<Uint8Array> {
  const publicKey = new x509.PublicKey(spki.slice());
  const rsa = publicKey.algorithm.name.startsWith("RSA");
  const flags = x509.KeyUsageFlags;
  const keyUsage = options.keyUsage === undefined ? (rsa ? flags.keyEncipherment : flags.keyAgreement) : options.keyUsage;
  const eku = options.eku === undefined ? ["2.23.133.8.1"] : options.eku;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true)];
  if (keyUsage !== null) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  if (eku !== null) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(ca.certificate, false));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: options.serial ?? "01" + Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    subject: "",
    issuer: ca.certificate.subjectName,
    notBefore: options.notBefore ?? new Date("2020-01-01T00:00:00Z"),
    notAfter: options.notAfter ?? new Date("9999-12-31T23:59:59Z"),
    publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions,
  });
  return new Uint8Array(certificate.rawData);
}

/** A CRL (DER) in the name of `ca`, signed by `signedBy` (default: `ca` itself), listing `serials`. */
export async function issueCrl(ca: TestCa, serials: readonly string[], signedBy: TestCa = ca): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.certificate.subjectName,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 86_400_000),
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - 30_000), reason: x509.X509CrlReason.keyCompromise })),
    signingKey: signedBy.signingKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return new Uint8Array(crl.rawData);
}
