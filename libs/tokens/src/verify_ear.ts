/**
 * Verifying an attestation token, as kmxd (or any relying party holding the JWKS) does.
 * @module
 */
import { onlyTokenErrors, tokenInvalid, verifyJwt } from "./_jws.ts";
import type { Jwks } from "./jwks.ts";
import { checkRsaPublicJwk } from "./_jwk.ts";
import { EAR_PROFILE, EAR_SUBMOD, TRUST_TIERS, TRUST_VECTOR_KEYS, type EarClaims } from "./ear_claims.ts";

/** Options of {@link verifyEar}. */
export interface VerifyEarOptions {
  /** The expected `iss` (the Trust Authority cluster's URL). */
  issuer: string;
  /** epoch ms (default `Date.now()`). */
  now?: number;
}

const HEX = /^(?:[0-9a-f]{2})+$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Checks the EAR shape the Veraison libraries require, and Tessera's own claims; throws the rule that fails. */
function checkClaims(p: Record<string, unknown>): EarClaims {
  if (p.eat_profile !== EAR_PROFILE) throw tokenInvalid(`eat_profile must be ${EAR_PROFILE}`);
  const vid = p["ear.verifier-id"];
  if (!isObject(vid) || typeof vid.developer !== "string" || typeof vid.build !== "string" || Object.keys(vid).length !== 2)
    throw tokenInvalid("ear.verifier-id must be {developer, build} strings");
  if (typeof p.eat_nonce !== "string" || p.eat_nonce.length < 8 || p.eat_nonce.length > 88) throw tokenInvalid("eat_nonce must be a string of 8–88 characters");
  const submods = p.submods;
  if (!isObject(submods) || Object.keys(submods).length === 0) throw tokenInvalid("submods must hold at least one appraisal");
  for (const [name, a] of Object.entries(submods)) {
    if (!isObject(a)) throw tokenInvalid(`submods.${name} must be an object`);
    if (typeof a["ear.status"] !== "string" || !Object.hasOwn(TRUST_TIERS, a["ear.status"])) throw tokenInvalid(`submods.${name}.ear.status is not a trust tier name`);
    const tv = a["ear.trustworthiness-vector"];
    if (tv !== undefined) {
      if (!isObject(tv)) throw tokenInvalid(`submods.${name}.ear.trustworthiness-vector must be an object`);
      for (const [k, v] of Object.entries(tv)) {
        if (!(TRUST_VECTOR_KEYS as readonly string[]).includes(k)) throw tokenInvalid(`submods.${name}.ear.trustworthiness-vector has unknown claim ${k}`);
        if (!Number.isInteger(v) || (v as number) < -128 || (v as number) > 127) throw tokenInvalid(`submods.${name}.ear.trustworthiness-vector.${k} is not an AR4SI value`);
      }
    }
    if (a["ear.appraisal-policy-id"] !== undefined && typeof a["ear.appraisal-policy-id"] !== "string")
      throw tokenInvalid(`submods.${name}.ear.appraisal-policy-id must be a string`);
  }
  const tpm = submods[EAR_SUBMOD];
  if (!isObject(tpm)) throw tokenInvalid(`submods.${EAR_SUBMOD} is missing`);
  if (tpm["ear.status"] !== "affirming") throw tokenInvalid(`submods.${EAR_SUBMOD}.ear.status is ${String(tpm["ear.status"])}, not affirming`);
  const t = p.tessera;
  if (!isObject(t)) throw tokenInvalid("tessera claim is missing");
  for (const f of ["ekFingerprint", "akName", "pcrDigest"] as const)
    if (typeof t[f] !== "string" || !HEX.test(t[f] as string)) throw tokenInvalid(`tessera.${f} must be lowercase hex`);
  if (t.ekCa !== undefined && (typeof t.ekCa !== "string" || !HEX.test(t.ekCa))) throw tokenInvalid("tessera.ekCa must be lowercase hex");
  if (typeof t.pcrSelection !== "string" || t.pcrSelection === "") throw tokenInvalid("tessera.pcrSelection must be a string");
  if (typeof t.secureBoot !== "boolean") throw tokenInvalid("tessera.secureBoot must be a boolean");
  if (t.image !== undefined && (!isObject(t.image) || typeof t.image.name !== "string" || typeof t.image.version !== "string"))
    throw tokenInvalid("tessera.image must be {name, version}");
  if (t.trustedCluster !== undefined && typeof t.trustedCluster !== "string") throw tokenInvalid("tessera.trustedCluster must be a string");
  if (p.cnf !== undefined) {
    if (!isObject(p.cnf)) throw tokenInvalid("cnf must be an object");
    const rule = checkRsaPublicJwk(p.cnf.jwk);
    if (rule !== undefined) throw tokenInvalid(`cnf.jwk ${rule}`);
  }
  return p as unknown as EarClaims;
}

/**
 * Verifies an attestation token against a JWKS: compact JWS in canonical base64url, header `alg` ES256 only,
 * `typ` absent or `JWT` (an admin `at+jwt` token is refused), `kid` naming exactly one public P-256 key of
 * `jwks`, the signature, `iss`, `exp` and `iat` within {@link CLOCK_TOLERANCE_SECONDS}, `jti` and `sub`, and
 * the EAR shape: `eat_profile`, `ear.verifier-id`, `eat_nonce`, `submods` (each `ear.status` a tier name,
 * vectors with AR4SI keys and int8 values), `submods.tpm.ear.status` affirming, the `tessera` claim, and a
 * `cnf.jwk` (when present) that is an RSA ≥ 2048 public key.
 * @throws TokenError TOKEN_EXPIRED for a well-signed token past `exp`, TOKEN_INVALID naming the failed rule
 * for anything else; never anything but a TokenError.
 * @example
 * ```ts
 * const claims = await verifyEar(bearer, jwks, { issuer: "https://ta.example:7889" });
 * if (!claims.cnf) throw new Error("binding-key-missing");
 * ```
 */
export function verifyEar(token: string, jwks: Jwks, options: VerifyEarOptions): Promise<EarClaims> {
  return onlyTokenErrors(async () => {
    const { payload } = await verifyJwt(token, jwks, {
      issuer: options.issuer,
      now: options.now ?? Date.now(),
      checkTyp: (typ) => (typ === undefined || typ === "JWT" ? undefined : `typ ${JSON.stringify(typ)} is not an attestation token's (JWT)`),
      requiredClaims: ["iss", "sub", "iat", "exp", "jti"],
    });
    if ("aud" in payload) throw tokenInvalid("an attestation token has no aud");
    return checkClaims(payload as Record<string, unknown>);
  });
}
