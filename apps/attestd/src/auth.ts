/**
 * Who is calling the admin API. attestd is the cluster's sign-in:
 * - local accounts (scrypt hashes in the store) sign in with `POST /api/v1/auth/token` and receive a
 *   short-lived admin token (a JWT with a `groups` claim, typ `at+jwt`, signed with attestd's token signing
 *   key and verified against its JWKS — kmxd accepts the same token);
 * - optionally, tokens of an external OIDC issuer (its `groups` claim) are accepted too.
 * Changes need {@link TRUSTED_ADMINS}; reads need it or {@link TRUSTED_READERS} (the trusted cluster's
 * manager principal).
 * @module
 */
import { oidcVerifier, ProblemError, type OidcVerifierOptions, type Principal } from "@tessera/http";
import { hashPassword, verifyPassword } from "@tessera/service";
import { ADMIN_TOKEN_AUDIENCE, issueAdminToken, READ_GROUPS, TRUSTED_ADMINS, TRUSTED_READERS, verifyAdminToken } from "@tessera/tokens";
import type { AttestdDeps } from "./deps.ts";

/** The groups and the admin tokens' audience, shared with kmxd through @tessera/tokens. */
export { ADMIN_TOKEN_AUDIENCE, READ_GROUPS, TRUSTED_ADMINS, TRUSTED_READERS };
/** Default admin token lifetime: one hour. */
export const DEFAULT_ADMIN_TOKEN_LIFETIME_SECONDS = 3600;

/** An external OIDC issuer whose tokens are accepted (groups from their `groups` claim): @tessera/http's options. */
export type OidcIssuerOptions = OidcVerifierOptions;

/** Options of {@link createAuthenticator}. */
export interface AuthOptions {
  /** Accept this OIDC issuer's tokens too. */
  readonly oidc?: OidcIssuerOptions;
  /** Lifetime of the admin tokens `login` issues (default {@link DEFAULT_ADMIN_TOKEN_LIFETIME_SECONDS}). */
  readonly adminTokenLifetimeSeconds?: number;
  /** Failed sign-ins of one user from one client address before further attempts are refused (default 10). */
  readonly maxFailedLogins?: number;
  /** The window in which failed sign-ins are counted, ms (default 15 minutes). */
  readonly failedLoginWindowMs?: number;
}

/** A signed-in session: what `POST /api/v1/auth/token` answers. */
export interface AdminSession {
  readonly token: string;
  /** RFC 3339. */
  readonly expiresAt: string;
  readonly subject: string;
  readonly groups: readonly string[];
}

/** Principal resolution and sign-in. */
export interface Authenticator {
  /** The principal of a bearer token (attestd's own admin token, or the OIDC issuer's). */
  verify(token: string): Promise<Principal>;
  /**
   * Checks a local account's password and issues an admin token. `client` (the caller's address) keys the
   * throttle: after too many failures of one user from one address in the window, attempts are refused
   * with 429 `too-many-attempts` — even with the right password — until the oldest failure leaves the window.
   */
  login(user: string, password: string, client?: string): Promise<AdminSession>;
}

/** The unverified `iss` of a JWT, to pick the verifier; the chosen verifier checks everything. */
function unverifiedIssuer(token: string): string | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1].length > 16384) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    const iss = (payload as { iss?: unknown } | null)?.iss;
    return typeof iss === "string" ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** Failed sign-ins per user and client address, in memory (per node: a guess costs one scrypt, so this caps guessing). */
class LoginThrottle {
  readonly #failures = new Map<string, number[]>();
  readonly #max: number;
  readonly #windowMs: number;

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Milliseconds until `key` may try again (0: now). */
  wait(key: string, now: number): number {
    const recent = (this.#failures.get(key) ?? []).filter((t) => t > now - this.#windowMs);
    if (recent.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, recent);
    return recent.length < this.#max ? 0 : recent[0] + this.#windowMs - now;
  }

  fail(key: string, now: number): void {
    // Bounded memory under a spray of names: forget the oldest keys first.
    if (this.#failures.size >= 10_000 && !this.#failures.has(key)) this.#failures.delete(this.#failures.keys().next().value as string);
    this.#failures.set(key, [...(this.#failures.get(key) ?? []), now].slice(-this.#max));
  }

  succeed(key: string): void {
    this.#failures.delete(key);
  }
}

function unauthorized(detail: string): ProblemError {
  return new ProblemError("unauthorized", 401, detail);
}

/**
 * Principal resolution over attestd's store and signing keys, plus an optional OIDC issuer.
 *
 * @example
 * ```ts
 * const auth = createAuthenticator(deps, { oidc: { issuer: "https://idp.example" } });
 * app.use("/api/v1/hosts", bearerAuth({ verify: auth.verify }));
 * ```
 */
export function createAuthenticator(deps: AttestdDeps, options: AuthOptions = {}): Authenticator {
  const issuer = deps.config.publicUrl;
  const lifetimeSeconds = options.adminTokenLifetimeSeconds ?? DEFAULT_ADMIN_TOKEN_LIFETIME_SECONDS;
  const oidc = options.oidc === undefined ? undefined : { issuer: options.oidc.issuer, verifier: oidcVerifier(options.oidc) };
  // Checked when the user does not exist, so a missing user costs the same scrypt as a wrong password.
  let decoy: Promise<string> | undefined;
  const throttle = new LoginThrottle(options.maxFailedLogins ?? 10, options.failedLoginWindowMs ?? 15 * 60_000);

  return {
    async verify(token: string): Promise<Principal> {
      if (oidc !== undefined && unverifiedIssuer(token) === oidc.issuer) return oidc.verifier.verify(token);
      const claims = await verifyAdminToken(token, await deps.signing.jwks(), { issuer, audience: ADMIN_TOKEN_AUDIENCE, now: deps.clock.now() });
      return { subject: claims.subject, groups: [...claims.groups], issuer: claims.issuer };
    },

    async login(user: string, password: string, client = "local"): Promise<AdminSession> {
      const throttleKey = `${user}\u0000${client}`;
      const wait = throttle.wait(throttleKey, deps.clock.now());
      if (wait > 0) {
        throw new ProblemError("too-many-attempts", 429, `too many failed sign-ins of ${user}; try again in ${Math.ceil(wait / 1000)} s`, {
          retryAfterSeconds: Math.ceil(wait / 1000),
        });
      }
      const account = await deps.store.getAccount(user);
      let ok: boolean;
      if (account === undefined) {
        decoy ??= hashPassword("decoy password, never valid");
        ok = await verifyPassword(password, await decoy);
      } else {
        ok = await verifyPassword(password, account.passwordHash);
      }
      if (!ok || account === undefined) {
        throttle.fail(throttleKey, deps.clock.now());
        throw unauthorized("wrong user or password");
      }
      throttle.succeed(throttleKey);
      const key = await deps.signing.active();
      const issued = await issueAdminToken(
        { issuer, subject: account.user, groups: [...account.groups], audience: ADMIN_TOKEN_AUDIENCE, lifetimeSeconds, now: deps.clock.now() },
        key,
      );
      // The key stays published after a rotation until this token has expired too.
      await deps.signing.noteIssued(key.kid, issued.expiresAt);
      return { token: issued.token, expiresAt: new Date(issued.expiresAt).toISOString(), subject: account.user, groups: account.groups };
    },
  };
}
