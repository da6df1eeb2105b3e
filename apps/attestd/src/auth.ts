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
import { issueAdminToken, verifyAdminToken } from "@tessera/tokens";
import type { AttestdDeps } from "./deps.ts";

/** The group whose members may change anything. */
export const TRUSTED_ADMINS = "TrustedAdmins";
/** The group whose members may read status (hosts, images, trust settings, events, identity). */
export const TRUSTED_READERS = "TrustedReaders";
/** Groups that may read. */
export const READ_GROUPS: readonly string[] = [TRUSTED_ADMINS, TRUSTED_READERS];
/** The `aud` of attestd's admin tokens (kmxd checks the same). */
export const ADMIN_TOKEN_AUDIENCE = "tessera-admin";
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
  /** Checks a local account's password and issues an admin token. */
  login(user: string, password: string): Promise<AdminSession>;
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

  return {
    async verify(token: string): Promise<Principal> {
      if (oidc !== undefined && unverifiedIssuer(token) === oidc.issuer) return oidc.verifier.verify(token);
      const claims = await verifyAdminToken(token, await deps.signing.jwks(), { issuer, audience: ADMIN_TOKEN_AUDIENCE, now: deps.clock.now() });
      return { subject: claims.subject, groups: [...claims.groups], issuer: claims.issuer };
    },

    async login(user: string, password: string): Promise<AdminSession> {
      const account = await deps.store.getAccount(user);
      if (account === undefined) {
        decoy ??= hashPassword("decoy password, never valid");
        await verifyPassword(password, await decoy);
        throw unauthorized("wrong user or password");
      }
      if (!(await verifyPassword(password, account.passwordHash))) throw unauthorized("wrong user or password");
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
