/**
 * The attributes a server derives from a registered X.509 certificate (KMIP 1.4 §3.x / 2.1 §4.x):
 * Certificate Type, Certificate Length, the subject and issuer name parts. They are read-only.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { item } from "@tessera/kmip";
import type { Attr } from "./attributes.ts";
import { OperationError } from "./errors.ts";

const PARTS: Record<string, string> = {
  CN: "CN",
  O: "O",
  OU: "OU",
  C: "C",
  ST: "ST",
  L: "L",
  emailAddress: "Email",
  UID: "UID",
  serialNumber: "SerialNumber",
  title: "Title",
  DC: "DC",
  dnQualifier: "DNQualifier",
};

/** The attribute names derived here (all read-only for clients). */
export const CERTIFICATE_ATTRIBUTE_NAMES = new Set<string>([
  "CertificateType",
  "CertificateLength",
  ...Object.values(PARTS).flatMap((p) => [`CertificateSubject${p}`, `CertificateIssuer${p}`]),
]);

function parts(dn: string): [string, string][] {
  return dn
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}

/** Derives the certificate attributes of a DER certificate. */
export function certificateAttributes(der: Uint8Array): Attr[] {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw new OperationError("InvalidField", `CertificateValue is not an X.509 certificate: ${(e as Error).message}`);
  }
  const out: Attr[] = [
    { name: "CertificateType", value: item("CertificateType", "X_509") },
    { name: "CertificateLength", value: item("CertificateLength", der.length) },
  ];
  for (const [which, dn] of [
    ["Subject", cert.subject],
    ["Issuer", cert.issuer],
  ] as const) {
    for (const [k, v] of parts(dn)) {
      const p = PARTS[k];
      if (p) out.push({ name: `Certificate${which}${p}`, value: item(`Certificate${which}${p}`, v) });
    }
  }
  return out;
}
