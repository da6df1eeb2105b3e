/**
 * The embedded store: SQLite (node:sqlite) in the data directory, in WAL mode; an answered Create or
 * Register has had its WAL synced to disk, so it survives `kill -9` and power loss.
 *
 * Several threads of one process may open the same file (kmipd's `--threads`): they then share the memory block
 * of {@link sqliteShared}, which serializes their write transactions without SQLite's sleeping busy handler, lets
 * one WAL sync serve them all, and tells each thread's read cache when another thread changed an object. The
 * audit log is a database of its own beside the objects (`<file>-audit.sqlite`); a thread of its own
 * (checkpointer.ts) checkpoints both.
 * @module
 */
import { chmodSync, closeSync, openSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { threadId, Worker } from "node:worker_threads";
import type { CheckpointerData } from "./checkpointer.ts";
import { KeyedLock, ObjectBusyError } from "./object_locks.ts";
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

/** Change counters per slot of object ids; a power of two. */
const GENERATION_SLOTS = 1 << 16;
/** Object lock words, per slot of object ids; a power of two. */
const LOCK_SLOTS = 1 << 16;

/** Int32 words of the shared block. */
const LOCK = 0;
/** 1 while a thread syncs the WAL. */
const SYNC_BUSY = 1;
/** Counts finished syncs (waited on for the end of one). */
const SYNC_DONE = 2;
/** 1 once a sync failed: nothing is answered as durable any more. */
const SYNC_FAILED = 3;
/** The write lock of the audit database. */
const AUDIT_LOCK = 4;
/** BigInt64 words, at byte 32: commits made, and commits known to be on disk. */
const SEQ_OFFSET = 32;
const COMMITTED = 0;
const SYNCED = 1;
/** The first Int32 word of the change counters. */
const GENERATIONS = 12;
/** The first Int32 word of the object locks: 0 when free, else the holding thread's id + 1. */
const LOCKS = GENERATIONS + GENERATION_SLOTS;

/**
 * The memory that threads opening the same SQLite file share: a write lock, the state of the one WAL sync in
 * flight, commit sequence numbers, change counters for object ids hashed into {@link GENERATION_SLOTS} slots,
 * and object locks hashed into {@link LOCK_SLOTS} slots. Made once by the first thread, handed to the others.
 */
export function sqliteShared(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (LOCKS + LOCK_SLOTS));
}

/** FNV-1a hash of an object id. */
function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Hash of an object id to its change-counter word. */
function slotOf(id: string): number {
  return GENERATIONS + (hashId(id) & (GENERATION_SLOTS - 1));
}

/** Hash of an object id to its lock word (exported for tests that need two ids sharing one). */
export function lockSlotOf(id: string): number {
  return LOCKS + (hashId(id) & (LOCK_SLOTS - 1));
}

/**
 * Frees the object locks a thread held when it died (worker thread `threadId`), waking the threads waiting for
 * them. Returns how many it freed.
 */
export function releaseObjectLocksOf(shared: SharedArrayBuffer, threadId: number): number {
  const words = new Int32Array(shared);
  let freed = 0;
  for (let i = LOCKS; i < LOCKS + LOCK_SLOTS; i++) {
    if (Atomics.compareExchange(words, i, threadId + 1, 0) === threadId + 1) {
      Atomics.notify(words, i);
      freed++;
    }
  }
  return freed;
}

/** The WAL could not be synced: the store answers no write as durable until kmipd restarts. */
export class StoreSyncError extends Error {
  /** @param cause the failed fdatasync */
  constructor(cause?: unknown) {
    super("the database could not be synced to disk; writes are refused until kmipd is restarted", { cause });
    this.name = "StoreSyncError";
  }
}

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** The block from {@link sqliteShared} when other threads of this process open the same file. */
  shared?: SharedArrayBuffer;
  /**
   * Whether this store starts the checkpointer thread (default true). Of several threads opening the same file,
   * one does; the others leave checkpoints to it.
   */
  checkpointer?: boolean;
  /** Objects the read cache holds (default 50,000). */
  cacheSize?: number;
  /** Where failures of the checkpointer thread are told. */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Restarts of a dying checkpointer thread allowed in a minute. */
const CHECKPOINTER_RESTARTS_PER_MINUTE = 5;

/** The SQLite store, with a way for tests to stop its checkpointer thread as a crash would. */
export interface SqliteStore extends Store {
  /** Terminates the checkpointer thread; resolves once its replacement runs (rejects without a checkpointer). */
  crashCheckpointer(): Promise<void>;
}

/**
 * Pages a WAL may reach before a committing connection checkpoints it itself: only if the checkpointer thread
 * is not keeping up (it normally keeps the WAL far smaller).
 */
const FALLBACK_AUTOCHECKPOINT_PAGES = 16_384;

/** How long a thread waits for another thread's WAL sync before syncing itself. */
const STALLED_SYNC_MS = 2_000;

/** Makes `file` (created if `create`, when missing) mode 0600, whatever the umask and the directory. */
function privateFile(file: string, create = true): void {
  if (file === ":memory:" || file === "") return;
  if (create) closeSync(openSync(file, "a", 0o600));
  try {
    chmodSync(file, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || create) throw e;
  }
}

/** Opens (creating if needed) the SQLite store at `file`. */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): SqliteStore {
  // Without other threads, a private block: the same code path, never contended.
  const sharedBlock = options.shared ?? sqliteShared();
  const words = new Int32Array(sharedBlock);
  const seqs = new BigInt64Array(sharedBlock, SEQ_OFFSET, 2);
  // The write lock: threads take it around every write transaction, so SQLite's own lock is never contended
  // (its busy handler would sleep a millisecond or more); a waiting thread wakes as soon as it is released.
  const locked = <T>(run: () => T, lock = LOCK): T => {
    while (Atomics.compareExchange(words, lock, 0, 1) !== 0) Atomics.wait(words, lock, 1, 50);
    try {
      return run();
    } finally {
      Atomics.store(words, lock, 0);
      Atomics.notify(words, lock, 1);
    }
  };
  privateFile(file);
  const db = new DatabaseSync(file);
  const mode = (db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode?: string } | undefined)?.journal_mode;
  // In WAL mode, commits are made durable by syncing the WAL asynchronously (see flush); otherwise synchronously.
  const asyncSync = mode === "wal";
  db.exec(asyncSync ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
  db.exec(`
    PRAGMA busy_timeout = 5000;
    PRAGMA foreign_keys = ON;
    CREATE TABLE IF NOT EXISTS objects (
      id TEXT PRIMARY KEY, owner TEXT NOT NULL, object_type INTEGER NOT NULL, state INTEGER NOT NULL,
      attributes BLOB NOT NULL, material BLOB, names TEXT NOT NULL DEFAULT '[]', grants TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    CREATE INDEX IF NOT EXISTS objects_owner ON objects(owner);
    CREATE TABLE IF NOT EXISTS object_names (object_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE, name TEXT NOT NULL) STRICT;
    CREATE INDEX IF NOT EXISTS object_names_name ON object_names(name);
  `);
  // The audit log is a database of its own beside the objects (`<file>-audit.sqlite`), with synchronous=NORMAL:
  // an audit record is in its WAL (safe from a process crash, kill -9 included) before the response goes out,
  // without an fsync per request. Kept apart, its many small commits neither wait for the objects' write lock
  // nor add to what every object commit's fsync has to write.
  const auditFile = file === ":memory:" ? file : `${file.replace(/\.sqlite$/, "")}-audit.sqlite`;
  privateFile(auditFile);
  const auditDb = new DatabaseSync(auditFile);
  auditDb.prepare("PRAGMA journal_mode = WAL").get();
  // SQLite gives the -wal and -shm files the database file's mode; made 0600 here as well, whatever they were.
  for (const f of [file, auditFile]) for (const suffix of ["-wal", "-shm"]) privateFile(f + suffix, false);
  auditDb.exec(`
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS audit (
      seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, identity TEXT NOT NULL, operation TEXT NOT NULL,
      object_id TEXT, result TEXT NOT NULL
    ) STRICT;
  `);
  // Checkpoints run on their own thread (checkpointer.ts), not inside the commits of the serving threads. A
  // checkpoint that fails is logged (once per distinct error); a thread that dies is logged and started again, at
  // most CHECKPOINTER_RESTARTS_PER_MINUTE times a minute. Left down, the connections checkpoint themselves once a
  // WAL grows past the fallback size.
  let checkpointer: Worker | undefined;
  let checkpointerExited: Promise<unknown> = Promise.resolve();
  let checkpointerClosing = false;
  const restarts: number[] = [];
  let checkpointerRestarted: (() => void) | undefined;
  const log = options.log ?? (() => undefined);
  const startCheckpointer = () => {
    const w = new Worker(new URL("./checkpointer.ts", import.meta.url), {
      workerData: { files: [file, auditFile], intervalMs: 20 } satisfies CheckpointerData,
    });
    w.unref();
    let lastError = "";
    w.on("message", (m: { type?: string; message?: string }) => {
      if (m.type === "error" && m.message !== lastError) {
        lastError = m.message ?? "";
        log("WAL checkpoint failed", { file, error: m.message });
      }
    });
    w.on("error", (e) => log("WAL checkpointer thread failed", { file, error: e.message, stack: e.stack }));
    checkpointerExited = new Promise((r) => w.once("exit", r));
    w.once("exit", (code) => {
      if (checkpointerClosing) return;
      const now = Date.now();
      while (restarts.length > 0 && restarts[0] < now - 60_000) restarts.shift();
      if (restarts.length >= CHECKPOINTER_RESTARTS_PER_MINUTE) {
        log("WAL checkpointer thread keeps dying; not restarting it (commits checkpoint the WAL past the fallback size)", {
          file,
          code,
          fallbackPages: FALLBACK_AUTOCHECKPOINT_PAGES,
        });
        checkpointer = undefined;
        return;
      }
      restarts.push(now);
      log("WAL checkpointer thread died; restarting it", { file, code });
      startCheckpointer();
      checkpointerRestarted?.();
    });
    checkpointer = w;
  };
  if (asyncSync) {
    db.exec(`PRAGMA wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    auditDb.exec(`PRAGMA wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    if (options.checkpointer ?? true) startCheckpointer();
  }
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
    auditLog: auditDb.prepare("SELECT at, identity, operation, object_id, result FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq"),
  } satisfies Record<string, StatementSync>;
  // Group commit: writes queued while the event loop runs are applied in one transaction, and every caller
  // resolves only after that transaction is on disk. A failing write is retried alone so it fails by itself.
  //
  // Durability without blocking the event loop: the connection commits with synchronous=NORMAL (the WAL is
  // written, not yet synced) and the WAL file is then fdatasync'ed on libuv's thread pool; writers resolve only
  // after a sync that began after their commit, so an answered write survives power loss as with
  // synchronous=FULL, while requests keep being served during the disk flush.
  //
  // One sync is in flight at a time in the whole process, and it covers every commit made before it began,
  // whichever thread made it: a thread whose commit is older than the sync that just finished has nothing left
  // to do. Writes a thread queues while its last commit waits for the disk go together into its next
  // transaction. Under load every sync carries as many writes as arrived during the previous one (the disk,
  // not the number of syncs, sets the pace); alone, a write costs one transaction and one sync.
  let pending: { apply: () => void; changed?: string; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let scheduled = false;
  let syncing = false;
  let walHandle: Promise<FileHandle> | undefined;
  const syncWal = async () => {
    walHandle ??= open(`${file}-wal`, "r");
    await (await walHandle).datasync();
  };
  /** Resolves when commit number `seq` is on disk. */
  const durable = async (seq: bigint): Promise<void> => {
    for (;;) {
      if (Atomics.load(words, SYNC_FAILED) === 1) throw new StoreSyncError();
      if (Atomics.load(seqs, SYNCED) >= seq) return;
      const done = Atomics.load(words, SYNC_DONE);
      if (Atomics.compareExchange(words, SYNC_BUSY, 0, 1) === 0) {
        const target = Atomics.load(seqs, COMMITTED);
        try {
          await syncWal();
          if (target > Atomics.load(seqs, SYNCED)) Atomics.store(seqs, SYNCED, target);
        } catch (e) {
          // After a failed fsync the kernel may have dropped the dirty pages: a later sync that succeeds proves
          // nothing about them, so no write is answered as durable again until a restart re-reads the disk.
          Atomics.store(words, SYNC_FAILED, 1);
          throw new StoreSyncError(e);
        } finally {
          Atomics.store(words, SYNC_BUSY, 0);
          Atomics.add(words, SYNC_DONE, 1);
          Atomics.notify(words, SYNC_DONE);
        }
        continue;
      }
      // Another sync is in flight (maybe one that began before this commit): wait for it to end, then look again.
      const wait = Atomics.waitAsync(words, SYNC_DONE, done, STALLED_SYNC_MS);
      // A pending waitAsync does not keep the event loop alive; this timer does, for as long as the wait.
      const alive = setTimeout(() => undefined, STALLED_SYNC_MS + 1_000);
      const outcome = wait.async ? await wait.value : wait.value;
      clearTimeout(alive);
      if (outcome === "timed-out" && Atomics.load(words, SYNC_DONE) === done) {
        // That sync has not ended for a while: its thread may be gone, its flag never to be cleared. Sync here
        // as well (syncs may overlap; one begun after this commit covers it) rather than wait for ever.
        const target = Atomics.load(seqs, COMMITTED);
        try {
          await syncWal();
        } catch (e) {
          Atomics.store(words, SYNC_FAILED, 1);
          throw new StoreSyncError(e);
        }
        if (target >= seq) return;
      }
    }
  };
  const flush = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (Atomics.load(words, SYNC_FAILED) === 1) {
      for (const w of batch) w.reject(new StoreSyncError());
      return;
    }
    const committed: typeof batch = [];
    let seq = 0n;
    locked(() => {
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
      if (committed.length > 0) seq = Atomics.add(seqs, COMMITTED, 1n) + 1n;
    });
    // Committed changes are visible to the other threads' connections now: count them, so that a thread holding
    // one of these objects in its cache reads it again (this thread's own entry included, once).
    for (const w of committed) if (w.changed !== undefined) Atomics.add(words, slotOf(w.changed), 1);
    if (committed.length === 0) return;
    if (!asyncSync) {
      for (const w of committed) w.resolve();
      return;
    }
    syncing = true;
    durable(seq)
      .then(
        () => {
          for (const w of committed) w.resolve();
        },
        (e) => {
          for (const w of committed) w.reject(e);
        },
      )
      .finally(() => {
        syncing = false;
        if (pending.length > 0 && !scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
  };
  const tx = (apply: () => void, changed?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      pending.push({ apply, changed, resolve, reject });
      if (!scheduled && !syncing) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  let auditPending: { entries: AuditEntry[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const flushAudit = () => {
    const batch = auditPending;
    auditPending = [];
    locked(() => {
      try {
        auditDb.exec("BEGIN IMMEDIATE");
        for (const b of batch) for (const e of b.entries) s.audit.run(e.at, e.identity, e.operation, e.objectId, e.result);
        auditDb.exec("COMMIT");
        for (const b of batch) b.resolve();
      } catch (e) {
        auditDb.exec("ROLLBACK");
        for (const b of batch) b.reject(e);
      }
    }, AUDIT_LOCK);
  };
  // A read cache of stored (still wrapped) objects, frozen so callers cannot change what others read. Writes
  // of this thread go through it when they are queued (a request that follows sees them); an entry also
  // records its slot's change count when it was read, and a hit whose count has moved since (another thread
  // changed that object, or one sharing its slot) is read again from the database.
  const cache = new Map<string, { o: StoredObject; generation: number }>();
  const CACHE_MAX = options.cacheSize ?? 50_000;
  // The oldest eighth goes at once. Deleting one entry per insert would cost far more than it seems: a Map keeps
  // deleted entries in place until it is rebuilt, so finding the oldest live one walks every entry deleted
  // before it (measured at 20+ µs per insert once 50,000 objects were cached).
  const evictOldest = () => {
    let n = 0;
    for (const id of cache.keys()) {
      cache.delete(id);
      if (++n >= CACHE_MAX / 8) break;
    }
  };
  const remember = (o: StoredObject, generation = Atomics.load(words, slotOf(o.id))): StoredObject => {
    const frozen = Object.freeze({ ...o, names: [...o.names], grants: [...o.grants] });
    if (cache.size >= CACHE_MAX) evictOldest();
    cache.set(o.id, { o: frozen, generation });
    return frozen;
  };
  // Object locks. Requests of this thread take an object in `objectLocks` (by id); the thread then holds the
  // object's lock word, shared with the other threads, for as long as any of its requests holds an object hashed
  // to that word (two ids may share one: the thread then holds it once, counted in `heldWords`).
  const objectLocks = new KeyedLock();
  const heldWords = new Map<number, number>();
  const me = threadId + 1;
  const takeWord = async (word: number, id: string, deadline: number, timeoutMs: number): Promise<void> => {
    for (;;) {
      // Looked at again after every wait: another request of this thread may have taken the word meanwhile.
      const held = heldWords.get(word);
      if (held) {
        heldWords.set(word, held + 1);
        return;
      }
      const holder = Atomics.compareExchange(words, word, 0, me);
      if (holder === 0) break;
      const left = deadline - performance.now();
      if (left <= 0) throw new ObjectBusyError(id, timeoutMs);
      const wait = Atomics.waitAsync(words, word, holder, left);
      if (wait.async) {
        // A pending waitAsync does not keep the event loop alive; this timer does, for as long as the wait.
        const alive = setTimeout(() => undefined, left + 1_000);
        await wait.value;
        clearTimeout(alive);
      }
    }
    heldWords.set(word, 1);
  };
  const dropWord = (word: number) => {
    const held = heldWords.get(word)! - 1;
    if (held > 0) {
      heldWords.set(word, held);
      return;
    }
    heldWords.delete(word);
    Atomics.store(words, word, 0);
    // Every waiter looks again: one takes the word, and those of its thread share it.
    Atomics.notify(words, word);
  };
  const setNames = (o: StoredObject, fresh = false) => {
    // A new object has no names yet: nothing to delete.
    if (!fresh) s.delNames.run(o.id);
    for (const n of new Set(o.names)) s.addName.run(o.id, n);
  };
  return {
    insert(o) {
      remember(o);
      return tx(() => {
        s.insert.run(o.id, o.owner, o.objectType, o.state, o.attributes, o.material, JSON.stringify(o.names), JSON.stringify(o.grants));
        setNames(o, true);
      });
    },
    update(o) {
      remember(o);
      return tx(() => {
        s.update.run(o.state, o.attributes, o.material, JSON.stringify(o.names), JSON.stringify(o.grants), o.id);
        setNames(o);
      }, o.id);
    },
    delete(id) {
      cache.delete(id);
      return tx(() => {
        s.delNames.run(id);
        s.del.run(id);
      }, id);
    },
    async lock(id, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      const release = await objectLocks.acquire(id, timeoutMs);
      const word = lockSlotOf(id);
      try {
        await takeWord(word, id, deadline, timeoutMs);
      } catch (e) {
        release();
        throw e;
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        dropWord(word);
        release();
      };
    },
    async get(id) {
      const slot = slotOf(id);
      const hit = cache.get(id);
      if (hit && hit.generation === Atomics.load(words, slot)) return hit.o;
      // The count is read before the row: a change committed in between makes the entry stale, never wrong.
      const generation = Atomics.load(words, slot);
      const r = s.get.get(id) as Row | undefined;
      if (!r) {
        cache.delete(id);
        return undefined;
      }
      return remember(toObject(r), generation);
    },
    async list(identity, filter = {}) {
      const rows = (filter.name !== undefined ? s.listByName.all(filter.name, identity, identity) : s.list.all(identity, identity)) as unknown as Row[];
      // Objects already in the read cache (and unchanged since) are handed out as cached: the same frozen object
      // whose decoded attributes the callers keep, instead of a new copy to decode again.
      return rows.map((r) => {
        const hit = cache.get(r.id);
        return hit && hit.generation === Atomics.load(words, slotOf(r.id)) ? hit.o : toObject(r);
      });
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
    async migrateOwners(format, rewrite) {
      let changed: number | undefined;
      locked(() => {
        db.exec("BEGIN IMMEDIATE");
        try {
          const version = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
          // A store without objects has nothing in an older format.
          if (version < format) {
            changed = 0;
            for (const r of db.prepare("SELECT * FROM objects ORDER BY rowid").all() as unknown as Row[]) {
              const n = rewrite(toObject(r));
              if (!n) continue;
              db.prepare("UPDATE objects SET owner = ?, attributes = ?, grants = ? WHERE id = ?").run(n.owner, n.attributes, JSON.stringify(n.grants), n.id);
              changed++;
            }
            db.exec(`PRAGMA user_version = ${format}`);
          }
          db.exec("COMMIT");
        } catch (e) {
          db.exec("ROLLBACK");
          throw e;
        }
      });
      cache.clear();
      if (changed !== undefined && asyncSync) await syncWal();
      return changed;
    },
    crashCheckpointer() {
      const w = checkpointer;
      if (!w) return Promise.reject(new Error("no checkpointer thread"));
      return new Promise<void>((resolve) => {
        checkpointerRestarted = () => {
          checkpointerRestarted = undefined;
          resolve();
        };
        void w.terminate();
      });
    },
    async close() {
      if (auditPending.length) flushAudit();
      if (pending.length) flush();
      while (syncing) await new Promise((r) => setImmediate(r));
      checkpointerClosing = true;
      if (checkpointer) {
        // Kept from holding the process open while serving; held now until its last checkpoint is done.
        checkpointer.ref();
        checkpointer.postMessage("close");
        await checkpointerExited;
      }
      if (walHandle) await (await walHandle).close().catch(() => undefined);
      auditDb.close();
      db.close();
    },
  };
}
