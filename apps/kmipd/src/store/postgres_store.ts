/**
 * The multi-node store: PostgreSQL (pg). Same schema and semantics as the SQLite store; every write is one
 * transaction, committed before the response is sent.
 * @module
 */
import pg from "pg";
import { KeyedLock, ObjectBusyError } from "./object_locks.ts";
import type { AuditEntry, Store, StoredObject } from "./store.ts";

interface Row {
  id: string;
  owner: string;
  object_type: number;
  state: number;
  attributes: Buffer;
  material: Buffer | null;
  names: string[];
  grants: string[];
}

function toObject(r: Row): StoredObject {
  return {
    id: r.id,
    owner: r.owner,
    objectType: r.object_type,
    state: r.state,
    attributes: new Uint8Array(r.attributes),
    material: r.material ? new Uint8Array(r.material) : null,
    names: r.names,
    grants: r.grants,
  };
}

/** Opens the PostgreSQL store at `url`, creating its tables if needed. */
export async function openPostgresStore(url: string): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  await pool.query(`
    CREATE TABLE IF NOT EXISTS kmip_objects (
      id TEXT PRIMARY KEY, owner TEXT NOT NULL, object_type INTEGER NOT NULL, state INTEGER NOT NULL,
      attributes BYTEA NOT NULL, material BYTEA, names TEXT[] NOT NULL DEFAULT '{}', grants TEXT[] NOT NULL DEFAULT '{}',
      seq BIGSERIAL
    );
    CREATE INDEX IF NOT EXISTS kmip_objects_owner ON kmip_objects(owner);
    CREATE INDEX IF NOT EXISTS kmip_objects_names ON kmip_objects USING GIN (names);
    CREATE TABLE IF NOT EXISTS kmip_audit (
      seq BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, identity TEXT NOT NULL, operation TEXT NOT NULL, object_id TEXT, result TEXT NOT NULL
    );
  `);
  // Object locks: first among this thread's requests (so that they do not each hold a connection while they
  // wait), then a session advisory lock held on a connection of its own pool, which orders the other threads and
  // kmipd processes sharing the database. Writes go through the main pool, so lock holders never wait for a
  // connection that a waiting lock holds.
  const objectLocks = new KeyedLock();
  const lockPool = new pg.Pool({ connectionString: url, max: 32, connectionTimeoutMillis: 10_000 });
  lockPool.on("error", () => undefined);
  const b = (x: Uint8Array | null) => (x ? Buffer.from(x.buffer, x.byteOffset, x.byteLength) : null);
  return {
    async insert(o) {
      await pool.query("INSERT INTO kmip_objects (id, owner, object_type, state, attributes, material, names, grants) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", [
        o.id,
        o.owner,
        o.objectType,
        o.state,
        b(o.attributes),
        b(o.material),
        o.names,
        o.grants,
      ]);
    },
    async update(o) {
      await pool.query("UPDATE kmip_objects SET state=$2, attributes=$3, material=$4, names=$5, grants=$6 WHERE id=$1", [
        o.id,
        o.state,
        b(o.attributes),
        b(o.material),
        o.names,
        o.grants,
      ]);
    },
    async delete(id) {
      await pool.query("DELETE FROM kmip_objects WHERE id=$1", [id]);
    },
    async lock(id, timeoutMs) {
      const started = performance.now();
      const release = await objectLocks.acquire(id, timeoutMs);
      let client: pg.PoolClient | undefined;
      try {
        try {
          client = await lockPool.connect();
        } catch (e) {
          // Every lock connection held (by requests changing other objects) for longer than a request waits: busy.
          if (/timeout exceeded when trying to connect/.test((e as Error).message)) throw Object.assign(e as Error, { code: "55P03" });
          throw e;
        }
        const left = Math.max(1, Math.ceil(timeoutMs - (performance.now() - started)));
        await client.query(`SET lock_timeout = ${left}`);
        await client.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [id]);
      } catch (e) {
        client?.release(true);
        release();
        // 55P03: lock_not_available (the lock_timeout ran out).
        if ((e as { code?: string }).code === "55P03") throw new ObjectBusyError(id, timeoutMs);
        throw e;
      }
      const held = client;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release();
        // Closing the session would free the lock as well: a connection whose unlock failed is not reused.
        held.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [id]).then(
          () => held.release(),
          (e: Error) => held.release(e),
        );
      };
    },
    async get(id) {
      const r = await pool.query<Row>("SELECT * FROM kmip_objects WHERE id=$1", [id]);
      return r.rows[0] ? toObject(r.rows[0]) : undefined;
    },
    async list(identity, filter = {}) {
      const r =
        filter.name !== undefined
          ? await pool.query<Row>("SELECT * FROM kmip_objects WHERE $2 = ANY(names) AND (owner=$1 OR $1 = ANY(grants)) ORDER BY seq", [identity, filter.name])
          : await pool.query<Row>("SELECT * FROM kmip_objects WHERE owner=$1 OR $1 = ANY(grants) ORDER BY seq", [identity]);
      return r.rows.map(toObject);
    },
    async audit(entries: AuditEntry[]) {
      if (entries.length === 0) return;
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        for (const e of entries)
          await client.query("INSERT INTO kmip_audit (at, identity, operation, object_id, result) VALUES ($1,$2,$3,$4,$5)", [
            e.at,
            e.identity,
            e.operation,
            e.objectId,
            e.result,
          ]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw err;
      } finally {
        client.release();
      }
    },
    async auditLog(limit = 1000) {
      const r = await pool.query<{ at: string; identity: string; operation: string; object_id: string | null; result: string }>(
        "SELECT * FROM (SELECT * FROM kmip_audit ORDER BY seq DESC LIMIT $1) t ORDER BY seq",
        [limit],
      );
      return r.rows.map((x) => ({ at: Number(x.at), identity: x.identity, operation: x.operation, objectId: x.object_id, result: x.result }));
    },
    async migrateOwners(format, rewrite) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        // Other kmipd processes starting at the same time wait here, then find the format recorded.
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended('kmipd owner format', 0))");
        await client.query("CREATE TABLE IF NOT EXISTS kmip_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
        const v = await client.query<{ value: string }>("SELECT value FROM kmip_meta WHERE key = 'owner_format'");
        const version = v.rows[0] ? Number(v.rows[0].value) : 1;
        if (version >= format) {
          await client.query("COMMIT");
          return undefined;
        }
        let changed = 0;
        for (const r of (await client.query<Row>("SELECT * FROM kmip_objects ORDER BY seq FOR UPDATE")).rows) {
          const n = rewrite(toObject(r));
          if (!n) continue;
          await client.query("UPDATE kmip_objects SET owner=$2, attributes=$3, grants=$4 WHERE id=$1", [n.id, n.owner, b(n.attributes), n.grants]);
          changed++;
        }
        await client.query("INSERT INTO kmip_meta (key, value) VALUES ('owner_format', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", [
          String(format),
        ]);
        await client.query("COMMIT");
        return changed;
      } catch (e) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      await lockPool.end();
      await pool.end();
    },
  };
}
