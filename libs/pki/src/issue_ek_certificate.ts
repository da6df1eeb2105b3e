/**
 * EK certificates for vTPMs, as a Trust Authority's vTPM CA issues them, following the TCG EK
 * Credential Profile for TPM Family 2.0 (section 3.2): an empty subject, a critical
 * subjectAltName whose directoryName carries the TPM manufacturer, model and version, keyUsage
 * keyEncipherment (RSA EK) or keyAgreement (ECC EK), the tcg-kp-EKCertificate EKU and
 * basicConstraints cA false. {@link parseEkCertificate} reads them back.
 *
 * @module
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AttributeTypeAndValue,
  AttributeValue,
  GeneralName,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { certificatePem, parseCertificate, pemBlocks, randomSerialHex, validityWindow } from "./_common.ts";
import { importSigningKey } from "./_keys.ts";
import { TCG_OID } from "./ek_certificate.ts";
import { PkiError } from "./errors.ts";
import { checkIssuer, type IssuingCa } from "./issue_certificate.ts";
import { x509 } from "./_x509.ts";

/** Options of {@link issueEkCertificate}. */
export interface IssueEkCertificateOptions {
  /** The EK's public key, SubjectPublicKeyInfo PEM (RSA 2048/3072 or ECC P-256/P-384). */
  readonly ekPublicKeyPem: string;
  /** TPM manufacturer as the TCG vendor id text, e.g. "id:54534553" (4 ASCII bytes as hex). */
  readonly manufacturer: string;
  /** TPM model text, e.g. "Tessera vTPM". */
  readonly model: string;
  /** TPM firmware version text, e.g. "id:00010000". */
  readonly version: string;
  /** Days until notAfter (default 3650 × 3: EK certificates outlive hosts); notBefore 5 minutes in the past. */
  readonly validityDays?: number;
}

/** The result of {@link issueEkCertificate}. */
export interface IssuedEkCertificate {
  /** The EK certificate as PEM (with a final newline). */
  readonly certificatePem: string;
  /** The same certificate as DER, as it goes into the TPM's EK certificate NV index. */
  readonly der: Uint8Array;
}

/** Default validity: EK certificates live as long as the (v)TPM, which outlives the host it runs on. */
const DEFAULT_VALIDITY_DAYS = 3650 * 3;

/** STRMAX of the TCG profile: the upper bound of the UTF8String attributes. */
const STRMAX = 255;

/** `id:` and the TPM_PT_MANUFACTURER value as 8 hex digits (TCG Vendor ID Registry). */
const MANUFACTURER_ID = /^id:[0-9A-Fa-f]{8}$/;

/** The EK key types a TPM 2.0 has certificates for (TCG EK Credential Profile, low and high range templates). */
const EK_KEY_TYPES = ["RSA 2048", "RSA 3072", "ECC P-256", "ECC P-384"] as const;

/**
 * Issues an EK certificate for a vTPM's endorsement key, signed by `ca` (for instance the Trust
 * Authority's vTPM CA made by {@link createCa}): random positive 16-byte serial, notBefore 5
 * minutes in the past, empty subject, critical subjectAltName directoryName with
 * tcg-at-tpmManufacturer / tpmModel / tpmVersion (UTF8String, one RDN each), critical keyUsage
 * keyEncipherment (RSA) or keyAgreement (ECC), extendedKeyUsage tcg-kp-EKCertificate, critical
 * basicConstraints cA false, and the authorityKeyIdentifier the profile requires. No
 * certificatePolicies and no subjectDirectoryAttributes (both optional in the profile).
 *
 * @example
 * ```ts
 * const ca = await createCa({ commonName: "Tessera vTPM CA", organization: "Tessera" });
 * const ek = await issueEkCertificate(ca, {
 *   ekPublicKeyPem, manufacturer: "id:54534553", model: "Tessera vTPM", version: "id:00010000",
 * });
 * // ek.der goes into the vTPM's RSA 2048 EK certificate NV index 0x01c00002 (ECC P-256: 0x01c0000a).
 * ```
 * @throws PkiError PKI_PROFILE when manufacturer, model, version or validityDays is bad, or the
 *   issuer is not a CA (names the field); PKI_KEY when `ekPublicKeyPem` is not an SPKI public key
 *   of a supported type, or the CA key does not load or does not match the CA certificate;
 *   PKI_PARSE when the CA certificate does not parse.
 */
export async function issueEkCertificate(ca: IssuingCa, options: IssueEkCertificateOptions): Promise<IssuedEkCertificate> {
  const caCertificate = parseCertificate(ca.certificatePem, "CA certificate");
  checkIssuer(caCertificate);
  const manufacturer = attributeText("manufacturer", options.manufacturer);
  if (!MANUFACTURER_ID.test(manufacturer)) {
    throw new PkiError(
      "PKI_PROFILE",
      `Bad manufacturer ${JSON.stringify(manufacturer)}: must be "id:" and 8 hex digits (the TCG vendor id), e.g. "id:54534553"`,
    );
  }
  const model = attributeText("model", options.model);
  const version = attributeText("version", options.version);
  const { notBefore, notAfter } = validityWindow(options, DEFAULT_VALIDITY_DAYS);
  const { publicKey, rsa } = ekPublicKey(options.ekPublicKeyPem);
  const signing = await importSigningKey(ca.privateKeyPem, caCertificate, "CA private key");

  const flags = x509.KeyUsageFlags;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(rsa ? flags.keyEncipherment : flags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([TCG_OID.ekCertificate], false),
    // The subject is empty, so RFC 5280 4.2.1.6 (and the TCG profile) make the SAN critical.
    new x509.Extension(id_ce_subjectAltName, true, tpmSubjectAltName(manufacturer, model, version)),
    await authorityKeyIdentifier(caCertificate),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: new x509.Name([]),
    issuer: caCertificate.subjectName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: signing.key,
    signingAlgorithm: signing.signParams,
    extensions,
  });
  return {
    certificatePem: certificatePem(certificate),
    der: new Uint8Array(certificate.rawData),
  };
}

/** A TPM attribute value: 1 to STRMAX characters. @throws PkiError PKI_PROFILE naming the field. */
function attributeText(field: "manufacturer" | "model" | "version", value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > STRMAX) {
    throw new PkiError("PKI_PROFILE", `Bad ${field} ${JSON.stringify(value)}: must be 1 to ${STRMAX} characters`);
  }
  return value;
}

/**
 * The EK public key: only an SPKI `PUBLIC KEY` block is accepted, so that a private key pasted in
 * by mistake is refused rather than certified through the public key node:crypto would derive.
 * @throws PkiError PKI_KEY naming ekPublicKeyPem.
 */
function ekPublicKey(pem: unknown): { publicKey: x509.PublicKey; rsa: boolean } {
  const what = "ekPublicKeyPem";
  const block = typeof pem === "string" ? pemBlocks(pem)[0] : undefined;
  if (block === undefined) throw new PkiError("PKI_KEY", `Cannot read ${what}: no PEM block`);
  if (block.label !== "PUBLIC KEY") {
    throw new PkiError("PKI_KEY", `Cannot read ${what}: a "${block.label}" PEM block, not a SubjectPublicKeyInfo "PUBLIC KEY"`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(block.der), format: "der", type: "spki" });
  } catch (cause) {
    throw new PkiError("PKI_KEY", `Cannot read ${what}: ${(cause as Error).message}`, { cause });
  }
  const details = key.asymmetricKeyDetails ?? {};
  let type: string;
  if (key.asymmetricKeyType === "rsa") type = `RSA ${details.modulusLength ?? "?"}`;
  else if (key.asymmetricKeyType === "ec")
    type = `ECC ${details.namedCurve === "prime256v1" ? "P-256" : details.namedCurve === "secp384r1" ? "P-384" : (details.namedCurve ?? "?")}`;
  else type = key.asymmetricKeyType ?? "unknown";
  if (!(EK_KEY_TYPES as readonly string[]).includes(type)) {
    throw new PkiError("PKI_KEY", `Unsupported ${what} key type ${type}: an EK is ${EK_KEY_TYPES.join(", ")}`);
  }
  return { publicKey: new x509.PublicKey(block.der), rsa: key.asymmetricKeyType === "rsa" };
}

/** SubjectAltName DER: one directoryName with the three TPM attributes as UTF8Strings, one RDN each. */
function tpmSubjectAltName(manufacturer: string, model: string, version: string): ArrayBuffer {
  const rdn = (type: string, value: string): RelativeDistinguishedName =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  const directoryName = new Name([rdn(TCG_OID.tpmManufacturer, manufacturer), rdn(TCG_OID.tpmModel, model), rdn(TCG_OID.tpmVersion, version)]);
  return AsnConvert.serialize(new SubjectAlternativeName([new GeneralName({ directoryName })]));
}

/** The authorityKeyIdentifier: the CA's subjectKeyIdentifier, or one computed from its key. */
async function authorityKeyIdentifier(caCertificate: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = caCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski !== null
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false)
    : x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey, false);
}
