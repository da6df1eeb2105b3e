/**
 * The attributes a server derives from a registered X.509 certificate (KMIP 1.4 §3.x / 2.1 §4.x):
 * Certificate Type, Certificate Length, the subject and issuer name parts. They are read-only.
 * @module
 */
import { item } from "@tessera/kmip";
import { certificateIssuer, certificateSubject, type DistinguishedName } from "@tessera/pki";
import type { Attr } from "./attributes.ts";
import { OperationError } from "./errors.ts";

/** Name attribute types (OIDs) and the KMIP attribute name part each is reported as. */
const PARTS: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "2.5.4.8": "ST",
  "2.5.4.7": "L",
  "1.2.840.113549.1.9.1": "Email",
  "0.9.2342.19200300.100.1.1": "UID",
  "2.5.4.5": "SerialNumber",
  "2.5.4.12": "Title",
  "0.9.2342.19200300.100.1.25": "DC",
  "2.5.4.46": "DNQualifier",
};

/** The attribute names derived here (all read-only for clients). */
export const CERTIFICATE_ATTRIBUTE_NAMES = new Set<string>([
  "CertificateType",
  "CertificateLength",
  ...Object.values(PARTS).flatMap((p) => [`CertificateSubject${p}`, `CertificateIssuer${p}`]),
]);

/** Derives the certificate attributes of a DER certificate. */
export function certificateAttributes(der: Uint8Array): Attr[] {
  let subject: DistinguishedName;
  let issuer: DistinguishedName;
  try {
    subject = certificateSubject(der);
    issuer = certificateIssuer(der);
  } catch (e) {
    throw new OperationError("InvalidField", `CertificateValue is not an X.509 certificate: ${(e as Error).message}`);
  }
  const out: Attr[] = [
    { name: "CertificateType", value: item("CertificateType", "X_509") },
    { name: "CertificateLength", value: item("CertificateLength", der.length) },
  ];
  for (const [which, dn] of [
    ["Subject", subject],
    ["Issuer", issuer],
  ] as const) {
    // Each attribute of each RDN, multi-valued ones included, with its own text: never split out of a string.
    for (const a of dn.rdns.flat()) {
      const p = PARTS[a.oid];
      if (p && a.text !== undefined) out.push({ name: `Certificate${which}${p}`, value: item(`Certificate${which}${p}`, a.text) });
    }
  }
  return out;
}
