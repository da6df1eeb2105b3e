/**
 * A throw-away Secure Boot PKI for tests and dev hosts: PK → KEK → two db CAs.
 * @module
 */
import { createCa, issueCertificate, type CertificateAndKey } from "@tessera/pki";

/** Options of {@link makeTestSecureBootPki}. */
export interface TestSecureBootPkiOptions {
  /** Subject organizationName of every certificate (default "Tessera Test"). */
  readonly organization?: string;
}

/** The certificates (and keys) of a test Secure Boot PKI. */
export interface TestSecureBootPki {
  /** The Platform Key: self-signed. */
  readonly pk: CertificateAndKey;
  /** The Key Exchange Key CA, issued by the PK. */
  readonly kek: CertificateAndKey;
  /**
   * The db certificates, issued by the KEK: `[0]` "Tessera Test UEFI CA" (signs boot managers and shims,
   * as Microsoft's UEFI CA does), `[1]` "Tessera Test OS Signing CA" (signs grub and kernels).
   */
  readonly db: readonly CertificateAndKey[];
}

/**
 * Makes a Secure Boot PKI with @tessera/pki: a self-signed PK, a KEK CA under it and two db CAs under
 * the KEK. Its PEMs fill a manifest's `secureBoot` (see `defaultHostImage`).
 *
 * @example
 * ```ts
 * const pki = await makeTestSecureBootPki();
 * const manifest = defaultHostImage({ pki });
 * ```
 */
export async function makeTestSecureBootPki(options: TestSecureBootPkiOptions = {}): Promise<TestSecureBootPki> {
  const organization = options.organization ?? "Tessera Test";
  const pk = await createCa({ commonName: "Tessera Test Platform Key", organization });
  const issue = async (ca: CertificateAndKey, commonName: string): Promise<CertificateAndKey> => {
    const c = await issueCertificate(ca, { commonName, organization, profile: "ca", validityDays: 3650 });
    if (c.privateKeyPem === undefined) throw new Error(`issueCertificate returned no private key for ${commonName}`);
    return { certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem, certificate: c.certificate };
  };
  const kek = await issue(pk, "Tessera Test KEK CA");
  const db = [await issue(kek, "Tessera Test UEFI CA"), await issue(kek, "Tessera Test OS Signing CA")];
  return { pk, kek, db };
}
