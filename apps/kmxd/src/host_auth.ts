/**
 * Who is calling a host route, and may they: the host's attestation token (`Authorization: Bearer <EAR>`)
 * verified against attestd's JWKS (refetched once when the token names a kid kmxd has not seen), its issuer,
 * expiry and `ear.status` (verifyEar), that attestd has not reported the host non-green since it was issued
 * (the host status watcher), and then, per provider, that the host's trusted cluster is granted it.
 *
 * Refusals are {@link HostRefusal}s, answered as RFC 9457 problems: 401 `token-invalid` / `token-expired`,
 * 403 `host-untrusted` / `provider-not-allowed` / `binding-key-missing`, 503 `attestd-unreachable` (the keys to
 * check the token cannot be fetched).
 * @module
 */
import { createHash } from "node:crypto";
import { ProblemError, problemResponse } from "@tessera/http";
import { clusterOf, mayUse, type TokenBucket, type TrustedCluster } from "@tessera/key-provider";
import { CLOCK_TOLERANCE_SECONDS, type EarClaims, type Jwks, TokenError, verifyEar } from "@tessera/tokens";
import type { HostStatusWatcher, JwksSource } from "./deps.ts";

/**
 * A refused host request: a {@link ProblemError} (so any service answers it as a problem) that also carries
 * response headers (`WWW-Authenticate`, `Retry-After`), which the host routes add.
 */
export class HostRefusal extends ProblemError {
  /** Response headers to send with the problem. */
  readonly headers?: Record<string, string>;
  /** @param code stable problem code; @param status HTTP status; @param detail the explanation; @param more headers, extension members, cause. */
  constructor(code: string, status: number, detail: string, more: { headers?: Record<string, string>; extra?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, status, detail, more.extra, more.cause === undefined ? undefined : { cause: more.cause });
    this.name = "HostRefusal";
    if (more.headers !== undefined) this.headers = more.headers;
  }
}

/** What {@link authenticateHost} needs. */
export interface HostAuthOptions {
  readonly jwks: JwksSource;
  readonly hostStatus: Pick<HostStatusWatcher, "check">;
  /** The `iss` of attestd's tokens. */
  readonly issuer: string;
  /** Epoch ms. */
  readonly now: number;
}

/**
 * Tokens already verified, so that a host presenting the same token again is not verified again (the ES256
 * signature and the claims: the most expensive step of a host request after the key operation itself).
 *
 * Keyed by the SHA-256 of the token string; an entry holds the claims and the JWKS object they were verified
 * against, and is used only while that same JWKS is current (a fetched or rotated JWKS drops it) and the token
 * is not past its expiry (with the clock tolerance: past it, the token is verified again, which refuses it with
 * `token-expired`). Everything else about a request (host status, cluster, grant, rate limits) is checked on
 * every request by the caller. Bounded: oldest entries out, expired ones swept when full.
 */
export class VerifiedTokens {
  readonly #max: number;
  readonly #entries = new Map<
    string,
    { readonly claims: EarClaims; readonly jwks: Jwks; readonly issuer: string; readonly from: number; readonly until: number }
  >();

  /** @param max entries kept at most (default 4096). */
  constructor(max = 4096) {
    this.#max = max;
  }

  /** Entries held (for tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** The claims of `token` verified earlier against this same `jwks` and `issuer`, when still before expiry at `now` (epoch ms). */
  get(token: string, jwks: Jwks, issuer: string, now: number): EarClaims | undefined {
    const id = VerifiedTokens.#id(token);
    const e = this.#entries.get(id);
    if (e === undefined) return undefined;
    const nowS = Math.floor(now / 1000);
    // A clock that went back past the first check is checked again (iat in the future).
    if (e.jwks !== jwks || e.issuer !== issuer || nowS >= e.until || nowS < e.from) {
      this.#entries.delete(id);
      return undefined;
    }
    return e.claims;
  }

  /** Keeps the claims of a token that verified against `jwks` and `issuer`. */
  set(token: string, jwks: Jwks, issuer: string, claims: EarClaims, now: number): void {
    if (this.#entries.size >= this.#max) {
      const nowS = Math.floor(now / 1000);
      for (const [k, v] of this.#entries) if (nowS >= v.until || v.jwks !== jwks) this.#entries.delete(k);
      if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    }
    // verifyEar refuses a token as expired from exp − tolerance on (exp <= now − tolerance): the entry ends there.
    this.#entries.set(VerifiedTokens.#id(token), { claims, jwks, issuer, from: Math.floor(now / 1000), until: claims.exp + CLOCK_TOLERANCE_SECONDS });
  }

  static #id(token: string): string {
    return createHash("sha256").update(token).digest("base64");
  }
}

/** An authenticated host: its verified token. */
export interface HostCaller {
  /** The host's name (the token's `sub`). */
  readonly host: string;
  readonly claims: EarClaims;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i;

function unauthorized(code: "token-invalid" | "token-expired", detail: string, cause?: unknown): HostRefusal {
  // RFC 6750: an expired token is invalid_token too.
  return new HostRefusal(code, 401, detail, { headers: { "www-authenticate": 'Bearer error="invalid_token"' }, cause });
}

/** The `kid` of a compact JWS's header, unverified (only to decide whether to refetch the keys). */
function headerKid(token: string): unknown {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8"));
    return typeof header === "object" && header !== null ? (header as { kid?: unknown }).kid : undefined;
  } catch {
    return undefined;
  }
}

function knows(jwks: Jwks, kid: string): boolean {
  return jwks.keys.some((k) => k.kid === kid);
}

async function keysFor(source: JwksSource, refresh: boolean): Promise<Jwks> {
  try {
    return refresh ? await source.refresh() : await source.get();
  } catch (e) {
    throw new HostRefusal("attestd-unreachable", 503, `attestd's token signing keys cannot be fetched, so no token can be checked: ${(e as Error).message}`, {
      headers: { "retry-after": "5" },
      cause: e,
    });
  }
}

/**
 * Verifies the host's token from the `Authorization` header.
 * @throws HostRefusal 401 `token-invalid` (no or malformed header, bad signature, unknown key, issuer, claims,
 *   `ear.status`), 401 `token-expired`, 403 `host-untrusted` (attestd reported the host red, stale or removed
 *   at or after the token's `iat` − 1 s), 503 `attestd-unreachable`.
 * @example
 * ```ts
 * const caller = await authenticateHost(c.req.header("authorization"), { jwks, hostStatus, issuer, now: Date.now() });
 * ```
 */
export async function authenticateHost(authorization: string | undefined, options: HostAuthOptions): Promise<HostCaller> {
  const caller = await verifyHostToken(authorization, options);
  checkHostStatus(caller, options.hostStatus);
  return caller;
}

/**
 * The token alone: signature (JWKS), issuer, expiry and claims, without the host's status.
 * @throws HostRefusal 401 `token-invalid` / `token-expired`, 503 `attestd-unreachable`.
 */
export async function verifyHostToken(
  authorization: string | undefined,
  options: Omit<HostAuthOptions, "hostStatus"> & { readonly verified?: VerifiedTokens },
): Promise<HostCaller> {
  if (authorization === undefined || authorization === "")
    throw unauthorized("token-invalid", "no attestation token: send Authorization: Bearer <token from attestd>");
  const m = BEARER.exec(authorization.trim());
  if (m === null) throw unauthorized("token-invalid", "the Authorization header is not Bearer <attestation token>");
  const token = m[1]!;
  let jwks = await keysFor(options.jwks, false);
  const known = options.verified?.get(token, jwks, options.issuer, options.now);
  if (known !== undefined) return { host: known.sub, claims: known };
  const kid = headerKid(token);
  // A kid kmxd has not seen: attestd may have rotated its key. One refetch (rate-limited by the source).
  if (typeof kid === "string" && !knows(jwks, kid)) jwks = await keysFor(options.jwks, true);
  let claims: EarClaims;
  try {
    claims = await verifyEar(token, jwks, { issuer: options.issuer, now: options.now });
  } catch (e) {
    if (e instanceof TokenError && e.code === "TOKEN_EXPIRED")
      throw unauthorized("token-expired", `the attestation token has expired: attest again (${e.message})`, e);
    throw unauthorized("token-invalid", `the attestation token is refused: ${(e as Error).message}`, e);
  }
  options.verified?.set(token, jwks, options.issuer, claims, options.now);
  return { host: claims.sub, claims };
}

/**
 * Whether attestd has reported the host not green since its token was issued.
 * @throws HostRefusal 403 `host-untrusted` naming the status, since when and attestd's message.
 */
export function checkHostStatus(caller: HostCaller, hostStatus: Pick<HostStatusWatcher, "check">): void {
  const { claims } = caller;
  const verdict = hostStatus.check(claims.sub, claims.iat);
  if (!verdict.ok) {
    const when = new Date(verdict.at).toISOString();
    throw new HostRefusal(
      "host-untrusted",
      403,
      `attestd reports host ${claims.sub} ${verdict.status} since ${when}${verdict.message ? ` (${verdict.message})` : ""}, after this token was issued: attest again`,
      {
        extra: { host: claims.sub, hostStatus: verdict.status, since: when },
      },
    );
  }
}

/**
 * The binding key a secret for `caller` is encrypted to (`cnf.jwk`).
 * @throws HostRefusal 403 `binding-key-missing` when the token has none.
 */
export function bindingKeyOf(caller: HostCaller): NonNullable<EarClaims["cnf"]>["jwk"] {
  const jwk = caller.claims.cnf?.jwk;
  if (jwk === undefined) {
    throw new HostRefusal(
      "binding-key-missing",
      403,
      `the attestation token of ${caller.host} carries no binding key (cnf.jwk): kmxd returns secrets only encrypted to a TPM-resident key; attest with a bindingKey`,
    );
  }
  return jwk;
}

/**
 * The trusted cluster of `caller` (the first whose rules match its name or EK, else `default`), checked
 * against the provider's grants.
 * @throws HostRefusal 403 `provider-not-allowed`.
 */
export function authorizeProvider(caller: HostCaller, provider: string, grants: readonly string[], clusters: readonly TrustedCluster[]): string {
  const { ekFingerprint, ekCa } = caller.claims.tessera;
  const cluster = clusterOf({ sub: caller.host, ekFingerprint, ...(ekCa !== undefined ? { ekCa } : {}) }, clusters);
  if (!mayUse(grants, cluster)) {
    throw new HostRefusal("provider-not-allowed", 403, `host ${caller.host} is in trusted cluster ${cluster}, which may not use provider ${provider}`, {
      extra: { cluster, provider },
    });
  }
  return cluster;
}

/**
 * One request of `host` against its rate limit (`rate` per second).
 * @throws HostRefusal 429 `rate-limited` with Retry-After (whole seconds, at least 1)
 */
export function takeHostRate(bucket: TokenBucket, host: string, rate: number, now: number): void {
  const r = bucket.take(host, now);
  if (!r.ok) {
    throw new HostRefusal("rate-limited", 429, `host ${host} is over ${rate} requests per second`, {
      headers: { "retry-after": String(Math.max(1, Math.ceil(r.retryAfterSeconds))) },
    });
  }
}

/** The RFC 9457 answer of a host route's refusal, with a HostRefusal's headers. */
export function hostProblemResponse(problem: ProblemError): Response {
  return problemResponse({
    code: problem.code,
    status: problem.status,
    detail: problem.detail,
    ...(problem.extra ? { extra: problem.extra } : {}),
    ...(problem instanceof HostRefusal && problem.headers ? { headers: problem.headers } : {}),
  });
}
