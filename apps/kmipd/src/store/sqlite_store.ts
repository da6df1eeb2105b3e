/**
 * The embedded store: SQLite (node:sqlite) in the data directory, in WAL mode; an answered Create or
 * Register has had its WAL synced to disk, so it survives `kill -9` and power loss.
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { AuditEntry, Store, StoredObject } from "./store.ts";

interface Row {
  id: string;
  owner: string;
  object_type: number;
  state: number;
  attributes: Uint8Array;
  material: Uint8Array | null;
  names: string;
  grants: string;
}

function toObject(r: Row): StoredObject {
  return {
    id: r.id,
    owner: r.owner,
    objectType: r.object_type,
    state: r.state,
    attributes: new Uint8Array(r.attributes),
    material: r.material ? new Uint8Array(r.material) : null,
    names: JSON.parse(r.names) as string[],
    grants: JSON.parse(r.grants) as string[],
  };
}

/** Opens (creating if needed) the SQLite store at `file`. */
export function openSqliteStore(file: string): Store {
  const db = new DatabaseSync(file);
  const mode = (db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode?: string } | undefined)?.journal_mode;
  // In WAL mode, commits are made durable by syncing the WAL asynchronously (see flush); otherwise synchronously.
  const asyncSync = mode === "wal" && file !== ":memory:";
  db.exec(asyncSync ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
  db.exec(`
    PRAGMA foreign_keys = ON;
    CREATE TABLE IF NOT EXISTS objects (
      id TEXT PRIMARY KEY, owner TEXT NOT NULL, object_type INTEGER NOT NULL, state INTEGER NOT NULL,
      attributes BLOB NOT NULL, material BLOB, names TEXT NOT NULL DEFAULT '[]', grants TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    CREATE INDEX IF NOT EXISTS objects_owner ON objects(owner);
    CREATE TABLE IF NOT EXISTS object_names (object_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE, name TEXT NOT NULL) STRICT;
    CREATE INDEX IF NOT EXISTS object_names_name ON object_names(name);
    CREATE TABLE IF NOT EXISTS audit (
      seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, identity TEXT NOT NULL, operation TEXT NOT NULL,
      object_id TEXT, result TEXT NOT NULL
    ) STRICT;
  `);
  // The audit log has its own connection with synchronous=NORMAL: an audit record is in the WAL (safe
  // from a process crash, kill -9 included) before the response goes out, without an fsync per request;
  // object writes keep synchronous=FULL on the main connection (and fsync the shared WAL when they commit).
  const auditDb = new DatabaseSync(file);
  auditDb.exec("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  const s = {
    insert: db.prepare("INSERT INTO objects (id, owner, object_type, state, attributes, material, names, grants) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
    update: db.prepare("UPDATE objects SET state = ?, attributes = ?, material = ?, names = ?, grants = ? WHERE id = ?"),
    get: db.prepare("SELECT * FROM objects WHERE id = ?"),
    del: db.prepare("DELETE FROM objects WHERE id = ?"),
    // Grants are matched exactly (json_each), never with LIKE: no case folding, no wildcards in identities.
    list: db.prepare("SELECT * FROM objects o WHERE o.owner = ? OR EXISTS (SELECT 1 FROM json_each(o.grants) WHERE value = ?) ORDER BY o.rowid"),
    listByName: db.prepare(
      "SELECT o.* FROM objects o WHERE o.id IN (SELECT object_id FROM object_names WHERE name = ?) AND (o.owner = ? OR EXISTS (SELECT 1 FROM json_each(o.grants) WHERE value = ?)) ORDER BY o.rowid",
    ),
    delNames: db.prepare("DELETE FROM object_names WHERE object_id = ?"),
    addName: db.prepare("INSERT INTO object_names (object_id, name) VALUES (?, ?)"),
    audit: auditDb.prepare("INSERT INTO audit (at, identity, operation, object_id, result) VALUES (?, ?, ?, ?, ?)"),
    auditLog: db.prepare("SELECT at, identity, operation, object_id, result FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq"),
  } satisfies Record<string, StatementSync>;
  // Group commit: writes queued while the event loop runs are applied in one transaction (one fsync) at the
  // next turn, and every caller resolves only after that commit. Under load many requests share an fsync;
  // alone, a write costs one transaction as before. A failing write is retried alone so it fails by itself.
  //
  // Durability without blocking the event loop: the connection commits with synchronous=NORMAL (the WAL is
  // written, not yet synced) and the WAL file is then fdatasync'ed on libuv's thread pool; writers resolve only
  // after that sync, so an answered write survives power loss as with synchronous=FULL, while requests keep
  // being served during the disk flush.
  let pending: { apply: () => void; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let walHandle: Promise<FileHandle> | undefined;
  const syncWal = async () => {
    walHandle ??= open(`${file}-wal`, "r");
    await (await walHandle).datasync();
  };
  const flush = () => {
    const batch = pending;
    pending = [];
    const committed: typeof batch = [];
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const w of batch) w.apply();
      db.exec("COMMIT");
      committed.push(...batch);
    } catch {
      db.exec("ROLLBACK");
      // Entries remembered by the rolled-back writes may not have been committed.
      cache.clear();
      for (const w of batch) {
        try {
          db.exec("BEGIN IMMEDIATE");
          w.apply();
          db.exec("COMMIT");
          committed.push(w);
        } catch (e) {
          db.exec("ROLLBACK");
          cache.clear();
          w.reject(e);
        }
      }
    }
    if (committed.length === 0) return;
    if (!asyncSync) {
      for (const w of committed) w.resolve();
      return;
    }
    syncWal().then(
      () => {
        for (const w of committed) w.resolve();
      },
      (e) => {
        for (const w of committed) w.reject(e);
      },
    );
  };
  const tx = (apply: () => void): Promise<void> =>
    new Promise((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ apply, resolve, reject });
    });
  let auditPending: { entries: AuditEntry[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const flushAudit = () => {
    const batch = auditPending;
    auditPending = [];
    try {
      auditDb.exec("BEGIN IMMEDIATE");
      for (const b of batch) for (const e of b.entries) s.audit.run(e.at, e.identity, e.operation, e.objectId, e.result);
      auditDb.exec("COMMIT");
      for (const b of batch) b.resolve();
    } catch (e) {
      auditDb.exec("ROLLBACK");
      for (const b of batch) b.reject(e);
    }
  };
  // A read cache of stored (still wrapped) objects. This store is the only writer of its file (one node), so
  // write-through keeps it exact; objects are frozen copies so callers cannot change what others read.
  const cache = new Map<string, StoredObject>();
  const CACHE_MAX = 50_000;
  const remember = (o: StoredObject): StoredObject => {
    const frozen = Object.freeze({ ...o, names: [...o.names], grants: [...o.grants] });
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(o.id, frozen);
    return frozen;
  };
  const setNames = (o: StoredObject, fresh = false) => {
    // A new object has no names yet: nothing to delete.
    if (!fresh) s.delNames.run(o.id);
    for (const n of new Set(o.names)) s.addName.run(o.id, n);
  };
  return {
    insert(o) {
      return tx(() => {
        remember(o);
        s.insert.run(o.id, o.owner, o.objectType, o.state, o.attributes, o.material, JSON.stringify(o.names), JSON.stringify(o.grants));
        setNames(o, true);
      });
    },
    update(o) {
      return tx(() => {
        remember(o);
        s.update.run(o.state, o.attributes, o.material, JSON.stringify(o.names), JSON.stringify(o.grants), o.id);
        setNames(o);
      });
    },
    delete(id) {
      return tx(() => {
        cache.delete(id);
        s.delNames.run(id);
        s.del.run(id);
      });
    },
    async get(id) {
      const hit = cache.get(id);
      if (hit) return hit;
      const r = s.get.get(id) as Row | undefined;
      if (!r) return undefined;
      return remember(toObject(r));
    },
    async list(identity, filter = {}) {
      const rows = (filter.name !== undefined ? s.listByName.all(filter.name, identity, identity) : s.list.all(identity, identity)) as unknown as Row[];
      return rows.map(toObject);
    },
    audit(entries) {
      if (entries.length === 0) return Promise.resolve();
      return new Promise((resolve, reject) => {
        if (auditPending.length === 0) setImmediate(flushAudit);
        auditPending.push({ entries, resolve, reject });
      });
    },
    async auditLog(limit = 1000) {
      return (s.auditLog.all(limit) as { at: number; identity: string; operation: string; object_id: string | null; result: string }[]).map((r) => ({
        at: r.at,
        identity: r.identity,
        operation: r.operation,
        objectId: r.object_id,
        result: r.result,
      }));
    },
    async close() {
      if (auditPending.length) flushAudit();
      if (pending.length) flush();
      if (walHandle) await (await walHandle).close().catch(() => undefined);
      auditDb.close();
      db.close();
    },
  };
}
