/**
 * Bearer-token authentication and group checks.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { ProblemError } from "./errors.ts";
import { problemResponse } from "./problem.ts";
import type { ServiceEnv } from "./service.ts";

/** Who is calling: the token's subject, its groups and its issuer. */
export interface Principal {
  /** The `sub` claim. */
  subject: string;
  /** Group names (the `groups` claim). */
  groups: readonly string[];
  /** The `iss` claim. */
  issuer: string;
}

/** Verifies a bearer token. */
export interface TokenVerifier {
  /**
   * Resolves to the caller, or rejects: with an error whose `code` is `TOKEN_EXPIRED` for an expired
   * token, `JWKS_UNAVAILABLE` when the keys cannot be fetched, anything else for an invalid token.
   */
  verify(token: string): Promise<Principal>;
}

/** Options of {@link bearerAuth}. */
export interface BearerAuthOptions extends TokenVerifier {
  /** The realm in `WWW-Authenticate` (default `tessera`). */
  readonly realm?: string;
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i;

/**
 * Requires `Authorization: Bearer <token>` and sets `c.get("principal")`.
 *
 * - no (or a non-Bearer) Authorization header → 401 `unauthorized`
 * - the verifier rejects with code `TOKEN_EXPIRED` → 401 `token-expired`
 * - the verifier rejects with code `JWKS_UNAVAILABLE` → 503 `auth-unavailable`
 * - any other rejection → 401 `token-invalid` (the reason is logged, not sent)
 *
 * Every 401 carries `WWW-Authenticate: Bearer realm=…` (RFC 6750).
 *
 * @example
 * ```ts
 * app.use("/api/v1/*", bearerAuth({ verify: (t) => verifyAdminToken(t, jwks, opts) }));
 * app.get("/api/v1/whoami", (c) => c.json(c.get("principal")));
 * ```
 */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler<ServiceEnv> {
  const realm = (options.realm ?? "tessera").replace(/["\\]/g, "");
  const challenge = (error?: string) => ({ "www-authenticate": `Bearer realm="${realm}"${error ? `, error="${error}"` : ""}` });
  return async (c, next) => {
    const m = BEARER.exec(c.req.header("authorization") ?? "");
    if (!m) {
      return problemResponse({ code: "unauthorized", status: 401, detail: "a bearer token is required (Authorization: Bearer <token>)", headers: challenge() });
    }
    let principal: Principal;
    try {
      principal = await options.verify(m[1]);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const reason = e instanceof Error ? e.message : String(e);
      c.get("log")?.warn({ code, reason }, "bearer token refused");
      if (code === "TOKEN_EXPIRED") {
        return problemResponse({ code: "token-expired", status: 401, detail: "the bearer token has expired", headers: challenge("invalid_token") });
      }
      if (code === "JWKS_UNAVAILABLE") {
        return problemResponse({ code: "auth-unavailable", status: 503, detail: "the keys to check the bearer token cannot be fetched now" });
      }
      return problemResponse({ code: "token-invalid", status: 401, detail: "the bearer token is not valid", headers: challenge("invalid_token") });
    }
    c.set("principal", principal);
    await next();
  };
}

/**
 * Requires the principal (set by {@link bearerAuth}) to be in at least one of `anyOf`: else 403 `forbidden`
 * naming the groups (extension member `requiredGroups`). Without a principal: 401 `unauthorized`.
 *
 * @example
 * ```ts
 * app.post("/api/v1/images", requireGroups(["TrustedAdmins"]), handler);
 * ```
 */
export function requireGroups(anyOf: readonly string[]): MiddlewareHandler<ServiceEnv> {
  const needed = [...anyOf];
  return async (c, next) => {
    const p = c.get("principal") as Principal | undefined;
    if (!p) throw new ProblemError("unauthorized", 401, "a bearer token is required (Authorization: Bearer <token>)");
    if (!p.groups.some((g) => needed.includes(g))) {
      throw new ProblemError("forbidden", 403, `${p.subject} is not in ${needed.length === 1 ? "the group" : "any of the groups"} ${needed.join(", ")}`, {
        requiredGroups: needed,
      });
    }
    await next();
  };
}
