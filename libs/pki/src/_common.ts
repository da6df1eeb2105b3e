/**
 * Pieces shared by the certificate builders and checkers: names, serials, validity windows and
 * certificate parsing with errors that say which input failed.
 *
 * @module
 */
import { PkiError } from "./errors.ts";
import { pemBlock } from "./_pem.ts";
import { x509 } from "./_x509.ts";

/** One day in milliseconds. */
export const DAY_MS = 86_400_000;

/** How far notBefore is back-dated, so peers with a slightly slow clock accept new certificates. */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60_000;

/** Upper bound of commonName and organizationName (RFC 5280 ub-common-name / ub-organization-name). */
const UB_NAME = 64;

/**
 * A random positive serial of exactly 16 bytes (hex): the first byte is 0x01..0x7f, so DER needs
 * neither a sign byte nor drops a leading zero.
 */
export function randomSerialHex(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `O=organization, CN=commonName` (organization optional). @throws PkiError PKI_PROFILE on empty or over-long values. */
export function subjectName(commonName: string, organization: string | undefined): x509.JsonName {
  checkNameValue("commonName", commonName);
  if (organization === undefined) return [{ CN: [commonName] }];
  checkNameValue("organization", organization);
  return [{ O: [organization] }, { CN: [commonName] }];
}

function checkNameValue(field: string, value: string): void {
  if (typeof value !== "string" || value.length === 0 || value.length > UB_NAME) {
    throw new PkiError("PKI_PROFILE", `Bad ${field} ${JSON.stringify(value)}: must be 1 to ${UB_NAME} characters`);
  }
}

/** Validity options common to {@link createCa} and {@link issueCertificate}. */
export interface ValidityOptions {
  /** Days from now until notAfter. */
  readonly validityDays?: number;
  /** Explicit notBefore (default: now minus 5 minutes). */
  readonly notBefore?: Date;
  /** Explicit notAfter (default: now plus validityDays). */
  readonly notAfter?: Date;
}

/** The notBefore/notAfter pair for `options`. @throws PkiError PKI_PROFILE when empty or inverted. */
export function validityWindow(options: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = options.validityDays ?? defaultDays;
  if (!Number.isFinite(days) || days <= 0) throw new PkiError("PKI_PROFILE", `Bad validityDays ${days}: must be a positive number`);
  const now = Date.now();
  const notBefore = options.notBefore ?? new Date(now - NOT_BEFORE_BACKDATE_MS);
  const notAfter = options.notAfter ?? new Date(now + days * DAY_MS);
  if (!(notAfter.getTime() > notBefore.getTime())) {
    throw new PkiError("PKI_PROFILE", `Bad validity: notAfter ${isoOrInvalid(notAfter)} is not after notBefore ${isoOrInvalid(notBefore)}`);
  }
  // X.509 times have whole seconds; drop the milliseconds so the certificate says what we return.
  return {
    notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000),
    notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000),
  };
}

function isoOrInvalid(date: Date): string {
  return Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString();
}

/**
 * Parses a certificate given as PEM text (the first `CERTIFICATE` block; other text around it
 * is ignored) or DER bytes.
 * @throws PkiError PKI_PARSE naming `what`.
 */
export function parseCertificate(input: string | Uint8Array | ArrayBuffer, what: string): x509.X509Certificate {
  const der =
    typeof input === "string" ? pemBlock(input, ["CERTIFICATE"], what).der : new Uint8Array(input instanceof Uint8Array ? input : new Uint8Array(input));
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new PkiError("PKI_PARSE", `Cannot parse ${what}: ${(cause as Error).message}`, { cause });
  }
}

/** The certificate as PEM with a final newline. */
export function certificatePem(certificate: x509.X509Certificate): string {
  return certificate.toString("pem").trimEnd().replace(/\r\n/g, "\n") + "\n";
}
