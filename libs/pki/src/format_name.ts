/**
 * The one way Tessera writes an X.509 Name as text, for certificate subjects and issuers in
 * results, errors and logs (pki's parsed certificates, eventlog's Secure Boot databases, boot's
 * `signedBy` matching). Loads only @peculiar/asn1-schema and @peculiar/asn1-x509 (not @peculiar/x509),
 * so that the codec libs can name certificates cheaply: import it from `@tessera/pki/names`.
 *
 * @module
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { Name } from "@peculiar/asn1-x509";
import { escapeValue, toHex } from "./_name_text.ts";
import { PkiError } from "./errors.ts";

/** Short names of attribute types, as @peculiar/x509 names them; other types are written as their dotted OID. */
const READABLE_TYPES: ReadonlyMap<string, string> = new Map([
  ["2.5.4.3", "CN"],
  ["2.5.4.7", "L"],
  ["2.5.4.8", "ST"],
  ["2.5.4.10", "O"],
  ["2.5.4.11", "OU"],
  ["2.5.4.6", "C"],
  ["0.9.2342.19200300.100.1.25", "DC"],
  ["1.2.840.113549.1.9.1", "E"],
  ["2.5.4.42", "G"],
  ["2.5.4.43", "I"],
  ["2.5.4.4", "SN"],
  ["2.5.4.12", "T"],
]);

/**
 * Writes a Name as @peculiar/x509 does (and so as every subject and issuer from this lib reads):
 * the RDNs in certificate order joined with `, `, the attributes of a multi-valued RDN joined
 * with `+`, known types by short name (`CN`, `O`, `OU`, `C`, `ST`, `L`, `DC`, `E`, ...) and others
 * by dotted OID, values escaped as RFC 4514 section 2.4 says (`,` `+` `"` `\` `<` `>` `;`, a leading
 * space or `#`, a trailing space; control characters as `\0A`), and values that are not strings as `#`
 * and their DER in hex. The empty name is `""`.
 *
 * @param name the Name as parsed by @peculiar/asn1-x509, or its DER.
 * @example
 * ```ts
 * formatName(certificate.tbsCertificate.subject); // "C=US, O=Example\, Inc., CN=Example CA"
 * ```
 * @throws PkiError PKI_PARSE when DER is given that is not a Name.
 */
export function formatName(name: Name | Uint8Array | ArrayBuffer): string {
  let parsed: Name;
  if (name instanceof Name) parsed = name;
  else {
    try {
      parsed = AsnConvert.parse(name, Name);
    } catch (cause) {
      throw new PkiError("PKI_PARSE", `Cannot decode Name: ${(cause as Error).message}`, { cause });
    }
  }
  return parsed
    .map((rdn) =>
      rdn
        .map((atv) => {
          const type = READABLE_TYPES.get(atv.type) ?? atv.type;
          const value = atv.value.anyValue ? `#${toHex(atv.value.anyValue)}` : escapeValue(atv.value.toString(), "readable");
          return `${type}=${value}`;
        })
        .join("+"),
    )
    .join(", ");
}
