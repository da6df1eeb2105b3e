/**
 * SQLite through node:sqlite: one connection per Db, WAL, a busy timeout for other processes, foreign keys,
 * the file created 0600. Within one process (one thread: worker threads each have their own lock map, and a
 * blocked thread does not block another) every statement on a file goes through one FIFO lock per file,
 * held for a whole transaction: node:sqlite is synchronous, so a second connection waiting in SQLite's busy
 * handler would block the event loop and with it the transaction it waits for.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, closeSync, existsSync, openSync, realpathSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { SqlError, statementHead } from "./errors.ts";
import type { Db, Row, SqlValue } from "./types.ts";
import { Mutex } from "./_mutex.ts";
import { toSqlitePlaceholders } from "./_placeholders.ts";

/** Options of {@link openSqlite}. */
export interface SqliteOptions {
  /** How long to wait for another process's write lock, ms (default 10 000); node:sqlite waits synchronously. */
  readonly busyTimeoutMs?: number;
}

/** One lock per database file (by real path) in this process. */
const fileLocks = new Map<string, Mutex>();

interface TxContext {
  readonly root: SqliteDb;
  readonly tx: SqliteTx;
}

/** The transaction the current async context runs in, if any. */
const current = new AsyncLocalStorage<TxContext>();

type BindValue = string | number | bigint | Uint8Array | null;

function bindable(params: readonly SqlValue[]): BindValue[] {
  return params.map((p) => (p === undefined ? null : typeof p === "boolean" ? (p ? 1 : 0) : p));
}

function sqliteError(e: unknown, sql: string): SqlError {
  if (e instanceof SqlError) return e;
  const err = e as { code?: string; errcode?: number; message?: string };
  const primary = (err.errcode ?? 0) & 0xff;
  const where = `SQLite: ${err.message ?? String(e)} in: ${statementHead(sql)}`;
  if (err.code === "ERR_OUT_OF_RANGE") return new SqlError("SQL_RANGE", where, { cause: e });
  if (primary === 19) return new SqlError("SQL_CONSTRAINT", where, { cause: e });
  if (primary === 5 || primary === 6) return new SqlError("SQL_BUSY", where, { cause: e });
  return new SqlError("SQL_QUERY", where, { cause: e });
}

/** The connection and its statement cache. */
class Connection {
  readonly db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  closed = false;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  #prepare(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(toSqlitePlaceholders(sql));
      if (this.#statements.size >= 256) this.#statements.clear();
      this.#statements.set(sql, s);
    }
    return s;
  }

  #check(): void {
    if (this.closed) throw new SqlError("SQL_CLOSED", "the SQLite database was closed");
  }

  query<T>(sql: string, params: readonly SqlValue[]): T[] {
    this.#check();
    try {
      // node:sqlite rows have a null prototype: plain objects compare and print like PostgreSQL's.
      return this.#prepare(sql)
        .all(...bindable(params))
        .map((r) => ({ ...r }) as T);
    } catch (e) {
      throw sqliteError(e, sql);
    }
  }

  run(sql: string, params: readonly SqlValue[]): { changes: number } {
    this.#check();
    try {
      return { changes: Number(this.#prepare(sql).run(...bindable(params)).changes) };
    } catch (e) {
      throw sqliteError(e, sql);
    }
  }

  exec(sql: string): void {
    this.#check();
    try {
      this.db.exec(sql);
    } catch (e) {
      throw sqliteError(e, sql);
    }
  }
}

/** A transaction handle (savepoints when nested). */
class SqliteTx implements Db {
  readonly dialect = "sqlite" as const;
  readonly #root: SqliteDb;
  readonly #conn: Connection;
  readonly #depth: number;
  /** Nested transactions on this handle run one at a time. */
  readonly #nested = new Mutex();
  done = false;

  constructor(root: SqliteDb, conn: Connection, depth: number) {
    this.#root = root;
    this.#conn = conn;
    this.#depth = depth;
  }

  #check(): void {
    if (this.done) throw new SqlError("SQL_TX_DONE", "the transaction this handle belongs to has ended");
  }

  async query<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#check();
    return this.#conn.query<T>(sql, params);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    this.#check();
    return this.#conn.run(sql, params);
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    this.#conn.exec(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    this.#check();
    return this.#nested.with(async () => {
      this.#check();
      const name = `tessera_sp${this.#depth}`;
      this.#conn.exec(`SAVEPOINT ${name}`);
      const child = new SqliteTx(this.#root, this.#conn, this.#depth + 1);
      try {
        const result = await current.run({ root: this.#root, tx: child }, () => fn(child));
        this.#conn.exec(`RELEASE ${name}`);
        return result;
      } catch (e) {
        if (!this.#conn.closed) this.#conn.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
        throw e;
      } finally {
        child.done = true;
      }
    });
  }

  async close(): Promise<void> {
    throw new SqlError("SQL_QUERY", "close() on a transaction handle: close the database instead");
  }
}

/** A SQLite database file. */
class SqliteDb implements Db {
  readonly dialect = "sqlite" as const;
  readonly #conn: Connection;
  readonly #file: string;
  readonly #lock: Mutex;

  constructor(conn: Connection, file: string) {
    this.#conn = conn;
    this.#file = file;
    let lock = fileLocks.get(file);
    if (lock === undefined) {
      lock = new Mutex();
      fileLocks.set(file, lock);
    }
    this.#lock = lock;
  }

  /** The transaction of this Db the caller runs inside, or undefined; refuses another connection's. */
  #inside(sql: string): SqliteTx | undefined {
    const ctx = current.getStore();
    if (ctx === undefined || ctx.tx.done) return undefined;
    if (ctx.root === this) return ctx.tx;
    if (ctx.root.#file === this.#file) {
      throw new SqlError(
        "SQL_DEADLOCK",
        `a statement on a second connection to ${this.#file} inside a transaction on the first would wait for that transaction forever: use the transaction's handle (${statementHead(sql)})`,
      );
    }
    return undefined;
  }

  async query<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const tx = this.#inside(sql);
    if (tx !== undefined) return tx.query<T>(sql, params);
    return this.#lock.with(() => this.#conn.query<T>(sql, params));
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const tx = this.#inside(sql);
    if (tx !== undefined) return tx.run(sql, params);
    return this.#lock.with(() => this.#conn.run(sql, params));
  }

  async exec(sql: string): Promise<void> {
    const tx = this.#inside(sql);
    if (tx !== undefined) return tx.exec(sql);
    return this.#lock.with(() => this.#conn.exec(sql));
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const inner = this.#inside("BEGIN");
    if (inner !== undefined) return inner.transaction(fn);
    return this.#lock.with(async () => {
      // IMMEDIATE takes the write lock now: a transaction that reads then writes cannot fail half-way
      // with SQLITE_BUSY because another process wrote in between.
      this.#conn.exec("BEGIN IMMEDIATE");
      const tx = new SqliteTx(this, this.#conn, 1);
      try {
        const result = await current.run({ root: this, tx }, () => fn(tx));
        this.#conn.exec("COMMIT");
        return result;
      } catch (e) {
        if (!this.#conn.closed && this.#conn.db.isTransaction) this.#conn.exec("ROLLBACK");
        throw e;
      } finally {
        tx.done = true;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#conn.closed) return;
    // Waits for a running transaction to end.
    await this.#lock.with(() => {
      this.#conn.closed = true;
      this.#conn.db.close();
    });
  }
}

/**
 * Whether the caller's async context is inside a transaction of `db` (a SQLite Db of this module): statements on
 * `db` issued there run in that transaction. Internal to @tessera/sql (group_commit.ts), not exported by mod.ts.
 */
export function insideSqliteTransaction(db: Db): boolean {
  const ctx = current.getStore();
  return ctx !== undefined && !ctx.tx.done && ctx.root === db;
}

/**
 * Opens (creating it 0600 when missing) a SQLite database file in WAL mode with foreign keys on.
 * @throws SqlError SQL_CONFIG when the file cannot be created or opened
 */
export function openSqlite(file: string, options: SqliteOptions = {}): Db {
  let real: string;
  let db: DatabaseSync;
  try {
    if (!existsSync(file)) {
      // Created here, not by SQLite, so that it is 0600 whatever the umask; SQLite gives -wal and -shm the same mode.
      closeSync(openSync(file, "a", 0o600));
      chmodSync(file, 0o600);
    }
    real = realpathSync(file);
    db = new DatabaseSync(real, { timeout: options.busyTimeoutMs ?? 10_000 });
  } catch (e) {
    throw new SqlError("SQL_CONFIG", `cannot open the SQLite database ${file}: ${(e as Error).message}`, { cause: e });
  }
  const conn = new Connection(db);
  try {
    conn.exec("PRAGMA journal_mode = WAL");
    // FULL: a committed transaction (a consumed nonce) survives power loss.
    conn.exec("PRAGMA synchronous = FULL");
    conn.exec("PRAGMA foreign_keys = ON");
  } catch (e) {
    db.close();
    throw new SqlError("SQL_CONFIG", `cannot set up the SQLite database ${file}: ${(e as Error).message}`, { cause: e });
  }
  return new SqliteDb(conn, real);
}
