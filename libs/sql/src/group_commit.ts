/**
 * Group commit: the writes of a hot path that arrive in one turn of the event loop share one transaction and one
 * COMMIT on SQLite (one fsync for all of them instead of one each).
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { insideSqliteTransaction } from "./open_sqlite.ts";
import type { Db } from "./types.ts";

/** Options of {@link groupCommit}. */
export interface GroupCommitOptions {
  /**
   * SQLite only: a lock that the processes writing the same file take around each group commit (e.g. attestd
   * --workers: the primary grants it), resolving to its release. Without it, a process that finds the file locked
   * waits in SQLite's busy handler, asleep on its event loop for 1–8 ms at a time.
   */
  readonly writeLock?: () => Promise<() => void>;
}

/** See {@link groupCommit}. */
export interface GroupCommit {
  /**
   * Runs `fn` in the next group's transaction (in a savepoint of its own when the group has several writes);
   * resolves with what `fn` resolved to once that group is committed, rejects with what `fn` threw (its savepoint
   * rolled back, the rest of the group unaffected) or with the COMMIT's error (every write of the group).
   * Called inside {@link GroupCommit.joining}, or inside a transaction of the same Db, `fn` runs at once in that
   * transaction instead: a group would wait for that transaction's lock forever.
   */
  run<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Resolves when no group is queued or running (before closing the Db). */
  drain(): Promise<void>;
  /**
   * Runs `fn` (which the caller runs inside a transaction of its own on this Db, e.g. a store's lock) so that
   * every {@link GroupCommit.run} made in its async context joins that transaction instead of a group.
   */
  joining<T>(fn: () => Promise<T>): Promise<T>;
}

/** One write waiting for its group's commit. */
interface PendingWrite {
  readonly fn: (tx: Db) => Promise<unknown>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit over `db`. SQLite: the writes passed to `run` in one turn of the event loop run in one transaction,
 * each in its own savepoint, and share one COMMIT — one fsync (`synchronous = FULL`) for all of them instead of one
 * each. node:sqlite is synchronous, so every fsync stops the whole process (about 1 ms); while it waits, more
 * requests queue up and the next group takes them all. No caller is answered before its group is committed (what
 * is answered is durable), a write that fails rolls back its own savepoint only, and a failed COMMIT fails every
 * write of the group. One group runs at a time; writes arriving meanwhile form the next one.
 *
 * PostgreSQL runs each write on its own (`run(fn)` is `db.transaction(fn)`): its commits do not block the event
 * loop, and one transaction holding several callers' rows could deadlock against another node's group.
 * @example
 * ```ts
 * const group = groupCommit(db);
 * await group.run((tx) => tx.run("INSERT INTO audit (at, what) VALUES ($1, $2)", [Date.now(), "unwrap"]));
 * // committed here; answer the caller
 * await group.drain();
 * await db.close();
 * ```
 */
export function groupCommit(db: Db, options: GroupCommitOptions = {}): GroupCommit {
  /** Set inside the caller's own transactions (joining), where a write must join that transaction instead of a group. */
  const joined = new AsyncLocalStorage<boolean>();
  const joining = <T>(fn: () => Promise<T>): Promise<T> => joined.run(true, fn);
  if (db.dialect !== "sqlite") return { run: (fn) => db.transaction(fn), drain: () => Promise.resolve(), joining };
  const writeLock = options.writeLock;
  let idle: (() => void)[] = [];
  let queue: PendingWrite[] = [];
  let scheduled = false;
  let running = false;

  function schedule(): void {
    if (scheduled || running) return;
    scheduled = true;
    // setImmediate: after the I/O callbacks of this turn, so every request that reached its write in this turn joins.
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    const jobs = queue;
    queue = [];
    if (jobs.length === 0) return;
    running = true;
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const transact = (): Promise<void> =>
      jobs.length === 1
        ? db.transaction(async (tx) => {
            results.push({ ok: true, value: await (jobs[0] as PendingWrite).fn(tx) });
          })
        : db.transaction(async (tx) => {
            for (const j of jobs) {
              try {
                results.push({ ok: true, value: await tx.transaction(j.fn) });
              } catch (error) {
                results.push({ ok: false, error });
              }
            }
          });
    // With a write lock, the group waits for it without blocking this process, instead of in SQLite's busy
    // handler, which sleeps on the event loop while another process commits.
    const work =
      writeLock === undefined
        ? transact()
        : writeLock().then(async (release) => {
            try {
              await transact();
            } finally {
              release();
            }
          });
    work
      .then(
        () => {
          jobs.forEach((j, i) => {
            const r = results[i];
            if (r?.ok === true) j.resolve(r.value);
            else j.reject(r === undefined ? new Error("group commit: no result") : r.error);
          });
        },
        (error: unknown) => {
          for (const j of jobs) j.reject(error);
        },
      )
      .finally(() => {
        running = false;
        if (queue.length > 0) schedule();
        else {
          const waiting = idle;
          idle = [];
          for (const w of waiting) w();
        }
      });
  }

  return {
    run: <T>(fn: (tx: Db) => Promise<T>): Promise<T> => {
      // Inside a transaction of the caller: a group would wait for that transaction's lock forever.
      if (joined.getStore() === true || insideSqliteTransaction(db)) return fn(db);
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
    drain: () => (queue.length === 0 && !running && !scheduled ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve))),
    joining,
  };
}
