/**
 * TPM endorsement key certificates (TCG EK Credential Profile for TPM Family 2.0, section 3.2):
 * the TPM's manufacturer, model and firmware version from the subjectAltName directoryName,
 * the TPM specification from subjectDirectoryAttributes, and the EK certificate EKU. Decoded with
 * @peculiar/asn1-x509 (X.509) and the TCG structures declared in `_tcg_asn1.ts`.
 *
 * @module
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AttributeValue,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  Name,
  SubjectAlternativeName,
  SubjectDirectoryAttributes,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectDirectoryAttributes,
} from "@peculiar/asn1-x509";
import { certificateDer } from "./_common.ts";
import { TPMSpecification, unsignedInteger } from "./_tcg_asn1.ts";
import { PkiError } from "./errors.ts";
import { formatName } from "./format_name.ts";

/** OIDs of the TCG EK Credential Profile. */
export const TCG_OID = {
  /** tcg-at-tpmManufacturer: `id:` and the TPM_PT_MANUFACTURER value in hex, e.g. `id:49465800` (IFX). */
  tpmManufacturer: "2.23.133.2.1",
  /** tcg-at-tpmModel. */
  tpmModel: "2.23.133.2.2",
  /** tcg-at-tpmVersion: `id:` and the firmware version in hex. */
  tpmVersion: "2.23.133.2.3",
  /** tcg-at-tpmSpecification (in subjectDirectoryAttributes). */
  tpmSpecification: "2.23.133.2.16",
  /** tcg-kp-EKCertificate extended key usage. */
  ekCertificate: "2.23.133.8.1",
} as const;

/** keyUsage bit names, in bit order (RFC 5280 4.2.1.3). */
export const KEY_USAGE_NAMES = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
] as const;

/** One keyUsage bit. */
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number];

/** TPMSpecification ::= SEQUENCE { family UTF8String, level INTEGER, revision INTEGER }. */
export interface TpmSpecification {
  /** e.g. `"2.0"`. */
  readonly family: string;
  /** e.g. `0`. */
  readonly level: number;
  /** e.g. `164` (revision 1.64... written as an integer ×100). */
  readonly revision: number;
}

/** What {@link parseEkCertificate} reads from an EK certificate. */
export interface EkCertificate {
  /** Subject DN as {@link formatName} writes it (often empty in EK certificates). */
  readonly subject: string;
  /** Issuer DN as {@link formatName} writes it. */
  readonly issuer: string;
  /**
   * Serial number as lowercase hex of the INTEGER's content bytes (without a DER sign byte).
   * Some vendors issue negative serials; those come back as their two's-complement bytes.
   */
  readonly serialNumber: string;
  /** Start of validity. */
  readonly notBefore: Date;
  /** End of validity (EK certificates often say 9999-12-31). */
  readonly notAfter: Date;
  /** The certified key as DER SubjectPublicKeyInfo. */
  readonly publicKeyDer: Uint8Array;
  /** tcg-at-tpmManufacturer, e.g. `"id:00001014"` (IBM: swtpm) or `"id:49465800"` (Infineon). */
  readonly tpmManufacturer?: string;
  /** tcg-at-tpmModel, e.g. `"swtpm"`. */
  readonly tpmModel?: string;
  /** tcg-at-tpmVersion, e.g. `"id:20191023"`. */
  readonly tpmVersion?: string;
  /** tcg-at-tpmSpecification from subjectDirectoryAttributes. */
  readonly tpmSpecification?: TpmSpecification;
  /** The keyUsage bits that are set (empty when there is no keyUsage extension). */
  readonly keyUsage: KeyUsageName[];
  /** extendedKeyUsage OIDs (empty when there is no extendedKeyUsage extension). */
  readonly extendedKeyUsage: string[];
  /** True when basicConstraints says cA (a manufacturer CA, not an EK certificate). */
  readonly isCa: boolean;
  /**
   * True when the extendedKeyUsage contains tcg-kp-EKCertificate (2.23.133.8.1) and the
   * certificate is not a CA. Vendor CAs (Infineon, Intel, Nationz) carry that EKU too, to
   * constrain what they issue; they are not EK certificates.
   */
  readonly isEk: boolean;
}

/**
 * Reads a TPM EK certificate (DER bytes, or PEM text). Parsing is lenient where real EK
 * certificates bend the rules: negative serials, empty subjects, strings of any ASN.1 type,
 * BER lengths and booleans, bytes after the certificate (NV indices are padded), and unknown or
 * odd extensions (only the ones read here must decode).
 * The TPM attributes come from the subjectAltName directoryName (one RDN per attribute or one
 * multi-valued RDN), falling back to the subject when the certificate has them there instead.
 * Works on any certificate: for a manufacturer CA or any other certificate `isEk` is false.
 * Nothing is verified here: see {@link verifyChain}.
 *
 * @example
 * ```ts
 * const ek = parseEkCertificate(nvReadBytes);
 * if (ek.isEk && ek.tpmManufacturer === "id:49465800") console.log("Infineon", ek.tpmModel, ek.tpmVersion);
 * ```
 * @throws PkiError PKI_PARSE naming the field or extension that does not decode.
 */
export function parseEkCertificate(der: Uint8Array | ArrayBuffer | string): EkCertificate {
  let certificate: Certificate;
  try {
    certificate = AsnConvert.parse(certificateDer(der, "EK certificate"), Certificate);
  } catch (cause) {
    if (cause instanceof PkiError) throw cause;
    throw new PkiError("PKI_PARSE", `Cannot parse EK certificate: ${(cause as Error).message}`, { cause });
  }
  const tbs = certificate.tbsCertificate;

  const attributes = new Map<string, string>();
  const keyUsage: KeyUsageName[] = [];
  const extendedKeyUsage: string[] = [];
  let tpmSpecification: TpmSpecification | undefined;
  let isCa = false;
  for (const extension of tbs.extensions ?? []) {
    const oid = extension.extnID;
    const value = extension.extnValue.buffer;
    const decode = <T>(name: string, read: () => T): T => {
      try {
        return read();
      } catch (cause) {
        if (cause instanceof PkiError) throw cause;
        throw new PkiError("PKI_PARSE", `Cannot decode EK certificate extension ${oid} (${name}): ${(cause as Error).message}`, { cause });
      }
    };
    switch (oid) {
      case id_ce_subjectAltName:
        decode("subjectAltName", () => {
          for (const generalName of AsnConvert.parse(value, SubjectAlternativeName)) {
            if (generalName.directoryName !== undefined) readTpmAttributes(generalName.directoryName, attributes);
          }
        });
        break;
      case id_ce_subjectDirectoryAttributes:
        tpmSpecification = decode("subjectDirectoryAttributes", () => readTpmSpecification(value)) ?? tpmSpecification;
        break;
      case id_ce_basicConstraints:
        isCa = decode("basicConstraints", () => AsnConvert.parse(value, BasicConstraints).cA);
        break;
      case id_ce_keyUsage: {
        const bits = decode("keyUsage", () => AsnConvert.parse(value, KeyUsage).toNumber());
        keyUsage.push(...KEY_USAGE_NAMES.filter((_, bit) => (bits & (1 << bit)) !== 0));
        break;
      }
      case id_ce_extKeyUsage:
        extendedKeyUsage.push(...decode("extendedKeyUsage", () => [...AsnConvert.parse(value, ExtendedKeyUsage)]));
        break;
    }
  }
  if (![TCG_OID.tpmManufacturer, TCG_OID.tpmModel, TCG_OID.tpmVersion].some((oid) => attributes.has(oid))) {
    readTpmAttributes(tbs.subject, attributes);
  }

  const field = <T>(name: string, get: () => T): T => {
    try {
      return get();
    } catch (cause) {
      throw new PkiError("PKI_PARSE", `Cannot parse EK certificate ${name}: ${(cause as Error).message}`, { cause });
    }
  };
  const result: EkCertificate = {
    subject: field("subject", () => formatName(tbs.subject)),
    issuer: field("issuer", () => formatName(tbs.issuer)),
    serialNumber: serialHex(tbs.serialNumber),
    notBefore: field("notBefore", () => tbs.validity.notBefore.getTime()),
    notAfter: field("notAfter", () => tbs.validity.notAfter.getTime()),
    publicKeyDer: field("subjectPublicKeyInfo", () => new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo))),
    keyUsage,
    extendedKeyUsage,
    isCa,
    isEk: !isCa && extendedKeyUsage.includes(TCG_OID.ekCertificate),
  };
  const manufacturer = attributes.get(TCG_OID.tpmManufacturer);
  const model = attributes.get(TCG_OID.tpmModel);
  const version = attributes.get(TCG_OID.tpmVersion);
  return {
    ...result,
    ...(manufacturer === undefined ? {} : { tpmManufacturer: manufacturer }),
    ...(model === undefined ? {} : { tpmModel: model }),
    ...(version === undefined ? {} : { tpmVersion: version }),
    ...(tpmSpecification === undefined ? {} : { tpmSpecification }),
  };
}

/** The serial's content octets in hex, without the sign octet DER adds before a high bit (as @peculiar/x509 writes it). */
function serialHex(serial: ArrayBuffer): string {
  let bytes = new Uint8Array(serial);
  if (bytes.length > 1 && bytes[0] === 0 && (bytes[1] ?? 0) > 0x7f) bytes = bytes.subarray(1);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Text of a TPM attribute value: any string type as text, anything else as `#` and its DER in hex (RFC 4514). */
function attributeText(value: AttributeValue): string {
  if (value.anyValue !== undefined) return "#" + Array.from(new Uint8Array(value.anyValue), (b) => b.toString(16).padStart(2, "0")).join("");
  return value.toString();
}

/** Copies the tcg-at-tpmManufacturer/Model/Version attributes of `name` (first one of each wins). */
function readTpmAttributes(name: Name, into: Map<string, string>): void {
  for (const rdn of name) {
    for (const { type, value } of rdn) {
      if ((type === TCG_OID.tpmManufacturer || type === TCG_OID.tpmModel || type === TCG_OID.tpmVersion) && !into.has(type)) {
        into.set(type, attributeText(value));
      }
    }
  }
}

/** The tcg-at-tpmSpecification attribute of subjectDirectoryAttributes, if there is one. */
function readTpmSpecification(value: ArrayBuffer): TpmSpecification | undefined {
  const attribute = AsnConvert.parse(value, SubjectDirectoryAttributes).find((a) => a.type === TCG_OID.tpmSpecification);
  const first = attribute?.values[0];
  if (first === undefined) return undefined;
  const specification = AsnConvert.parse(first, TPMSpecification);
  const level = unsignedInteger(specification.level);
  const revision = unsignedInteger(specification.revision);
  if (level === undefined || revision === undefined) throw new Error("tpmSpecification level or revision is not a small INTEGER");
  return { family: specification.family, level, revision };
}
