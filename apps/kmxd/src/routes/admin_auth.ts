/**
 * Who may administer kmxd: the holders of attestd's admin tokens (checked against attestd's JWKS, issuer
 * `--attestd-issuer`, audience `tessera-admin`) or of the configured OIDC issuer's tokens. Changes need
 * TrustedAdmins; reads TrustedAdmins or TrustedReaders — the same sign-in as attestd (`tactl ta login`).
 * @module
 */
import { BearerTokenError, bearerAuth, oidcVerifier, requireGroups, type Principal, type ServiceEnv, type TokenVerifier } from "@tessera/http";
import { ADMIN_TOKEN_AUDIENCE, READ_GROUPS, TRUSTED_ADMINS, verifyAdminToken } from "@tessera/tokens";
import type { MiddlewareHandler } from "hono";
import { every } from "hono/combine";
import type { KmxdDeps } from "../deps.ts";

export { ADMIN_TOKEN_AUDIENCE, READ_GROUPS, TRUSTED_ADMINS };

/** A JWT's claim or header field, read without verifying (to pick the verifier; never trusted otherwise). */
function unverifiedPart(token: string, part: 0 | 1, field: string): unknown {
  const seg = token.split(".")[part];
  if (seg === undefined || seg.length > 16_384) return undefined;
  try {
    return (JSON.parse(Buffer.from(seg, "base64url").toString("utf8")) as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}

/**
 * The admin token verifier over `deps.attestdJwks`: a token whose `kid` the cached JWKS lacks makes one refetch
 * (attestd rotated its keys) before it is refused; a JWKS that cannot be fetched is `JWKS_UNAVAILABLE` (503).
 */
export function adminVerifier(deps: Pick<KmxdDeps, "attestdJwks" | "config" | "clock">): TokenVerifier {
  const oidc = deps.config.oidc === undefined ? undefined : { issuer: deps.config.oidc.issuer, verifier: oidcVerifier(deps.config.oidc) };
  const options = { issuer: deps.config.attestd.issuer, audience: ADMIN_TOKEN_AUDIENCE };
  async function jwks(refresh: boolean) {
    try {
      return await (refresh ? deps.attestdJwks.refresh() : deps.attestdJwks.get());
    } catch (e) {
      throw new BearerTokenError("JWKS_UNAVAILABLE", `attestd's JWKS cannot be fetched: ${(e as Error).message}`, { cause: e });
    }
  }
  return {
    async verify(token: string): Promise<Principal> {
      if (oidc !== undefined && unverifiedPart(token, 1, "iss") === oidc.issuer) return oidc.verifier.verify(token);
      let keys = await jwks(false);
      const kid = unverifiedPart(token, 0, "kid");
      if (typeof kid === "string" && !keys.keys.some((k) => (k as { kid?: unknown }).kid === kid)) keys = await jwks(true);
      const p = await verifyAdminToken(token, keys, { ...options, now: deps.clock.now() });
      return { subject: p.subject, groups: [...p.groups], issuer: p.issuer };
    },
  };
}

/** The two guards of the admin routes. */
export interface AdminGuards {
  /** Bearer token + TrustedAdmins or TrustedReaders. */
  readonly read: MiddlewareHandler<ServiceEnv>;
  /** Bearer token + TrustedAdmins. */
  readonly write: MiddlewareHandler<ServiceEnv>;
}

/** The guards over {@link adminVerifier}. */
export function adminGuards(deps: Pick<KmxdDeps, "attestdJwks" | "config" | "clock">): AdminGuards {
  const verifier = adminVerifier(deps);
  const authenticate = bearerAuth({ realm: "kmxd", verify: (t: string) => verifier.verify(t) });
  return { read: every(authenticate, requireGroups([...READ_GROUPS])), write: every(authenticate, requireGroups([TRUSTED_ADMINS])) };
}
