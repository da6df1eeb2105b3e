/**
 * @tessera/sql: one small database interface over SQLite (node:sqlite, one node) and PostgreSQL (pg, several
 * nodes), with `$1…$n` placeholders on both, BLOB/BYTEA as Uint8Array, BIGINT as number, transactions that
 * roll back entirely, and versioned migrations safe to run from several nodes at once.
 *
 * @module
 */
export { SqlError, type SqlErrorCode } from "./errors.ts";
export { groupCommit, type GroupCommit, type GroupCommitOptions } from "./group_commit.ts";
export { migrate, type Migration, type MigrateResult } from "./migrate.ts";
export { inLoopWriter, sqliteWriterThread, type GroupWriter, type WriteHandler } from "./writer_thread.ts";
export { openDatabase, type DatabaseConfig } from "./open_database.ts";
export { openPostgres, type PostgresOptions } from "./open_postgres.ts";
export { openSqlite, type SqliteOptions } from "./open_sqlite.ts";
export type { Db, Dialect, Row, SqlValue } from "./types.ts";
