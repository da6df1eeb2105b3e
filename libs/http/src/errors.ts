/**
 * Errors of @tessera/http.
 *
 * | class | code | when |
 * | --- | --- | --- |
 * | {@link ProblemError} | the problem code (`bad-request`, `forbidden`, …) | a handler refuses a request; becomes an RFC 9457 problem |
 * | {@link ConfigError} | `CONFIG_INVALID` | {@link parseConfig} input does not fit its schema (names the field and the source) |
 * | {@link BearerTokenError} | `TOKEN_INVALID`, `TOKEN_EXPIRED`, `JWKS_UNAVAILABLE` | a bearer token is refused, or the keys to check it cannot be fetched |
 *
 * @module
 */

/**
 * A refusal that becomes an RFC 9457 problem document: `type` is `urn:tessera:problem:<code>`.
 *
 * @example
 * ```ts
 * throw new ProblemError("appraisal-failed", 403, "the quote does not match the event log", { failures });
 * ```
 */
export class ProblemError extends Error {
  /** Stable problem code, kebab-case (`bad-request`, `token-expired`). */
  readonly code: string;
  /** HTTP status. */
  readonly status: number;
  /** Human-readable explanation for this occurrence. */
  readonly detail: string;
  /** Extension members, merged at the top level of the problem document (e.g. `failures`). */
  readonly extra?: Record<string, unknown>;

  /**
   * @param code stable problem code; @param status HTTP status; @param detail the explanation;
   * @param extra extension members; @param options the `cause` (never sent to the client).
   */
  constructor(code: string, status: number, detail: string, extra?: Record<string, unknown>, options?: ErrorOptions) {
    super(detail, options);
    this.name = "ProblemError";
    this.code = code;
    this.status = status;
    this.detail = detail;
    if (extra !== undefined) this.extra = extra;
  }
}

/** A configuration that does not fit its schema. */
export class ConfigError extends Error {
  /** Always `CONFIG_INVALID`. */
  readonly code = "CONFIG_INVALID";
  /** The path of the first bad field, e.g. `listen.port` or `admins[2].name` (`(root)` for the whole input). */
  readonly field: string;
  /** Where the input came from (a file name, "environment", "flags"). */
  readonly source: string;

  /** @param field the bad field's path; @param source where the input came from; @param problem what is wrong with it. */
  constructor(field: string, source: string, problem: string, options?: ErrorOptions) {
    super(`bad configuration in ${source}: field ${field}: ${problem}`, options);
    this.name = "ConfigError";
    this.field = field;
    this.source = source;
  }
}

/** The codes of {@link BearerTokenError}. */
export type BearerTokenErrorCode = "TOKEN_INVALID" | "TOKEN_EXPIRED" | "JWKS_UNAVAILABLE";

/** A bearer token that does not verify (or keys that could not be fetched to verify it). */
export class BearerTokenError extends Error {
  /** Stable error code. */
  readonly code: BearerTokenErrorCode;

  /** @param code stable code; @param message why; @param options the `cause`. */
  constructor(code: BearerTokenErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BearerTokenError";
    this.code = code;
  }
}
