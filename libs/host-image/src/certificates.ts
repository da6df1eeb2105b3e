/**
 * X.509 certificates as the Secure Boot databases hold them (a manifest names them as PEM): DER bytes and the subject that
 * `signedBy` refers to. The subject is read with @peculiar/asn1-x509 and written with formatName
 * from @tessera/pki/names (pki's light entry: no @peculiar/x509), as eventlog's secureBootState
 * writes the subjects it finds in a log.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { formatName } from "@tessera/pki/names";

/** id-at-commonName. */
const COMMON_NAME = "2.5.4.3";

/** A parsed certificate: its DER and subject. */
export interface ParsedCertificate {
  /** The DER encoding (what an EFI_SIGNATURE_DATA holds). */
  readonly der: Uint8Array;
  /** The subject as `O=Tessera, CN=Tessera Test UEFI CA` (the order of the certificate; RFC 4514 escapes). */
  readonly subject: string;
  /** The subject commonName's value (unescaped; the first one when there are several), or "" when there is none. */
  readonly commonName: string;
}

/** Parses one PEM certificate; throws what node:crypto or asn1-schema throw for anything else. */
export function parseCertificatePem(pem: string): ParsedCertificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new TypeError("not a PEM certificate (no BEGIN CERTIFICATE line)");
  const der = new Uint8Array(new X509Certificate(pem).raw); // node:crypto reads PEM and checks the certificate
  const subject = AsnConvert.parse(der, Certificate).tbsCertificate.subject;
  const cn = subject.flatMap((rdn) => [...rdn]).find((atv) => atv.type === COMMON_NAME);
  return { der, subject: formatName(subject), commonName: cn === undefined ? "" : cn.value.toString() };
}

/** The RDNs of a subject string, split at the commas that are not escaped, in a fixed order. */
function rdnSet(subject: string): string {
  return subject
    .split(/(?<!\\),/)
    .map((rdn) => rdn.trim())
    .sort()
    .join(",");
}

/** Whether `signedBy` names this certificate: its commonName or its whole subject (any RDN order). */
export function certificateMatches(cert: ParsedCertificate, signedBy: string): boolean {
  if (signedBy === cert.commonName || signedBy === cert.subject) return true;
  return rdnSet(signedBy) === rdnSet(cert.subject);
}
