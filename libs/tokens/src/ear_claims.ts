/**
 * The claims of Tessera's attestation token: an EAR (draft-ietf-rats-ear, EAT Attestation Result) in the
 * profile that Veraison's `ear` libraries (Go github.com/veraison/ear, Rust veraison/rust-ear, used by
 * Confidential Containers' Trustee) implement, plus Tessera's own `tessera` claim and RFC 7800 `cnf`.
 * @module
 */
import type { JWK } from "jose";

/** `eat_profile` of every Tessera token (Go `ear.EatProfile`). */
export const EAR_PROFILE = "tag:github.com,2023:veraison/ear";

/** `ear.verifier-id.developer` of every Tessera token. */
export const EAR_DEVELOPER = "tessera";

/** The one submodule a Tessera token appraises: the host's TPM-rooted boot. */
export const EAR_SUBMOD = "tpm";

/** Default `ear.appraisal-policy-id`: host images + PCR selection + Secure Boot, as attestd configures them. */
export const DEFAULT_APPRAISAL_POLICY_ID = "urn:tessera:appraisal-policy:host-image:v1";

/** AR4SI trust tiers, the values of `ear.status` (names on the wire; Go `ear.TrustTier`). */
export const TRUST_TIERS = { none: 0, affirming: 2, warning: 32, contraindicated: 96 } as const;

/** An `ear.status` value. */
export type TrustTierName = keyof typeof TRUST_TIERS;

/** The eight AR4SI trustworthiness claims `ear.trustworthiness-vector` may hold (Go `ear.TrustVector`). */
export const TRUST_VECTOR_KEYS = [
  "instance-identity",
  "configuration",
  "executables",
  "file-system",
  "hardware",
  "runtime-opaque",
  "storage-opaque",
  "sourced-data",
] as const;

/** An AR4SI claim value: a signed 8-bit integer; -1..1 none, 2..31 affirming, 32..95 warning, 96..127 and -128..-2 contraindicated. */
export type TrustClaim = number;

/**
 * The vector of an affirming Tessera appraisal, with the AR4SI values of draft-ietf-rats-ar4si §2.3 (Go
 * constant names in brackets):
 * - `instance-identity` 2 [TrustworthyInstanceClaim]: the quote was signed by the AK bound to the enrolled EK;
 * - `hardware` 2 [GenuineHardwareClaim]: the EK chains to a trusted TPM manufacturer CA or is pinned;
 * - `executables` 3 [ApprovedBootClaim]: the replayed event log shows only an accepted image's boot chain
 *   (boot time only: Tessera does not measure the run time);
 * - `configuration` 2 [ApprovedConfigClaim]: the PCR selection and Secure Boot policy the administrator set
 *   were met (the Secure Boot state itself is in `tessera.secureBoot`).
 * The other four are not claimed (omitted, which EAR reads as 0, "no claim").
 */
export const AFFIRMING_TRUST_VECTOR: Readonly<Record<string, TrustClaim>> = Object.freeze({
  "instance-identity": 2,
  configuration: 2,
  executables: 3,
  hardware: 2,
});

/** `ear.verifier-id` (AR4SI verifier identity; both members mandatory). */
export interface VerifierId {
  developer: string;
  build: string;
}

/** One submodule's appraisal. */
export interface EarAppraisal {
  "ear.status": TrustTierName;
  "ear.trustworthiness-vector"?: Record<string, TrustClaim>;
  "ear.appraisal-policy-id"?: string;
}

/** Tessera's own claim: what was attested, for kmxd and for people reading the token. */
export interface TesseraClaim {
  /** Lowercase hex SHA-256 of the EK public key's SPKI DER. */
  ekFingerprint: string;
  /**
   * Lowercase hex SHA-256 of the certificate DER of the trusted TPM CA the EK certificate chained to; absent when
   * the EK was trusted by a pin alone. kmxd places hosts in trusted clusters by it.
   */
  ekCa?: string;
  /** Lowercase hex TPM Name of the enrolled AK. */
  akName: string;
  /** The accepted host image the boot matched. */
  image?: { name: string; version: string };
  secureBoot: boolean;
  /** Lowercase hex digest of the quoted PCRs (TPMS_QUOTE_INFO.pcrDigest). */
  pcrDigest: string;
  /** The quoted selection in tpm2-tools syntax, e.g. `sha256:0,1,2,3,4,5,6,7`. */
  pcrSelection: string;
  /** The trusted cluster the host belongs to (kmxd checks that it may use the provider). */
  trustedCluster?: string;
}

/** The claims of a Tessera attestation token, as {@link verifyEar} returns them. */
export interface EarClaims {
  eat_profile: typeof EAR_PROFILE;
  iat: number;
  exp: number;
  jti: string;
  iss: string;
  sub: string;
  /** The challenge nonce exactly as attestd issued it: lowercase hex (a JSON text string, which EAT allows). */
  eat_nonce: string;
  "ear.verifier-id": VerifierId;
  submods: { tpm: EarAppraisal } & Record<string, EarAppraisal>;
  tessera: TesseraClaim;
  /** RFC 7800 confirmation: the host's TPM-resident binding key (RSA, alg RSA-OAEP-256). */
  cnf?: { jwk: JWK };
}
