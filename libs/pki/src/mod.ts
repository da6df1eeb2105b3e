/**
 * @tessera/pki: the X.509 pieces of Tessera, on @peculiar/x509 and WebCrypto, without I/O.
 *
 * - {@link createCa}: a self-signed root CA.
 * - {@link issueCertificate}: TLS server/client certificates and intermediate CAs.
 * - {@link verifyChain}: path building and validation to trusted roots.
 * - {@link parseEkCertificate}: TPM EK certificates (TCG EK Credential Profile).
 * - {@link issueEkCertificate}: EK certificates for vTPMs, issued by a vTPM CA (same profile).
 * - {@link formatName}: an X.509 Name as text, as every subject and issuer here is written.
 * - {@link distinguishedName} and its kin: the unambiguous RFC 4514 string naming a certificate's holder.
 *   Both name forms are also the entry `@tessera/pki/names`, which loads only the ASN.1 packages (not
 *   @peculiar/x509 or tsyringe): the one to import where nothing else of pki is needed.
 * - {@link PkiError}: every failure, with a stable `code`.
 *
 * Loading this module configures @peculiar/x509 (WebCrypto provider, and the small `Reflect`
 * metadata shim its dependency tsyringe needs when no `reflect-metadata` is loaded).
 *
 * @module
 */
// The names entry (formatName, distinguishedName and its kin, PkiError), then what needs @peculiar/x509.
export * from "./names.ts";
export { createCa, type CertificateAndKey, type CreateCaOptions, type KeyAlgorithm } from "./create_ca.ts";
export { issueCertificate, type CertificateProfile, type IssueCertificateOptions, type IssuedCertificate, type IssuingCa } from "./issue_certificate.ts";
export { verifyChain, type CertificateInput, type VerifiedChain, type VerifyChainOptions } from "./verify_chain.ts";
export { KEY_USAGE_NAMES, TCG_OID, parseEkCertificate, type EkCertificate, type KeyUsageName, type TpmSpecification } from "./ek_certificate.ts";
export { issueEkCertificate, type IssueEkCertificateOptions, type IssuedEkCertificate } from "./issue_ek_certificate.ts";
export type { X509Certificate } from "@peculiar/x509";
