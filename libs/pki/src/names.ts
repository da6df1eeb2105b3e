/**
 * `@tessera/pki/names`: X.509 names as text, without the rest of @tessera/pki. It loads only
 * @peculiar/asn1-schema and @peculiar/asn1-x509 (not @peculiar/x509, reflect-metadata or tsyringe), so
 * that the codec libs which name certificates (eventlog's Secure Boot databases, boot's `signedBy`) stay
 * light to load. The root `@tessera/pki` exports the same functions.
 *
 * - {@link formatName}: the readable form, for results, errors and logs (`C=US, O=Example\, Inc., CN=Example CA`).
 * - {@link distinguishedName}, {@link certificateSubject}, {@link certificateIssuer}, {@link parseDistinguishedName}:
 *   the unambiguous RFC 4514 string that names a certificate's holder, and the name back from it.
 * - {@link PkiError}: what they throw (`PKI_PARSE`).
 *
 * Both forms escape values with the same routine (RFC 4514 section 2.4).
 *
 * @module
 */
export { PKI_ERROR_CODES, PkiError, type PkiErrorCode, type PkiErrorOptions } from "./errors.ts";
export { formatName } from "./format_name.ts";
export {
  certificateIssuer,
  certificateSubject,
  distinguishedName,
  parseDistinguishedName,
  type DistinguishedName,
  type NameAttribute,
} from "./distinguished_name.ts";
