/**
 * Errors of @tessera/postgres-testing. Each carries a stable `code`; the message holds the command and the
 * last output of the program that failed, so a failing test shows why.
 *
 * | code | when |
 * | --- | --- |
 * | `PG_NOT_INSTALLED` | no PostgreSQL server binaries, and installing the Debian package did not provide them |
 * | `PG_INITDB` | initdb failed |
 * | `PG_START` | the server exited or did not accept connections in time |
 * | `PG_BAD_NAME` | a database name that is not a plain identifier |
 * | `PG_QUERY` | CREATE DATABASE (or another administrative statement) failed |
 * | `PG_STOPPED` | the cluster was used after stop() |
 * @module
 */

/** Stable codes of {@link PostgresTestingError}. */
export type PostgresTestingErrorCode = "PG_NOT_INSTALLED" | "PG_INITDB" | "PG_START" | "PG_BAD_NAME" | "PG_QUERY" | "PG_STOPPED";

/** An error of the PostgreSQL test launcher. */
export class PostgresTestingError extends Error {
  /** Which failure. */
  readonly code: PostgresTestingErrorCode;

  /** @param code which failure @param message what exactly, with the program's output */
  constructor(code: PostgresTestingErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PostgresTestingError";
    this.code = code;
  }
}
