/**
 * Errors of @tessera/service. Every failure is a {@link ServiceError} with a stable `code`:
 *
 * | code | when |
 * | --- | --- |
 * | `SERVICE_DIR` | a data directory is not a directory, or is open to others and cannot be made private |
 * | `SERVICE_FILE` | a file cannot be read or written (names the file and what it holds) |
 * | `SERVICE_MASTER_KEY` | a master key file is readable by others, has the wrong size or does not open; wrapped material is of an unknown format, altered, another master key's or another object's |
 * | `SERVICE_PASSWORD_HASH` | a stored password hash is not a well-formed `scrypt$N$r$p$salt$hash` string |
 *
 * @module
 */

/** The stable codes a {@link ServiceError} carries. */
export const SERVICE_ERROR_CODES = ["SERVICE_DIR", "SERVICE_FILE", "SERVICE_MASTER_KEY", "SERVICE_PASSWORD_HASH"] as const;

/** One of {@link SERVICE_ERROR_CODES}. */
export type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[number];

/**
 * A failure of the process plumbing, with a stable {@link ServiceErrorCode} and the underlying `cause`.
 *
 * @example
 * ```ts
 * try {
 *   await verifyPassword(pw, stored);
 * } catch (e) {
 *   if (e instanceof ServiceError && e.code === "SERVICE_PASSWORD_HASH") log.error("the stored hash is corrupt");
 * }
 * ```
 */
export class ServiceError extends Error {
  /** Stable error code. */
  readonly code: ServiceErrorCode;

  /** @param code stable code; @param message names the thing and where; @param options the `cause`. */
  constructor(code: ServiceErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServiceError";
    this.code = code;
  }
}

/** The errno code of a Node error, or its message: for messages that name what failed. */
export function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}
