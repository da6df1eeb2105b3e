/**
 * TPM endorsement key certificates (TCG EK Credential Profile for TPM Family 2.0, section 3.2):
 * the TPM's manufacturer, model and firmware version from the subjectAltName directoryName,
 * the TPM specification from subjectDirectoryAttributes, and the EK certificate EKU.
 *
 * @module
 */
import { parseCertificate } from "./_common.ts";
import { TAG, children, content, decodeOid, decodeSmallInteger, decodeString, encoding, expectTag, readRoot, type Tlv } from "./_der.ts";
import { PkiError } from "./errors.ts";

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
  /** Subject DN (RFC 4514 string; often empty in EK certificates). */
  readonly subject: string;
  /** Issuer DN (RFC 4514 string). */
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
  /** The certified key as DER SubjectPublicKeyInfo, byte for byte as in the certificate. */
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

const EXT = {
  subjectDirectoryAttributes: "2.5.29.9",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  extendedKeyUsage: "2.5.29.37",
} as const;

/** GeneralName directoryName: [4] EXPLICIT Name. */
const DIRECTORY_NAME = 0xa4;

/**
 * Reads a TPM EK certificate (DER bytes, or PEM text). Parsing is lenient where real EK
 * certificates bend the rules: negative serials, empty subjects, strings of any ASN.1 type,
 * non-minimal lengths, and unknown or odd extensions (only the ones read here must decode).
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
  const certificate = parseCertificate(der, "EK certificate");
  const bytes = new Uint8Array(certificate.rawData);
  const tbs = readTbs(bytes);

  const attributes = new Map<string, string>();
  const keyUsage: KeyUsageName[] = [];
  const extendedKeyUsage: string[] = [];
  let tpmSpecification: TpmSpecification | undefined;
  let isCa = false;
  for (const extension of tbs.extensions) {
    const what = `EK certificate extension ${extension.oid}`;
    const value = extension.value;
    switch (extension.oid) {
      case EXT.subjectAltName:
        readSanAttributes(value, attributes, `${what} (subjectAltName)`);
        break;
      case EXT.subjectDirectoryAttributes:
        tpmSpecification = readTpmSpecification(value, `${what} (subjectDirectoryAttributes)`) ?? tpmSpecification;
        break;
      case EXT.basicConstraints:
        isCa = readBasicConstraintsCa(value, `${what} (basicConstraints)`);
        break;
      case EXT.keyUsage:
        keyUsage.push(...readKeyUsage(value, `${what} (keyUsage)`));
        break;
      case EXT.extendedKeyUsage: {
        const eku = `${what} (extendedKeyUsage)`;
        const root = readRoot(value, eku, TAG.sequence);
        extendedKeyUsage.push(...children(value, root, eku).map((t) => decodeOid(value, t, eku)));
        break;
      }
    }
  }
  if (![TCG_OID.tpmManufacturer, TCG_OID.tpmModel, TCG_OID.tpmVersion].some((oid) => attributes.has(oid))) {
    // A fallback only: a subject this reader cannot walk just means no attributes from there.
    try {
      for (const { oid, value } of readName(bytes, tbs.subject, "EK certificate subject")) {
        if (!attributes.has(oid)) attributes.set(oid, value);
      }
    } catch {
      // keep what the subjectAltName gave (nothing)
    }
  }

  const field = <T>(name: string, get: () => T): T => {
    try {
      return get();
    } catch (cause) {
      throw new PkiError("PKI_PARSE", `Cannot parse EK certificate ${name}: ${(cause as Error).message}`, { cause });
    }
  };
  const result: EkCertificate = {
    subject: field("subject", () => certificate.subject),
    issuer: field("issuer", () => certificate.issuer),
    serialNumber: field("serialNumber", () => certificate.serialNumber),
    notBefore: field("notBefore", () => certificate.notBefore),
    notAfter: field("notAfter", () => certificate.notAfter),
    publicKeyDer: encoding(bytes, tbs.subjectPublicKeyInfo),
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

interface RawExtension {
  readonly oid: string;
  readonly value: Uint8Array;
}

interface Tbs {
  readonly subject: Tlv;
  readonly subjectPublicKeyInfo: Tlv;
  readonly extensions: RawExtension[];
}

/** Walks TBSCertificate by position; only the subject, the SPKI and the extensions are kept. */
function readTbs(bytes: Uint8Array): Tbs {
  const certificate = readRoot(bytes, "EK certificate", TAG.sequence);
  const tbs = children(bytes, certificate, "EK certificate")[0];
  expectTag(tbs, TAG.sequence, "EK certificate tbsCertificate");
  const items = children(bytes, tbs, "EK certificate tbsCertificate");
  const start = items[0]?.tag === 0xa0 ? 1 : 0; // [0] version is absent in v1 certificates
  const subject = items[start + 4];
  expectTag(subject, TAG.sequence, "EK certificate subject");
  const subjectPublicKeyInfo = items[start + 5];
  expectTag(subjectPublicKeyInfo, TAG.sequence, "EK certificate subjectPublicKeyInfo");
  const extensions: RawExtension[] = [];
  const wrapper = items.slice(start + 6).find((t) => t.tag === 0xa3);
  if (wrapper !== undefined) {
    const what = "EK certificate extensions";
    const list = children(bytes, wrapper, what)[0];
    expectTag(list, TAG.sequence, what);
    for (const extension of children(bytes, list, what)) {
      expectTag(extension, TAG.sequence, what);
      const parts = children(bytes, extension, what);
      const oid = decodeOid(bytes, parts[0] as Tlv, `${what}: extnID`);
      const value = parts[parts.length - 1];
      expectTag(value, TAG.octetString, `EK certificate extension ${oid}: extnValue`);
      extensions.push({ oid, value: content(bytes, value) });
    }
  }
  return { subject, subjectPublicKeyInfo, extensions };
}

/** The attributes of a Name (any number of RDNs, each with any number of attributes). */
function readName(bytes: Uint8Array, name: Tlv, what: string): { oid: string; value: string }[] {
  const attributes: { oid: string; value: string }[] = [];
  for (const rdn of children(bytes, name, what)) {
    expectTag(rdn, TAG.set, what);
    for (const pair of children(bytes, rdn, what)) {
      expectTag(pair, TAG.sequence, what);
      const [type, value] = children(bytes, pair, what);
      if (type === undefined || value === undefined) throw new PkiError("PKI_PARSE", `Cannot decode ${what} at byte ${pair.start}: attribute without a value`);
      attributes.push({
        oid: decodeOid(bytes, type, what),
        value: decodeString(bytes, value),
      });
    }
  }
  return attributes;
}

function readSanAttributes(value: Uint8Array, into: Map<string, string>, what: string): void {
  const names = readRoot(value, what, TAG.sequence);
  for (const generalName of children(value, names, what)) {
    if (generalName.tag !== DIRECTORY_NAME) continue;
    const name = children(value, generalName, `${what} directoryName`)[0];
    expectTag(name, TAG.sequence, `${what} directoryName`);
    for (const { oid, value: text } of readName(value, name, `${what} directoryName`)) {
      if (!into.has(oid)) into.set(oid, text);
    }
  }
}

function readTpmSpecification(value: Uint8Array, what: string): TpmSpecification | undefined {
  const attributes = readRoot(value, what, TAG.sequence);
  for (const attribute of children(value, attributes, what)) {
    expectTag(attribute, TAG.sequence, what);
    const [type, values] = children(value, attribute, what);
    if (type === undefined || decodeOid(value, type, what) !== TCG_OID.tpmSpecification) continue;
    const spec = `${what} tpmSpecification`;
    expectTag(values, TAG.set, spec);
    const sequence = children(value, values, spec)[0];
    expectTag(sequence, TAG.sequence, spec);
    const [family, level, revision] = children(value, sequence, spec);
    if (family === undefined || level === undefined || revision === undefined) {
      throw new PkiError("PKI_PARSE", `Cannot decode ${spec} at byte ${sequence.start}: expected family, level and revision`);
    }
    return {
      family: decodeString(value, family),
      level: decodeSmallInteger(value, level, spec, true),
      revision: decodeSmallInteger(value, revision, spec, true),
    };
  }
  return undefined;
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
function readBasicConstraintsCa(value: Uint8Array, what: string): boolean {
  const root = readRoot(value, what, TAG.sequence);
  const first = children(value, root, what)[0];
  // Any non-zero octet is TRUE: BER, which some vendors write, allows more than 0xff.
  return first?.tag === TAG.boolean && content(value, first).some((b) => b !== 0);
}

function readKeyUsage(value: Uint8Array, what: string): KeyUsageName[] {
  const bits = readRoot(value, what, TAG.bitString);
  const data = content(value, bits);
  const names: KeyUsageName[] = [];
  KEY_USAGE_NAMES.forEach((name, bit) => {
    const byte = data[1 + (bit >> 3)];
    if (byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0) names.push(name);
  });
  return names;
}
