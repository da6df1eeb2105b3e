/**
 * The admin API's problem codes, and how the key-provider lib's and the KMIP client's errors become them (only at
 * this edge: the libs throw typed errors with stable codes).
 * @module
 */
import { ProblemError } from "@tessera/http";

/** Every problem code the admin API answers with, and its status. */
export const ADMIN_PROBLEMS = {
  "bad-request": 400,
  "wrapped-malformed": 400,
  "client-certificate-invalid": 400,
  "trust-setup-missing": 400,
  "kmip-key-unknown": 400,
  "kmip-key-inactive": 400,
  "wrap-mode-unsupported": 400,
  unauthorized: 401,
  "token-invalid": 401,
  "token-expired": 401,
  forbidden: 403,
  "provider-unknown": 404,
  "cluster-unknown": 404,
  "grant-unknown": 404,
  "not-found": 404,
  "provider-exists": 409,
  "cluster-default": 409,
  "body-too-large": 413,
  "unsupported-media-type": 415,
  "unwrap-failed": 422,
  "kmip-connection-failed": 502,
  "kmip-refused": 502,
  "kmip-outcome-unknown": 502,
  "key-servers-unreachable": 503,
  "auth-unavailable": 503,
} as const;

/** One of {@link ADMIN_PROBLEMS}. */
export type AdminProblemCode = keyof typeof ADMIN_PROBLEMS;

/** A problem of {@link ADMIN_PROBLEMS} (its status from the table). */
export function problem(code: AdminProblemCode, detail: string, extra?: Record<string, unknown>, cause?: unknown): ProblemError {
  return new ProblemError(code, ADMIN_PROBLEMS[code], detail, extra, cause === undefined ? undefined : { cause });
}

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/**
 * The problem for an error of a key server operation done while setting a provider up (create, rotate): the
 * key's absence or state is the administrator's input (400); a server that cannot be reached or refuses is 502.
 * Anything else is passed on unchanged (a 500 that is logged).
 */
export function setupProblem(e: unknown, what: string): unknown {
  const message = e instanceof Error ? e.message : String(e);
  switch (codeOf(e)) {
    case "KEY_NOT_FOUND":
      return problem("kmip-key-unknown", `${what}: the key server has no such key (or does not let kmxd's client see it): ${message}`, undefined, e);
    case "KEY_NOT_ACTIVE":
      return problem("kmip-key-inactive", `${what}: the key is not Active: ${message}`, undefined, e);
    case "MODE_UNSUPPORTED":
      return problem("wrap-mode-unsupported", `${what}: ${message}`, undefined, e);
    case "KEY_SERVERS_UNREACHABLE":
      return problem("kmip-connection-failed", `${what}: no key server could be reached: ${message}`, { servers: (e as { servers?: unknown }).servers ?? [] }, e);
    case "KMIP_OUTCOME_UNKNOWN":
      return problem("kmip-outcome-unknown", `${what}: the key server's answer was lost (not retried): ${message}`, undefined, e);
    case "KMIP_RESULT":
      return problem("kmip-refused", `${what}: the key server refused: ${message}`, undefined, e);
    case "CSR_NAME_INVALID":
    case "CERT_MALFORMED":
    case "KEY_MALFORMED":
    case "CERT_KEY_MISMATCH":
    case "CERT_EXPIRED":
    case "CERT_NOT_YET_VALID":
    case "CERT_NOT_CLIENT_AUTH":
      return problem("client-certificate-invalid", `${what}: ${message}`, { reason: codeOf(e) }, e);
    default:
      return e;
  }
}
