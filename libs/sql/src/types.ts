/**
 * The database interface both engines implement.
 * @module
 */

/** Which engine a {@link Db} talks to (for the few statements that differ, e.g. DDL types). */
export type Dialect = "sqlite" | "postgres";

/**
 * A parameter value. `Uint8Array` binds as BLOB/BYTEA; `bigint` and `number` as integers (or REAL/DOUBLE for
 * non-integers); `boolean` as 1/0 on SQLite (use INTEGER columns for flags on both engines); `undefined` as NULL.
 */
export type SqlValue = string | number | bigint | boolean | Uint8Array | null | undefined;

/** A result row: column name → value (BLOB/BYTEA as Uint8Array, BIGINT/INTEGER as number, NULL as null). */
export type Row = Record<string, unknown>;

/**
 * One database (SQLite file or PostgreSQL pool). SQL is written with `$1…$n` placeholders on both engines, in
 * the dialect both understand: `CAST(x AS TEXT)` rather than `x::text`, `INSERT … ON CONFLICT … DO NOTHING/UPDATE`,
 * `UPDATE … RETURNING`; DDL may differ per engine (see {@link Dialect}).
 *
 * Calls made on a Db from inside one of its own transactions (in the async context of `fn`) run inside that
 * transaction, so code written against a Db can be wrapped in a transaction without deadlocking on itself.
 */
export interface Db {
  /** The engine. */
  readonly dialect: Dialect;
  /** Runs a statement and returns its rows (also for `… RETURNING`). */
  query<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Runs a script of several statements without parameters (DDL in migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in a transaction: committed when `fn` resolves, rolled back entirely when it rejects (the
   * rejection is passed on). SQLite: `BEGIN IMMEDIATE`, one transaction at a time per file in this process,
   * and nothing else runs on that file from this process meanwhile. PostgreSQL: one pooled connection, READ
   * COMMITTED. Nested calls (on `tx`) are savepoints.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Closes the file or ends the pool. */
  close(): Promise<void>;
}
