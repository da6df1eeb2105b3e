/**
 * Trust set-up with a key server, the client side: kmxd makes its own key pair and a CSR for the key server's CA
 * to sign, and checks the certificate it gets back (or one the administrator brings) before storing it.
 * @module
 */
// @tessera/pki sets @peculiar/x509 up (WebCrypto provider, the metadata shim tsyringe needs) when it loads.
import "@tessera/pki";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { TrustSetupError } from "./errors.ts";

/** Prefix of the common name of kmxd's client certificates. */
export const CLIENT_CN_PREFIX = "tessera-kmxd-";

/** Longest name {@link makeClientCsr} takes: a commonName is at most 64 characters (RFC 5280 ub-common-name). */
export const MAX_CLIENT_NAME_LENGTH = 64 - CLIENT_CN_PREFIX.length;

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const ANY_EKU = "2.5.29.37.0";
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A new client key pair and its CSR. */
export interface ClientCsr {
  /** PKCS#10 request (PEM), subject CN=`tessera-kmxd-<name>`, asking for EKU clientAuth. */
  csrPem: string;
  /** The private key (PKCS#8 PEM): store it wrapped. */
  privateKeyPem: string;
}

/**
 * Makes an EC P-256 key pair and a CSR signed with it (ECDSA SHA-256), subject CN=`tessera-kmxd-<name>`, requesting
 * keyUsage digitalSignature and extendedKeyUsage clientAuth.
 * @throws TrustSetupError CSR_NAME_INVALID for an empty or too long name or one with control characters
 * @example const { csrPem, privateKeyPem } = await makeClientCsr("kms-1");
 */
export async function makeClientCsr(name: string): Promise<ClientCsr> {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_CLIENT_NAME_LENGTH || CONTROL.test(name) || !name.isWellFormed()) {
    throw new TrustSetupError(
      "CSR_NAME_INVALID",
      `A client certificate name must be 1 to ${MAX_CLIENT_NAME_LENGTH} characters without control characters, got ${JSON.stringify(name)}`,
    );
  }
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // A Name object with a typed value: a plain string in a JSON name is read as DN text (commas and quotes
    // would split it).
    name: new x509.Name([{ CN: [{ utf8String: `${CLIENT_CN_PREFIX}${name}` }] }]),
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.ExtendedKeyUsageExtension([CLIENT_AUTH])],
  });
  const pkcs8 = await globalThis.crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { csrPem: csr.toString("pem"), privateKeyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") };
}

/** What {@link checkClientCertificate} read from a good certificate. */
export interface ClientCertificateInfo {
  /** Subject, RFC 4514 text. */
  subject: string;
  /** Issuer, RFC 4514 text. */
  issuer: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Checks that a client certificate can be used with `privateKeyPem` for TLS client authentication now: it is a
 * certificate (the first one of the PEM text, if it holds a chain), for this key, within its validity at `options.now`
 * (default: now), and neither its extendedKeyUsage (when present) nor its keyUsage (when present) rule out clientAuth.
 * @throws TrustSetupError CERT_MALFORMED, KEY_MALFORMED, CERT_KEY_MISMATCH, CERT_NOT_YET_VALID, CERT_EXPIRED, CERT_NOT_CLIENT_AUTH
 */
export function checkClientCertificate(certPem: string, privateKeyPem: string, options: { now?: Date } = {}): ClientCertificateInfo {
  const now = options.now ?? new Date();
  let cert: x509.X509Certificate;
  try {
    const block = x509.PemConverter.decodeWithHeaders(certPem).find((b) => b.type === "CERTIFICATE");
    if (block === undefined) throw new Error('no "CERTIFICATE" PEM block');
    cert = new x509.X509Certificate(block.rawData);
  } catch (e) {
    throw new TrustSetupError("CERT_MALFORMED", `Cannot read the client certificate: ${(e as Error).message}`, { cause: e });
  }
  let spki: Buffer;
  try {
    spki = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
  } catch (e) {
    throw new TrustSetupError("KEY_MALFORMED", `Cannot read the client private key: ${(e as Error).message}`, { cause: e });
  }
  if (Buffer.compare(spki, Buffer.from(cert.publicKey.rawData)) !== 0) {
    throw new TrustSetupError("CERT_KEY_MISMATCH", `The client certificate (${cert.subject}) is not for this private key`);
  }
  if (now < cert.notBefore)
    throw new TrustSetupError("CERT_NOT_YET_VALID", `The client certificate (${cert.subject}) is not valid before ${cert.notBefore.toISOString()}`);
  if (now > cert.notAfter) throw new TrustSetupError("CERT_EXPIRED", `The client certificate (${cert.subject}) expired at ${cert.notAfter.toISOString()}`);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku && !eku.usages.some((u) => u === CLIENT_AUTH || u === ANY_EKU)) {
    throw new TrustSetupError(
      "CERT_NOT_CLIENT_AUTH",
      `The client certificate (${cert.subject}) does not allow clientAuth: its extendedKeyUsage is ${eku.usages.join(", ")}`,
    );
  }
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
    throw new TrustSetupError(
      "CERT_NOT_CLIENT_AUTH",
      `The client certificate (${cert.subject}) does not allow digitalSignature, which TLS client authentication needs`,
    );
  }
  return { subject: cert.subject, issuer: cert.issuer, notBefore: cert.notBefore, notAfter: cert.notAfter };
}
