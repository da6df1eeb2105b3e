/**
 * Self-signed certificate authorities.
 *
 * @module
 */
import { certificatePem, randomSerialHex, subjectName, validityWindow } from "./_common.ts";
import { exportPrivateKeyPem, generateKeyPair, signingParamsFor, type KeyAlgorithm } from "./_keys.ts";
import { PkiError } from "./errors.ts";
import { x509 } from "./_x509.ts";

export type { KeyAlgorithm } from "./_keys.ts";

/** Options of {@link createCa}. */
export interface CreateCaOptions {
  /** Subject commonName (1 to 64 characters). */
  readonly commonName: string;
  /** Subject organizationName. */
  readonly organization?: string;
  /** Key type (default `"ecdsa-p256"`). */
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Days until notAfter (default 3650). notBefore is 5 minutes in the past. */
  readonly validityDays?: number;
  /** basicConstraints pathLenConstraint: how many intermediate CAs may follow (default: no limit). */
  readonly pathLength?: number;
}

/** A certificate with its private key, as {@link createCa} returns it. */
export interface CertificateAndKey {
  /** The certificate as PEM. */
  readonly certificatePem: string;
  /** The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly privateKeyPem: string;
  /** The parsed certificate (@peculiar/x509). */
  readonly certificate: x509.X509Certificate;
}

/**
 * Creates a self-signed root CA: basicConstraints `cA` (critical, with the optional path
 * length), keyUsage keyCertSign + cRLSign (critical), a subjectKeyIdentifier, and a random
 * 16-byte serial. Signed with SHA-256 (RSA PKCS#1 v1.5 or ECDSA).
 *
 * @example
 * ```ts
 * const ca = await createCa({ commonName: "Tessera Test CA", organization: "Tessera" });
 * const server = await issueCertificate(ca, { commonName: "localhost", profile: "server" });
 * ```
 * @throws PkiError PKI_PROFILE for a bad name, validity or path length; PKI_KEY for an unknown key type.
 */
export async function createCa(options: CreateCaOptions): Promise<CertificateAndKey> {
  const name = subjectName(options.commonName, options.organization);
  const { notBefore, notAfter } = validityWindow(options, 3650);
  const { pathLength } = options;
  if (pathLength !== undefined && (!Number.isInteger(pathLength) || pathLength < 0)) {
    throw new PkiError("PKI_PROFILE", `Bad pathLength ${pathLength}: must be an integer >= 0`);
  }
  const keys = await generateKeyPair(options.keyAlgorithm ?? "ecdsa-p256");
  const publicKey = await x509.PublicKey.create(keys.publicKey);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: signingParamsFor(publicKey, "CA key").signParams,
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return {
    certificatePem: certificatePem(certificate),
    privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
    certificate,
  };
}
