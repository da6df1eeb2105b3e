/**
 * Certificates issued by a CA: TLS servers and clients (node:tls/OpenSSL, Python's ssl) and
 * intermediate CAs.
 *
 * @module
 */
import { certificatePem, parseCertificate, randomSerialHex, subjectName, validityWindow } from "./_common.ts";
import { exportPrivateKeyPem, generateKeyPair, importSigningKey, isRsaKey, publicKeyFromPem, type KeyAlgorithm } from "./_keys.ts";
import { PkiError } from "./errors.ts";
import { x509 } from "./_x509.ts";

/** What the certificate is for. */
export type CertificateProfile = "server" | "client" | "both" | "ca";

/** The issuing CA, as {@link createCa} returns it. */
export interface IssuingCa {
  /** The CA certificate (PEM). */
  readonly certificatePem: string;
  /** The CA private key (PKCS#8 PEM; PKCS#1 and SEC1 PEMs are accepted too). */
  readonly privateKeyPem: string;
}

/** Options of {@link issueCertificate}. */
export interface IssueCertificateOptions {
  /** Subject commonName (1 to 64 characters). */
  readonly commonName: string;
  /**
   * `"server"`: EKU serverAuth; `"client"`: EKU clientAuth; `"both"`: both EKUs;
   * `"ca"`: an intermediate CA (basicConstraints cA, keyUsage keyCertSign + cRLSign, no EKU).
   */
  readonly profile: CertificateProfile;
  /** subjectAltName dNSName entries. For server/both without any SAN entry, the commonName is used when it is a host name. */
  readonly dnsNames?: readonly string[];
  /** subjectAltName iPAddress entries (IPv4 or IPv6 text). */
  readonly ipAddresses?: readonly string[];
  /** Key type to generate (default `"ecdsa-p256"`); ignored with {@link publicKeyPem}. */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Days until notAfter (default 365). */
  readonly validityDays?: number;
  /** Explicit notBefore (default: now minus 5 minutes). */
  readonly notBefore?: Date;
  /** Explicit notAfter (default: now plus validityDays). */
  readonly notAfter?: Date;
  /** Subject organizationName. */
  readonly organization?: string;
  /** Certify this existing public key (SPKI `PUBLIC KEY` PEM, PKCS#1 `RSA PUBLIC KEY`, or a certificate) instead of generating one. */
  readonly publicKeyPem?: string;
  /** basicConstraints pathLenConstraint of a `"ca"` certificate (default: no limit). */
  readonly pathLength?: number;
}

/** The result of {@link issueCertificate}. */
export interface IssuedCertificate {
  /** The certificate as PEM. */
  readonly certificatePem: string;
  /** The generated private key (PKCS#8 PEM); absent when {@link IssueCertificateOptions.publicKeyPem} was given. */
  readonly privateKeyPem?: string;
  /** The parsed certificate (@peculiar/x509). */
  readonly certificate: x509.X509Certificate;
}

const PROFILES: readonly CertificateProfile[] = ["server", "client", "both", "ca"];
const HOST_NAME = /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * Issues a certificate signed by `ca`: random positive 16-byte serial, notBefore 5 minutes in
 * the past, subject/authority key identifiers, keyUsage digitalSignature (+ keyEncipherment
 * for RSA keys) and the EKUs of the profile, subjectAltName from `dnsNames` and `ipAddresses`.
 *
 * @example
 * ```ts
 * const server = await issueCertificate(ca, {
 *   commonName: "kmip.local", profile: "server", dnsNames: ["kmip.local"], ipAddresses: ["127.0.0.1"],
 * });
 * tls.createServer({ cert: server.certificatePem, key: server.privateKeyPem, ca: ca.certificatePem, requestCert: true });
 * ```
 * @throws PkiError PKI_PROFILE when the issuer is not a CA or an option is bad (names the value);
 *   PKI_KEY when the CA key does not load or does not match the CA certificate;
 *   PKI_PARSE when the CA certificate does not parse.
 */
export async function issueCertificate(ca: IssuingCa, options: IssueCertificateOptions): Promise<IssuedCertificate> {
  const { profile } = options;
  if (!PROFILES.includes(profile)) throw new PkiError("PKI_PROFILE", `Unknown profile "${String(profile)}": use ${PROFILES.join(", ")}`);
  const caCertificate = parseCertificate(ca.certificatePem, "CA certificate");
  checkIssuer(caCertificate);
  const subject = subjectName(options.commonName, options.organization);
  const { notBefore, notAfter } = validityWindow(options, 365);
  const { pathLength } = options;
  if (pathLength !== undefined && (profile !== "ca" || !Number.isInteger(pathLength) || pathLength < 0)) {
    throw new PkiError("PKI_PROFILE", `Bad pathLength ${pathLength}: only for profile "ca", an integer >= 0`);
  }
  const san = subjectAltNames(options);
  const signing = await importSigningKey(ca.privateKeyPem, caCertificate, "CA private key");

  let keys: CryptoKeyPair | undefined;
  let publicKey: x509.PublicKey;
  if (options.publicKeyPem !== undefined) {
    publicKey = publicKeyFromPem(options.publicKeyPem, "publicKeyPem");
  } else {
    keys = await generateKeyPair(options.keyAlgorithm ?? "ecdsa-p256");
    publicKey = await x509.PublicKey.create(keys.publicKey);
  }

  const flags = x509.KeyUsageFlags;
  const extensions: x509.Extension[] = [];
  if (profile === "ca") {
    extensions.push(new x509.BasicConstraintsExtension(true, pathLength, true));
    extensions.push(new x509.KeyUsagesExtension(flags.keyCertSign | flags.cRLSign, true));
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(flags.digitalSignature | (isRsaKey(publicKey) ? flags.keyEncipherment : 0), true));
    const usages: string[] = [];
    if (profile === "server" || profile === "both") usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (profile === "client" || profile === "both") usages.push(x509.ExtendedKeyUsage.clientAuth);
    extensions.push(new x509.ExtendedKeyUsageExtension(usages, false));
  }
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(publicKey));
  extensions.push(await authorityKeyIdentifier(caCertificate));

  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: caCertificate.subjectName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.signParams,
    extensions,
  });
  const result = { certificatePem: certificatePem(certificate), certificate };
  return keys === undefined ? result : { ...result, privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/** The issuer must be a CA allowed to sign certificates (also for issue_ek_certificate.ts). @throws PkiError PKI_PROFILE. */
export function checkIssuer(caCertificate: x509.X509Certificate): void {
  const subject = caCertificate.subject;
  const basic = caCertificate.getExtension(x509.BasicConstraintsExtension);
  if (basic === null || !basic.ca) {
    throw new PkiError("PKI_PROFILE", `Issuer "${subject}" is not a CA: basicConstraints cA is ${basic === null ? "absent" : "false"}`, { subject });
  }
  const usage = caCertificate.getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new PkiError("PKI_PROFILE", `Issuer "${subject}" may not sign certificates: keyUsage lacks keyCertSign`, { subject });
  }
}

function subjectAltNames(options: IssueCertificateOptions): x509.JsonGeneralName[] {
  const names: x509.JsonGeneralName[] = [];
  for (const dns of options.dnsNames ?? []) {
    if (typeof dns !== "string" || dns.length > 253 || !HOST_NAME.test(dns))
      throw new PkiError("PKI_PROFILE", `Bad dnsNames entry ${JSON.stringify(dns)}: not a host name`);
    names.push({ type: "dns", value: dns });
  }
  for (const ip of options.ipAddresses ?? []) {
    const bad = (cause?: unknown): PkiError =>
      new PkiError("PKI_PROFILE", `Bad ipAddresses entry ${JSON.stringify(ip)}: not an IPv4 or IPv6 address`, { cause });
    if (typeof ip !== "string" || ip.includes("%") || !/^[0-9A-Fa-f:.]+$/.test(ip)) throw bad();
    try {
      void new x509.GeneralName("ip", ip).rawData; // encodes lazily: force it to validate now
    } catch (cause) {
      throw bad(cause);
    }
    names.push({ type: "ip", value: ip });
  }
  // Python's ssl (and browsers) ignore the commonName: a server certificate needs a SAN.
  const serves = options.profile === "server" || options.profile === "both";
  if (names.length === 0 && serves) {
    const cn = options.commonName;
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(cn)) names.push({ type: "ip", value: cn });
    else if (HOST_NAME.test(cn)) names.push({ type: "dns", value: cn });
  }
  return names;
}

async function authorityKeyIdentifier(caCertificate: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = caCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski !== null
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false)
    : x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey, false);
}
