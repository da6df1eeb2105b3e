/**
 * Verifying JWTs from an OpenID Connect issuer (or any issuer that publishes a JWKS).
 * @module
 */
import { request } from "node:https";
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Principal, TokenVerifier } from "./auth.ts";
import { BearerTokenError } from "./errors.ts";

/** Options of {@link oidcVerifier}. */
export interface OidcVerifierOptions {
  /** The expected `iss`. Also where discovery is read (`<issuer>/.well-known/openid-configuration`) when `jwksUrl` is absent. */
  readonly issuer: string;
  /** The expected `aud` (a token without it is refused when set). */
  readonly audience?: string;
  /** The JWKS address; skips discovery. */
  readonly jwksUrl?: string;
  /** PEM CA certificates to trust for the issuer's TLS instead of the system's (a local issuer). */
  readonly ca?: string | readonly string[];
  /** Accepted signature algorithms (default: ES256, ES384, RS256, PS256, EdDSA: asymmetric only). */
  readonly algorithms?: readonly string[];
  /** Clock skew allowed on exp/nbf, seconds (default 30). */
  readonly clockToleranceSeconds?: number;
}

const ALGORITHMS = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

/**
 * A GET over node:https trusting `ca`, as a web Response (global fetch cannot take a CA); answers over 1 MiB are
 * refused. For a service reading another's JWKS or JSON (kmxd reading attestd's).
 */
export function fetchWithCa(ca: string | readonly string[]): (url: string, init?: { headers?: Headers; signal?: AbortSignal }) => Promise<Response> {
  return (url: string, init?: { headers?: Headers; signal?: AbortSignal }): Promise<Response> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      init?.headers?.forEach((v, k) => (headers[k] = v));
      const req = request(url, { method: "GET", headers, ca: typeof ca === "string" ? ca : [...ca], signal: init?.signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (d: Buffer) => {
          size += d.length;
          // A JWKS is a few KiB; refuse to buffer an endless answer.
          if (size > 1024 * 1024) req.destroy(new Error(`${url} answered more than 1 MiB`));
          else chunks.push(d);
        });
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: h }));
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
}

/**
 * A {@link TokenVerifier} for JWTs signed with the issuer's published keys (jose `createRemoteJWKSet`: keys
 * cached, refetched when an unknown `kid` shows up). The principal's groups are the `groups` claim (absent → none).
 *
 * Rejects with {@link BearerTokenError}: `TOKEN_EXPIRED` (exp passed), `TOKEN_INVALID` (signature, issuer,
 * audience, unknown kid, malformed, no `sub`), `JWKS_UNAVAILABLE` (discovery or JWKS cannot be fetched).
 *
 * @example
 * ```ts
 * const oidc = oidcVerifier({ issuer: "https://login.example", audience: "attestd" });
 * app.use("/api/v1/*", bearerAuth(oidc));
 * ```
 */
export function oidcVerifier(options: OidcVerifierOptions): TokenVerifier {
  const doFetch = options.ca ? fetchWithCa(options.ca) : (url: string, init?: RequestInit) => fetch(url, init);
  let jwks: Promise<JWTVerifyGetKey> | undefined;
  async function resolveJwks(): Promise<JWTVerifyGetKey> {
    let url = options.jwksUrl;
    if (!url) {
      const where = `${options.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
      let meta: { issuer?: unknown; jwks_uri?: unknown };
      try {
        const res = await doFetch(where, { headers: new Headers({ accept: "application/json" }), signal: AbortSignal.timeout(10_000) });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        meta = (await res.json()) as typeof meta;
      } catch (e) {
        throw new BearerTokenError("JWKS_UNAVAILABLE", `cannot read ${where}: ${(e as Error).message}`, { cause: e });
      }
      if (meta.issuer !== options.issuer || typeof meta.jwks_uri !== "string") {
        throw new BearerTokenError("JWKS_UNAVAILABLE", `${where} does not describe issuer ${options.issuer} with a jwks_uri`);
      }
      url = meta.jwks_uri;
    }
    return createRemoteJWKSet(new URL(url), options.ca ? { [customFetch]: doFetch } : {});
  }
  return {
    async verify(token) {
      if (!jwks) {
        jwks = resolveJwks();
        // A failed discovery is retried on the next token, not remembered.
        jwks.catch(() => (jwks = undefined));
      }
      const keys = await jwks;
      let payload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          ...(options.audience !== undefined ? { audience: options.audience } : {}),
          algorithms: [...(options.algorithms ?? ALGORITHMS)],
          clockTolerance: options.clockToleranceSeconds ?? 30,
        }));
      } catch (e) {
        if (e instanceof errors.JWTExpired) throw new BearerTokenError("TOKEN_EXPIRED", "the token has expired", { cause: e });
        // JWKS fetch failures: a timeout, a bad JWKS, a non-200 answer (jose's generic error) or the fetch itself.
        const generic = e instanceof errors.JOSEError && e.code === "ERR_JOSE_GENERIC";
        if (generic || e instanceof errors.JWKSTimeout || e instanceof errors.JWKSInvalid || (e instanceof Error && !(e instanceof errors.JOSEError))) {
          throw new BearerTokenError("JWKS_UNAVAILABLE", `cannot fetch the issuer's keys: ${e.message}`, { cause: e });
        }
        throw new BearerTokenError("TOKEN_INVALID", `the token does not verify: ${(e as Error).message}`, { cause: e });
      }
      if (typeof payload.sub !== "string" || payload.sub === "") throw new BearerTokenError("TOKEN_INVALID", "the token has no sub claim");
      const groups = payload.groups;
      if (groups !== undefined && !(Array.isArray(groups) && groups.every((g) => typeof g === "string"))) {
        throw new BearerTokenError("TOKEN_INVALID", "the token's groups claim is not an array of strings");
      }
      const principal: Principal = { subject: payload.sub, groups: Object.freeze([...((groups as string[] | undefined) ?? [])]), issuer: options.issuer };
      return principal;
    },
  };
}
