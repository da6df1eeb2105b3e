/**
 * PostgreSQL through a pg Pool. BYTEA ↔ Uint8Array, BIGINT (int8, count(*)) → number.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import pg from "pg";
import { SqlError, statementHead } from "./errors.ts";
import type { Db, Row, SqlValue } from "./types.ts";
import { Mutex } from "./_mutex.ts";

/** Options of {@link openPostgres}. */
export interface PostgresOptions {
  /** Most connections the pool opens (default 10). */
  readonly maxConnections?: number;
}

const INT8_OID = 20;
const BYTEA_OID = 17;
const parseBytea = pg.types.getTypeParser(BYTEA_OID, "text") as (s: string) => Buffer;

/** int8 as a number; a value a number cannot hold exactly stays a bigint, refused when the rows are returned. */
function parseInt8(s: string): number | bigint {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

const types = {
  getTypeParser(oid: number, format?: "text" | "binary"): unknown {
    // A copy: Buffer.from(hex) may hand out a view into a shared pool slab.
    if (oid === BYTEA_OID && format !== "binary") return (s: string) => new Uint8Array(parseBytea(s));
    if (oid === INT8_OID && format !== "binary") return parseInt8;
    return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function values(params: readonly SqlValue[]): unknown[] {
  return params.map((p) => {
    if (p === undefined) return null;
    if (typeof p === "bigint") return p.toString();
    if (p instanceof Uint8Array && !Buffer.isBuffer(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    return p;
  });
}

function checkRows<T>(rows: Row[], sql: string): T[] {
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if (typeof v === "bigint") throw new SqlError("SQL_RANGE", `column ${k} holds ${v}, beyond what a number holds exactly, in: ${statementHead(sql)}`);
    }
  }
  return rows as T[];
}

function pgError(e: unknown, sql: string): SqlError {
  if (e instanceof SqlError) return e;
  const err = e as { code?: string; message?: string };
  const where = `PostgreSQL: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ""} in: ${statementHead(sql)}`;
  if (typeof err.code === "string" && err.code.startsWith("23")) return new SqlError("SQL_CONSTRAINT", where, { cause: e });
  return new SqlError("SQL_QUERY", where, { cause: e });
}

interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

async function doQuery<T>(q: Queryable, sql: string, params: readonly SqlValue[]): Promise<T[]> {
  try {
    return checkRows<T>((await q.query(sql, values(params))).rows as Row[], sql);
  } catch (e) {
    throw pgError(e, sql);
  }
}

async function doRun(q: Queryable, sql: string, params: readonly SqlValue[]): Promise<{ changes: number }> {
  try {
    return { changes: (await q.query(sql, values(params))).rowCount ?? 0 };
  } catch (e) {
    throw pgError(e, sql);
  }
}

async function doExec(q: Queryable, sql: string): Promise<void> {
  try {
    // Without values pg uses the simple protocol, which takes several statements.
    await q.query(sql);
  } catch (e) {
    throw pgError(e, sql);
  }
}

interface TxContext {
  readonly root: PostgresDb;
  readonly tx: PostgresTx;
}

const current = new AsyncLocalStorage<TxContext>();

/** A transaction on one pooled connection (savepoints when nested). */
class PostgresTx implements Db {
  readonly dialect = "postgres" as const;
  readonly #root: PostgresDb;
  readonly #client: pg.PoolClient;
  readonly #depth: number;
  readonly #nested = new Mutex();
  done = false;

  constructor(root: PostgresDb, client: pg.PoolClient, depth: number) {
    this.#root = root;
    this.#client = client;
    this.#depth = depth;
  }

  #check(): void {
    if (this.done) throw new SqlError("SQL_TX_DONE", "the transaction this handle belongs to has ended");
  }

  async query<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#check();
    return doQuery<T>(this.#client, sql, params);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    this.#check();
    return doRun(this.#client, sql, params);
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    return doExec(this.#client, sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    this.#check();
    return this.#nested.with(async () => {
      this.#check();
      const name = `tessera_sp${this.#depth}`;
      await doExec(this.#client, `SAVEPOINT ${name}`);
      const child = new PostgresTx(this.#root, this.#client, this.#depth + 1);
      try {
        const result = await current.run({ root: this.#root, tx: child }, () => fn(child));
        await doExec(this.#client, `RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (e) {
        await doExec(this.#client, `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`);
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

/** A PostgreSQL database through a pool. */
class PostgresDb implements Db {
  readonly dialect = "postgres" as const;
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  #inside(): PostgresTx | undefined {
    if (this.#closed) throw new SqlError("SQL_CLOSED", "the PostgreSQL pool was closed");
    const ctx = current.getStore();
    return ctx !== undefined && ctx.root === this && !ctx.tx.done ? ctx.tx : undefined;
  }

  async query<T = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const tx = this.#inside();
    return tx !== undefined ? tx.query<T>(sql, params) : doQuery<T>(this.#pool, sql, params);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const tx = this.#inside();
    return tx !== undefined ? tx.run(sql, params) : doRun(this.#pool, sql, params);
  }

  async exec(sql: string): Promise<void> {
    const tx = this.#inside();
    return tx !== undefined ? tx.exec(sql) : doExec(this.#pool, sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const inner = this.#inside();
    if (inner !== undefined) return inner.transaction(fn);
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw pgError(e, "BEGIN");
    }
    const tx = new PostgresTx(this, client, 1);
    let broken: Error | undefined;
    try {
      await doExec(client, "BEGIN");
      const result = await current.run({ root: this, tx }, () => fn(tx));
      await doExec(client, "COMMIT");
      return result;
    } catch (e) {
      try {
        await client.query("ROLLBACK");
      } catch (r) {
        // The connection is unusable: the pool must not hand it out again.
        broken = r as Error;
      }
      throw e;
    } finally {
      tx.done = true;
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/**
 * Opens a pool on a PostgreSQL URL and checks that it answers.
 * @throws SqlError SQL_CONFIG when the first connection fails
 */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, types });
  // An idle connection the server dropped: the pool discards it; without a listener the process would exit.
  pool.on("error", () => undefined);
  try {
    await pool.query("SELECT 1");
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new SqlError("SQL_CONFIG", `cannot connect to PostgreSQL at ${redact(url)}: ${(e as Error).message}`, { cause: e });
  }
  return new PostgresDb(pool);
}

/** The URL without its password. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(an invalid URL)";
  }
}
