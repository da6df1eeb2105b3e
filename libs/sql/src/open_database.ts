/**
 * Opening a database by configuration.
 * @module
 */
import { SqlError } from "./errors.ts";
import { openPostgres, type PostgresOptions } from "./open_postgres.ts";
import { openSqlite, type SqliteOptions } from "./open_sqlite.ts";
import type { Db } from "./types.ts";

/** Where the data is: a SQLite file (one node) or a PostgreSQL URL (several nodes). */
export type DatabaseConfig = ({ readonly sqlite: string } & SqliteOptions) | ({ readonly postgres: string } & PostgresOptions);

/**
 * Opens a SQLite file (created 0600, WAL) or a PostgreSQL pool.
 * @throws SqlError SQL_CONFIG when the configuration names neither or the database cannot be opened
 */
export async function openDatabase(config: DatabaseConfig): Promise<Db> {
  if ("sqlite" in config && typeof config.sqlite === "string") return openSqlite(config.sqlite, config);
  if ("postgres" in config && typeof config.postgres === "string") return openPostgres(config.postgres, config);
  throw new SqlError("SQL_CONFIG", "openDatabase needs { sqlite: file } or { postgres: url }");
}
