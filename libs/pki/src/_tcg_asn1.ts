/**
 * The ASN.1 structures of the TCG EK Credential Profile for TPM Family 2.0 (section 3.1) that
 * @peculiar/asn1-x509 does not declare, as @peculiar/asn1-schema classes. The standard X.509
 * parts (Certificate, GeneralName, Name, SubjectDirectoryAttributes, ...) come from asn1-x509.
 *
 * The decorators are applied as calls: Node runs this TypeScript by erasing types, and decorator
 * syntax is not erasable.
 *
 * @module
 */
import { AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from "@peculiar/asn1-schema";

/**
 * ```asn1
 * tcg-at-tpmSpecification ATTRIBUTE ::= { WITH SYNTAX TPMSpecification ID { tcg-attribute 16 } }
 * TPMSpecification ::= SEQUENCE {
 *   family   UTF8String (SIZE (1..STRMAX)),
 *   level    INTEGER,
 *   revision INTEGER }
 * ```
 * `level` and `revision` are kept as the INTEGER's content octets: some TPMs write revision 138 as
 * the single octet 0x8a, without the sign octet DER needs, and it must still read as 138.
 */
export class TPMSpecification {
  /** e.g. `"2.0"`. */
  family = "";
  /** Content octets of the level INTEGER. */
  level: ArrayBuffer = new ArrayBuffer(0);
  /** Content octets of the revision INTEGER. */
  revision: ArrayBuffer = new ArrayBuffer(0);
}
AsnType({ type: AsnTypeTypes.Sequence })(TPMSpecification);
AsnProp({ type: AsnPropTypes.Utf8String })(TPMSpecification.prototype, "family");
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(TPMSpecification.prototype, "level");
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(TPMSpecification.prototype, "revision");

/** An unsigned reading of INTEGER content octets (up to 48 bits), or undefined when longer or empty. */
export function unsignedInteger(octets: ArrayBuffer): number | undefined {
  const bytes = new Uint8Array(octets);
  if (bytes.length === 0 || bytes.length > 6) return undefined;
  return bytes.reduce((value, b) => value * 256 + b, 0);
}
