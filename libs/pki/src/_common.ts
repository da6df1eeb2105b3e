/**
 * Pieces shared by the certificate builders and checkers: names, serials, validity windows, PEM
 * (through @peculiar/x509's PemConverter) and certificate parsing with errors that say which
 * input failed.
 *
 * @module
 */
import { PkiError } from "./errors.ts";
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

/**
 * `O=organization, CN=commonName` (organization optional), each value exactly as given (a
 * PrintableString when it fits, else a UTF8String). Built from typed values rather than
 * @peculiar/x509's string form, which would read quotes and backslashes in a value as escapes.
 * @throws PkiError PKI_PROFILE on empty or over-long values.
 */
export function subjectName(commonName: string, organization: string | undefined): x509.Name {
  checkNameValue("commonName", commonName);
  if (organization === undefined) return new x509.Name([{ CN: [directoryString(commonName)] }]);
  checkNameValue("organization", organization);
  return new x509.Name([{ O: [directoryString(organization)] }, { CN: [directoryString(commonName)] }]);
}

function directoryString(value: string): { printableString: string } | { utf8String: string } {
  return x509.Name.isPrintableString(value) ? { printableString: value } : { utf8String: value };
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

/** A decoded PEM block. */
export interface PemBlock {
  /** The label, e.g. `CERTIFICATE`, `PRIVATE KEY`. */
  readonly label: string;
  /** The decoded bytes. */
  readonly der: Uint8Array<ArrayBuffer>;
}

/**
 * All PEM blocks (RFC 7468) in `text`, in order; text around them (such as an `openssl x509 -text`
 * dump) is ignored. Text that holds no readable block gives none.
 */
export function pemBlocks(text: string): PemBlock[] {
  try {
    return x509.PemConverter.decodeWithHeaders(text).map((block) => ({ label: block.type, der: new Uint8Array(block.rawData) }));
  } catch {
    return []; // a block whose body is not base64
  }
}

/** Encodes DER bytes as PEM with 64-character lines and a final newline. */
export function derToPem(der: ArrayBuffer | Uint8Array, label: string): string {
  return x509.PemConverter.encode(new Uint8Array(der).slice().buffer, label).replace(/\r\n/g, "\n") + "\n";
}

/**
 * The DER of a certificate given as PEM text (the first `CERTIFICATE` block) or DER bytes.
 * @throws PkiError PKI_PARSE naming `what` when the text has no certificate block.
 */
export function certificateDer(input: string | Uint8Array | ArrayBuffer, what: string): Uint8Array<ArrayBuffer> {
  if (typeof input !== "string") return new Uint8Array(input instanceof Uint8Array ? input : new Uint8Array(input));
  const block = pemBlocks(input).find((b) => b.label === "CERTIFICATE");
  if (block === undefined) throw new PkiError("PKI_PARSE", `Cannot parse ${what}: no PEM block labelled "CERTIFICATE"`);
  return block.der;
}

/**
 * Parses a certificate given as PEM text (the first `CERTIFICATE` block; other text around it
 * is ignored) or DER bytes.
 * @throws PkiError PKI_PARSE naming `what`.
 */
export function parseCertificate(input: string | Uint8Array | ArrayBuffer, what: string): x509.X509Certificate {
  const der = certificateDer(input, what);
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
