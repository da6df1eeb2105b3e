/**
 * Opens the store a configuration names: `sqlite:PATH` (embedded) or a `postgres://` URL.
 * @module
 */
import { openSqliteStore } from "./sqlite_store.ts";
import type { Store } from "./store.ts";

/**
 * Opens `database`. With several threads, `shared` is the SQLite block of {@link sqliteShared}, and only the
 * first thread (`first`) runs the SQLite checkpointer.
 */
export async function openStore(
  database: string,
  shared?: SharedArrayBuffer,
  first = true,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<Store> {
  if (database.startsWith("sqlite:")) return openSqliteStore(database.slice("sqlite:".length), { shared, checkpointer: first, log });
  const { openPostgresStore } = await import("./postgres_store.ts");
  return openPostgresStore(database);
}
