/**
 * Errors of @tessera/sql. Each has a stable `code`; `cause` is the driver's error when there is one.
 *
 * | code | when |
 * | --- | --- |
 * | `SQL_CONFIG` | openDatabase was given neither `sqlite` nor `postgres`, or a file that cannot be created |
 * | `SQL_QUERY` | a statement failed (syntax, types, connection) |
 * | `SQL_CONSTRAINT` | a statement violated a UNIQUE, PRIMARY KEY, FOREIGN KEY, NOT NULL or CHECK constraint |
 * | `SQL_BUSY` | SQLite stayed locked by another process longer than the busy timeout |
 * | `SQL_RANGE` | a BIGINT value does not fit a JavaScript number exactly |
 * | `SQL_CLOSED` | the database was used after close() |
 * | `SQL_TX_DONE` | a transaction handle was used after its transaction ended |
 * | `SQL_DEADLOCK` | a statement on another connection to the same SQLite file was issued inside a transaction (it would wait forever) |
 * | `SQL_MIGRATION` | migrations out of order, or the database has a version this program does not know |
 * @module
 */

/** Stable codes of {@link SqlError}. */
export type SqlErrorCode =
  "SQL_CONFIG" | "SQL_QUERY" | "SQL_CONSTRAINT" | "SQL_BUSY" | "SQL_RANGE" | "SQL_CLOSED" | "SQL_TX_DONE" | "SQL_DEADLOCK" | "SQL_MIGRATION";

/** A database error with a stable code. */
export class SqlError extends Error {
  /** Which failure. */
  readonly code: SqlErrorCode;

  /** @param code which failure @param message what and where (the statement's beginning) @param options `cause`: the driver's error */
  constructor(code: SqlErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SqlError";
    this.code = code;
  }
}

/** The first line of a statement, shortened, for error messages. */
export function statementHead(sql: string): string {
  const s = sql.trim().replace(/\s+/g, " ");
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
