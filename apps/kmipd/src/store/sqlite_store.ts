/**
 * The embedded store: SQLite (node:sqlite) in the data directory, WAL with synchronous=FULL so that an
 * answered Create or Register survives `kill -9`.
 * @module
 */
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
    id: r.id, owner: r.owner, objectType: r.object_type, state: r.state,
    attributes: new Uint8Array(r.attributes), material: r.material ? new Uint8Array(r.material) : null,
    names: JSON.parse(r.names) as string[], grants: JSON.parse(r.grants) as string[],
  };
}

/** Opens (creating if needed) the SQLite store at `file`. */
export function openSqliteStore(file: string): Store {
  const db = new DatabaseSync(file);
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
    CREATE TABLE IF NOT EXISTS objects (
      id TEXT PRIMARY KEY, owner TEXT NOT NULL, object_type INTEGER NOT NULL, state INTEGER NOT NULL,
      attributes BLOB NOT NULL, material BLOB, names TEXT NOT NULL DEFAULT '[]', grants TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    CREATE INDEX IF NOT EXISTS objects_owner ON objects(owner);
    CREATE TABLE IF NOT EXISTS object_names (object_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE, name TEXT NOT NULL) STRICT;
    CREATE INDEX IF NOT EXISTS object_names_name ON object_names(name);
    CREATE TABLE IF NOT EXISTS audit (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, identity TEXT NOT NULL, operation TEXT NOT NULL,
      object_id TEXT, result TEXT NOT NULL
    ) STRICT;
  `);
  const s = {
    insert: db.prepare("INSERT INTO objects (id, owner, object_type, state, attributes, material, names, grants) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
    update: db.prepare("UPDATE objects SET state = ?, attributes = ?, material = ?, names = ?, grants = ? WHERE id = ?"),
    get: db.prepare("SELECT * FROM objects WHERE id = ?"),
    list: db.prepare("SELECT * FROM objects WHERE owner = ? OR grants LIKE ? ORDER BY rowid"),
    listByName: db.prepare("SELECT o.* FROM objects o JOIN object_names n ON n.object_id = o.id WHERE n.name = ? AND (o.owner = ? OR o.grants LIKE ?) ORDER BY o.rowid"),
    delNames: db.prepare("DELETE FROM object_names WHERE object_id = ?"),
    addName: db.prepare("INSERT INTO object_names (object_id, name) VALUES (?, ?)"),
    audit: db.prepare("INSERT INTO audit (at, identity, operation, object_id, result) VALUES (?, ?, ?, ?, ?)"),
    auditLog: db.prepare("SELECT at, identity, operation, object_id, result FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq"),
  } satisfies Record<string, StatementSync>;
  const tx = <T>(fn: () => T): T => {
    db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      db.exec("COMMIT");
      return r;
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  };
  const setNames = (o: StoredObject) => {
    s.delNames.run(o.id);
    for (const n of o.names) s.addName.run(o.id, n);
  };
  const grantPattern = (identity: string) => `%${JSON.stringify(identity)}%`;
  return {
    async insert(o) {
      tx(() => {
        s.insert.run(o.id, o.owner, o.objectType, o.state, o.attributes, o.material, JSON.stringify(o.names), JSON.stringify(o.grants));
        setNames(o);
      });
    },
    async update(o) {
      tx(() => {
        s.update.run(o.state, o.attributes, o.material, JSON.stringify(o.names), JSON.stringify(o.grants), o.id);
        setNames(o);
      });
    },
    async get(id) {
      const r = s.get.get(id) as Row | undefined;
      return r ? toObject(r) : undefined;
    },
    async list(identity, filter = {}) {
      const rows = (filter.name !== undefined
        ? s.listByName.all(filter.name, identity, grantPattern(identity))
        : s.list.all(identity, grantPattern(identity))) as unknown as Row[];
      return rows.map(toObject);
    },
    async audit(entries) {
      tx(() => {
        for (const e of entries) s.audit.run(e.at, e.identity, e.operation, e.objectId, e.result);
      });
    },
    async auditLog(limit = 1000) {
      return (s.auditLog.all(limit) as { at: number; identity: string; operation: string; object_id: string | null; result: string }[]).map((r) => ({
        at: r.at, identity: r.identity, operation: r.operation, objectId: r.object_id, result: r.result,
      }));
    },
    async close() {
      db.close();
    },
  };
}
