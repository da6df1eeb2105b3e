/**
 * @tessera/ek-trust: whether a host's TPM endorsement key is trusted (issue #10, "TPM trust"). Pure: no I/O.
 *
 * - {@link checkEk}: the verdict on a host's EK certificate and/or EK public area, by manufacturer CAs (and their
 *   CRLs), a pinned EK certificate, or a pinned bare EK key.
 * - {@link parseCaBundle}: TPM manufacturer CA certificates as administrators import them (PEM bundles, DER).
 * - {@link ekFingerprint}: the hex SHA-256 of an EK's SubjectPublicKeyInfo.
 * - {@link EkTrustError}: what parseCaBundle and ekFingerprint throw, with a stable `code`.
 *
 * @module
 */
export { checkEk, type EkPresented, type EkRefused, type EkTrust, type EkTrusted, type EkTrustedVia, type EkVerdict } from "./check_ek.ts";
export { parseCaBundle, type CaCertificate } from "./parse_ca_bundle.ts";
export { ekFingerprint } from "./ek_fingerprint.ts";
export { EK_TRUST_ERROR_CODES, EkTrustError, type EkTrustErrorCode } from "./errors.ts";
