/**
 * What the admin route files share: options, the authenticator and auditor, the two guards, and small
 * conversions.
 * @module
 */
import { bearerAuth, ProblemError, requireGroups, type Principal, type ServiceEnv } from "@tessera/http";
import type { Context, MiddlewareHandler } from "hono";
import { every } from "hono/combine";
import { createAuditor, type Auditor } from "../audit.ts";
import { createAuthenticator, READ_GROUPS, TRUSTED_ADMINS, type Authenticator, type AuthOptions } from "../auth.ts";
import type { AttestdDeps } from "../deps.ts";
import type { IdentityOptions } from "../identity.ts";

/** Options of {@link adminRoutes} beyond the deps. */
export interface AdminOptions extends AuthOptions, IdentityOptions {
  /** Keep-alive comment interval of the SSE stream (default 15000 ms). */
  readonly keepAliveMs?: number;
  /** How many attempts `GET /api/v1/hosts/{host}` shows (default 50). */
  readonly historyLimit?: number;
}

/** The admin routes' shared state. */
export interface AdminContext {
  readonly deps: AttestdDeps;
  readonly options: AdminOptions;
  readonly auth: Authenticator;
  readonly audit: Auditor;
  /** Bearer token + TrustedAdmins or TrustedReaders. */
  readonly read: MiddlewareHandler<ServiceEnv>;
  /** Bearer token + TrustedAdmins. */
  readonly write: MiddlewareHandler<ServiceEnv>;
}

/** Builds the shared state. */
export function adminContext(deps: AttestdDeps, options: AdminOptions): AdminContext {
  const auth = createAuthenticator(deps, options);
  const authenticate = bearerAuth({ verify: (token: string) => auth.verify(token) });
  return {
    deps,
    options,
    auth,
    audit: createAuditor({ store: deps.store, clock: deps.clock, logger: deps.logger, localIssuer: deps.config.publicUrl }),
    read: every(authenticate, requireGroups([...READ_GROUPS])),
    write: every(authenticate, requireGroups([TRUSTED_ADMINS])),
  };
}

/** The authenticated caller (set by the guards). */
export function principalOf(c: Context<ServiceEnv>): Principal {
  return c.get("principal");
}

/** Epoch milliseconds as RFC 3339. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Epoch milliseconds as RFC 3339, or nothing. */
export function isoOpt(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : iso(ms);
}

/** Drops undefined fields (JSON answers stay tidy and match the optional schema fields). */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Standard base64 to bytes (the schema already checked the alphabet and padding). */
export function fromBase64(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/** Bytes to standard base64. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** A 400 `bad-request` naming the field. */
export function badField(field: string, detail: string, cause?: unknown): ProblemError {
  return new ProblemError("bad-request", 400, `bad request body field ${field}: ${detail}`, { field }, cause === undefined ? undefined : { cause });
}

/** A 404 `not-found`. */
export function notFound(detail: string): ProblemError {
  return new ProblemError("not-found", 404, detail);
}
