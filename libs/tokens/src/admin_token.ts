/**
 * Admin access tokens (RFC 9068 JWT access tokens, `typ` at+jwt) that attestd issues to administrators and
 * that attestd and kmxd accept. They share the signing keys with attestation tokens, so each kind refuses the
 * other: an admin token must have `typ` at+jwt and `aud`, and no EAR claims; an EAR has neither.
 * @module
 */
import { onlyTokenErrors, signJwt, tokenInvalid, verifyJwt } from "./_jws.ts";
import type { Jwks, TokenSigner } from "./jwks.ts";
import { TokenError } from "./errors.ts";

/** `typ` of an admin token's header (RFC 9068 §2.1). */
export const ADMIN_TOKEN_TYP = "at+jwt";

/** `client_id` of admin tokens (RFC 9068 requires one; there is one client, the admin API). */
export const ADMIN_CLIENT_ID = "tessera-admin";

/** The `aud` of the admin tokens attestd issues; attestd and kmxd both require it. */
export const ADMIN_TOKEN_AUDIENCE = "tessera-admin";

/** The group whose members may change anything on attestd and kmxd. */
export const TRUSTED_ADMINS = "TrustedAdmins";

/** The group whose members may read status (the trusted cluster's manager principal; kmxd's event subscription). */
export const TRUSTED_READERS = "TrustedReaders";

/** Groups that may read. */
export const READ_GROUPS: readonly string[] = Object.freeze([TRUSTED_ADMINS, TRUSTED_READERS]);

/** What goes into an admin token. */
export interface AdminTokenInput {
  issuer: string;
  subject: string;
  groups: readonly string[];
  audience: string;
  /** whole seconds, 1 s to 1 day */
  lifetimeSeconds: number;
  /** epoch ms (default `Date.now()`) */
  now?: number;
}

/** A verified admin token's principal. */
export interface AdminPrincipal {
  subject: string;
  groups: string[];
  issuer: string;
  /** epoch ms */
  expiresAt: number;
}

function bad(field: string, rule: string): TokenError {
  return new TokenError("TOKEN_INPUT", `admin token input ${field}: ${rule}`);
}

/**
 * Signs an admin token: claims iss, sub, aud, iat, exp, jti, client_id, groups.
 * @throws TokenError TOKEN_INPUT naming the bad field.
 * @example
 * ```ts
 * const { token } = await issueAdminToken({ issuer, subject: "admin", groups: ["TrustedAdmins"], audience: issuer, lifetimeSeconds: 3600 }, key);
 * ```
 */
export async function issueAdminToken(input: AdminTokenInput, key: TokenSigner): Promise<{ token: string; jti: string; expiresAt: number }> {
  const now = input.now ?? Date.now();
  for (const f of ["issuer", "subject", "audience"] as const)
    if (typeof input[f] !== "string" || input[f] === "" || input[f].length > 1024) throw bad(f, "must be a string of 1–1024 characters");
  if (!Array.isArray(input.groups) || !input.groups.every((g) => typeof g === "string" && g !== "")) throw bad("groups", "must be non-empty strings");
  if (!Number.isSafeInteger(input.lifetimeSeconds) || input.lifetimeSeconds < 1 || input.lifetimeSeconds > 86_400)
    throw bad("lifetimeSeconds", "must be a whole number from 1 to 86400");
  if (!Number.isFinite(now) || now < 0) throw bad("now", "must be epoch milliseconds");
  const iat = Math.floor(now / 1000);
  const exp = iat + input.lifetimeSeconds;
  const jti = crypto.randomUUID();
  const token = await signJwt(
    { iss: input.issuer, sub: input.subject, aud: input.audience, iat, exp, jti, client_id: ADMIN_CLIENT_ID, groups: [...input.groups] },
    key,
    ADMIN_TOKEN_TYP,
  );
  return { token, jti, expiresAt: exp * 1000 };
}

/**
 * Verifies an admin token: everything {@link verifyEar} checks of the JWS (canonical form, alg ES256, kid in
 * the JWKS, signature, iss, exp/iat with the clock tolerance), plus `typ` at+jwt, `aud` containing
 * `audience`, `groups` an array of strings, and no EAR claims (`eat_profile`, `submods`).
 * @throws TokenError TOKEN_EXPIRED or TOKEN_INVALID naming the rule; never anything else.
 */
export function verifyAdminToken(token: string, jwks: Jwks, options: { issuer: string; audience: string; now?: number }): Promise<AdminPrincipal> {
  return onlyTokenErrors(async () => {
    const { payload } = await verifyJwt(token, jwks, {
      issuer: options.issuer,
      audience: options.audience,
      now: options.now ?? Date.now(),
      checkTyp: (typ) => (typ !== undefined && ["at+jwt", "application/at+jwt"].includes(typ.toLowerCase()) ? undefined : `typ must be at+jwt, not ${JSON.stringify(typ)}`),
      requiredClaims: ["iss", "sub", "aud", "iat", "exp", "jti"],
    });
    if ("eat_profile" in payload || "submods" in payload) throw tokenInvalid("an admin token carries no EAR claims");
    const groups = payload.groups;
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string")) throw tokenInvalid("groups must be an array of strings");
    return { subject: payload.sub!, groups: [...(groups as string[])], issuer: payload.iss!, expiresAt: payload.exp! * 1000 };
  });
}
