/**
 * Issuing the attestation token (PROTOCOL.md "The attestation token").
 * @module
 */
import type { JWK } from "jose";
import { signJwt } from "./_jws.ts";
import type { TokenSigner } from "./jwks.ts";
import { checkRsaPublicJwk } from "./_jwk.ts";
import {
  AFFIRMING_TRUST_VECTOR,
  DEFAULT_APPRAISAL_POLICY_ID,
  EAR_DEVELOPER,
  EAR_PROFILE,
  EAR_SUBMOD,
  type EarClaims,
  type TesseraClaim,
} from "./ear_claims.ts";
import { TokenError } from "./errors.ts";

/** `typ` of an EAR's JWS header (what Veraison's Go library writes). */
export const EAR_TYP = "JWT";

/** What goes into an attestation token for an affirming appraisal. */
export interface EarInput {
  /** `iss`: the Trust Authority cluster's URL. */
  issuer: string;
  /** `sub`: the host name. */
  subject: string;
  /** `eat_nonce`: the challenge nonce, lowercase hex (8–88 characters, the length Veraison accepts). */
  nonce: string;
  /** Issue time, epoch ms (default `Date.now()`); `iat` is its whole second. */
  now?: number;
  /** `exp - iat`, whole seconds, 1 s to 7 days. */
  lifetimeSeconds: number;
  /** `ear.verifier-id.build`, e.g. `attestd/0.1.0`. */
  verifierBuild: string;
  /** `ear.appraisal-policy-id` (default {@link DEFAULT_APPRAISAL_POLICY_ID}). */
  policyId?: string;
  ekFingerprint: string;
  /** The trusted TPM CA's certificate SHA-256 (hex), when the EK chained to one; becomes `tessera.ekCa`. */
  ekCa?: string;
  akName: string;
  image?: { name: string; version: string };
  secureBoot: boolean;
  pcrDigest: string;
  pcrSelection: string;
  trustedCluster?: string;
  /** The binding key's public JWK ({@link bindingKeyJwk}); becomes `cnf.jwk`. */
  cnfJwk?: JWK;
  /** `jti` (default a random UUID). */
  jti?: string;
}

const HEX = /^(?:[0-9a-f]{2})+$/;
const HOST = /^[a-z0-9.-]{1,253}$/;
const MAX_LIFETIME = 7 * 24 * 3600;

function bad(field: string, rule: string): TokenError {
  return new TokenError("TOKEN_INPUT", `EAR input ${field}: ${rule}`);
}

function nonEmpty(v: unknown, field: string, max = 1024): string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw bad(field, `must be a string of 1–${max} characters`);
  return v;
}

function hex(v: unknown, field: string): string {
  if (typeof v !== "string" || !HEX.test(v) || v.length > 1024) throw bad(field, "must be lowercase hex (whole bytes)");
  return v;
}

/**
 * Signs an attestation token with `key` (header `alg` ES256, `kid`, `typ` JWT).
 * @returns the compact JWS, its `jti`, and its expiry in epoch ms.
 * @throws TokenError TOKEN_INPUT naming the field that cannot go in a token.
 * @example
 * ```ts
 * const { token, expiresAt } = await issueEar({ issuer, subject: "host1.example", nonce, lifetimeSeconds: 3600,
 *   verifierBuild: "attestd/0.1.0", ekFingerprint, akName, image, secureBoot: true, pcrDigest, pcrSelection }, key);
 * ```
 */
export async function issueEar(input: EarInput, key: TokenSigner): Promise<{ token: string; jti: string; expiresAt: number }> {
  const now = input.now ?? Date.now();
  if (!Number.isFinite(now) || now < 0) throw bad("now", "must be epoch milliseconds");
  const lifetime = input.lifetimeSeconds;
  if (!Number.isSafeInteger(lifetime) || lifetime < 1 || lifetime > MAX_LIFETIME) throw bad("lifetimeSeconds", `must be a whole number from 1 to ${MAX_LIFETIME}`);
  const nonce = input.nonce;
  if (typeof nonce !== "string" || !HEX.test(nonce) || nonce.length < 8 || nonce.length > 88) throw bad("nonce", "must be lowercase hex of 8–88 characters");
  if (typeof input.subject !== "string" || !HOST.test(input.subject)) throw bad("subject", "must be a host name of 1–253 characters a-z 0-9 . -");
  if (typeof input.secureBoot !== "boolean") throw bad("secureBoot", "must be a boolean");
  const tessera: TesseraClaim = {
    ekFingerprint: hex(input.ekFingerprint, "ekFingerprint"),
    akName: hex(input.akName, "akName"),
    secureBoot: input.secureBoot,
    pcrDigest: hex(input.pcrDigest, "pcrDigest"),
    pcrSelection: nonEmpty(input.pcrSelection, "pcrSelection"),
  };
  if (input.ekCa !== undefined) tessera.ekCa = hex(input.ekCa, "ekCa");
  if (input.image !== undefined) tessera.image = { name: nonEmpty(input.image.name, "image.name"), version: nonEmpty(input.image.version, "image.version") };
  if (input.trustedCluster !== undefined) tessera.trustedCluster = nonEmpty(input.trustedCluster, "trustedCluster");
  const iat = Math.floor(now / 1000);
  const exp = iat + lifetime;
  const jti = input.jti === undefined ? crypto.randomUUID() : nonEmpty(input.jti, "jti", 256);
  const claims: EarClaims = {
    eat_profile: EAR_PROFILE,
    iat,
    exp,
    jti,
    iss: nonEmpty(input.issuer, "issuer"),
    sub: input.subject,
    eat_nonce: nonce,
    "ear.verifier-id": { developer: EAR_DEVELOPER, build: nonEmpty(input.verifierBuild, "verifierBuild") },
    submods: {
      [EAR_SUBMOD]: {
        "ear.status": "affirming",
        "ear.trustworthiness-vector": { ...AFFIRMING_TRUST_VECTOR },
        "ear.appraisal-policy-id": input.policyId === undefined ? DEFAULT_APPRAISAL_POLICY_ID : nonEmpty(input.policyId, "policyId"),
      },
    } as EarClaims["submods"],
    tessera,
  };
  if (input.cnfJwk !== undefined) {
    const rule = checkRsaPublicJwk(input.cnfJwk);
    if (rule !== undefined) throw bad("cnfJwk", rule);
    claims.cnf = { jwk: input.cnfJwk };
  }
  const token = await signJwt(claims as unknown as Record<string, unknown>, key, EAR_TYP);
  return { token, jti, expiresAt: exp * 1000 };
}
