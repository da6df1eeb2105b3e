/**
 * The one way Tessera writes an X.509 Name as text, for certificate subjects and issuers in
 * results, errors and logs (pki's parsed certificates, eventlog's Secure Boot databases, boot's
 * `signedBy` matching).
 *
 * @module
 */
import { Name } from "@peculiar/asn1-x509";
import { PkiError } from "./errors.ts";
import { x509 } from "./_x509.ts";

/**
 * Writes a Name as @peculiar/x509 does (and so as every subject and issuer from this lib reads):
 * the RDNs in certificate order joined with `, `, the attributes of a multi-valued RDN joined
 * with `+`, known types by short name (`CN`, `O`, `OU`, `C`, `ST`, `L`, `DC`, `E`, ...) and others
 * by dotted OID, values escaped as RFC 4514 section 2.4 says (`,` `+` `"` `\` `<` `>` `;`, a leading
 * space or `#`, a trailing space), and values that are not strings as `#` and their DER in hex.
 * The empty name is `""`.
 *
 * @param name the Name as parsed by @peculiar/asn1-x509, or its DER.
 * @example
 * ```ts
 * formatName(certificate.tbsCertificate.subject); // "C=US, O=Example\, Inc., CN=Example CA"
 * ```
 * @throws PkiError PKI_PARSE when DER is given that is not a Name.
 */
export function formatName(name: Name | Uint8Array | ArrayBuffer): string {
  if (name instanceof Name) return new x509.Name(name).toString();
  try {
    return new x509.Name(name instanceof Uint8Array ? new Uint8Array(name) : name).toString();
  } catch (cause) {
    throw new PkiError("PKI_PARSE", `Cannot decode Name: ${(cause as Error).message}`, { cause });
  }
}
