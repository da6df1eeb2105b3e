/**
 * Versioned schema migrations, recorded per component in `tessera_migrations`.
 * @module
 */
import { SqlError } from "./errors.ts";
import type { Db, Dialect } from "./types.ts";

/** One schema step. */
export interface Migration {
  /** Positive, strictly increasing within a component. */
  readonly version: number;
  /** What it does (kept in the table). */
  readonly description: string;
  /** A script (several statements allowed), or one per dialect where the engines differ (BLOB vs BYTEA). */
  readonly sql: string | Readonly<Record<Dialect, string>>;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Versions applied now (empty when the database was current). */
  readonly applied: readonly number[];
  /** The schema version after migrating. */
  readonly version: number;
}

/**
 * Applies the migrations of `name` the database does not have yet, in order, in one transaction: all or
 * none. Safe when several nodes start at once: PostgreSQL takes a transaction advisory lock first, SQLite's
 * BEGIN IMMEDIATE is the file's write lock; whoever comes second sees the versions applied.
 *
 * @param name the component (e.g. `attestd`), so several may share a database
 * @throws SqlError SQL_MIGRATION for versions not strictly increasing, or a database newer than `migrations`;
 *   the failing statement's error when a migration fails
 */
export async function migrate(db: Db, name: string, migrations: readonly Migration[]): Promise<MigrateResult> {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isSafeInteger(m.version) || m.version <= last) {
      throw new SqlError("SQL_MIGRATION", `migrations of ${name}: version ${m.version} (${m.description}) does not follow ${last}`);
    }
    last = m.version;
  }
  return db.transaction(async (tx) => {
    if (tx.dialect === "postgres") await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('tessera_migrations', 0))");
    await tx.exec(
      "CREATE TABLE IF NOT EXISTS tessera_migrations (name TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (name, version))",
    );
    const done = new Set((await tx.query<{ version: number }>("SELECT version FROM tessera_migrations WHERE name = $1", [name])).map((r) => r.version));
    const newest = Math.max(0, ...done);
    if (newest > last) {
      throw new SqlError("SQL_MIGRATION", `the database has version ${newest} of ${name}'s schema; this program knows up to ${last}`);
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.exec(typeof m.sql === "string" ? m.sql : m.sql[tx.dialect]);
      await tx.run("INSERT INTO tessera_migrations (name, version, description, applied_at) VALUES ($1, $2, $3, $4)", [
        name,
        m.version,
        m.description,
        Date.now(),
      ]);
      applied.push(m.version);
    }
    return { applied, version: Math.max(newest, last) };
  });
}
