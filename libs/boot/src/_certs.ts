/**
 * X.509 certificates as the Secure Boot databases hold them: DER bytes and the subject that
 * `signedBy` refers to.
 * @module
 */
import { X509Certificate } from "node:crypto";

/** A parsed certificate: its DER and subject. */
export interface ParsedCertificate {
  /** The DER encoding (what an EFI_SIGNATURE_DATA holds). */
  readonly der: Uint8Array;
  /** The subject as `O=Tessera, CN=Tessera Test UEFI CA` (the order of the certificate). */
  readonly subject: string;
  /** The subject commonName, or "" when there is none. */
  readonly commonName: string;
}

/** Parses one PEM certificate; throws what node:crypto throws for anything else. */
export function parseCertificatePem(pem: string): ParsedCertificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new TypeError("not a PEM certificate (no BEGIN CERTIFICATE line)");
  const cert = new X509Certificate(pem);
  const parts = cert.subject.split("\n").filter((p) => p !== "");
  const cn = parts.find((p) => p.startsWith("CN="));
  return { der: new Uint8Array(cert.raw), subject: parts.join(", "), commonName: cn === undefined ? "" : cn.slice(3) };
}

/** Whether `signedBy` names this certificate: its commonName or its whole subject (any RDN order). */
export function certificateMatches(cert: ParsedCertificate, signedBy: string): boolean {
  if (signedBy === cert.commonName || signedBy === cert.subject) return true;
  const norm = (s: string): string =>
    s
      .split(/\s*,\s*/)
      .sort()
      .join(",");
  return norm(signedBy) === norm(cert.subject);
}
