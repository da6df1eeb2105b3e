/**
 * Group commit on a thread of its own (SQLite): the writes of a hot path go, as data, to a worker thread that has its
 * own connection to the database file and commits whatever has queued up in one transaction with one COMMIT, so that
 * the fsync of each COMMIT stops that thread only, not the event loop serving requests. Callers are answered after
 * their group is committed. attestd (nonces, attempts) and kmxd (key operations' audit rows) use it.
 * @module
 */
import { Worker } from "node:worker_threads";
import { SqlError, type SqlErrorCode } from "./errors.ts";
import { groupCommit } from "./group_commit.ts";
import type { Db } from "./types.ts";

/** Runs one write `op` (structured-clonable data) in `tx`, the group's transaction; its result is the caller's. */
export type WriteHandler<Op> = (tx: Db, op: Op) => Promise<unknown>;

/** Where a hot path's writes go: {@link sqliteWriterThread}, or {@link inLoopWriter} (PostgreSQL, tests). */
export interface GroupWriter<Op> {
  /** Resolves with the handler's result once the write's group is committed; rejects with its error. */
  run(op: Op): Promise<unknown>;
  /** Waits for the writes under way, then stops. */
  close(): Promise<void>;
}

/** A write sent to the thread. */
export interface WriterRequest {
  readonly id: number;
  readonly op: unknown;
}

/** What the thread is sent: the writes of one event-loop turn, or the order to close. */
export type WriterPost = { readonly writes: readonly WriterRequest[] } | { readonly close: true };

/** Its answer. */
export type WriterResult =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly name: string; readonly message: string; readonly code?: string } };

/** What the thread posts: `ready` once its connection is open, `failed` when it cannot start, else a group's results. */
export type WriterMessage = { readonly ready: true } | { readonly failed: string } | { readonly results: readonly WriterResult[] };

/** What the thread is started with. */
export interface WriterThreadData {
  readonly file: string;
  /** The module that exports the handler (a file URL). */
  readonly module: string;
  /** The handler's export name. */
  readonly handler: string;
}

function revive(e: { readonly name: string; readonly message: string; readonly code?: string }): Error {
  return e.name === "SqlError" && e.code !== undefined ? new SqlError(e.code as SqlErrorCode, e.message) : new Error(e.message);
}

/**
 * The same group commit on this thread ({@link groupCommit}): for PostgreSQL (whose commits do not block the event
 * loop) and where no thread is wanted.
 */
export function inLoopWriter<Op>(db: Db, handler: WriteHandler<Op>): GroupWriter<Op> {
  const group = groupCommit(db);
  return { run: (op) => group.run((tx) => handler(tx, op)), close: () => group.drain() };
}

/**
 * A worker thread with this process's node options. A Worker inherits them as they are, V8 flags included
 * (`--max-old-space-size`, `--max-semi-space-size`, `--single-threaded-gc`: an operator's tuning), which Node refuses
 * in an explicit `execArgv` (ERR_WORKER_INVALID_EXEC_ARGV: the service would not start). Only a process started with
 * `--input-type` (`node -e`) needs a list of its own, without that option (the thread's file would be refused); the
 * flags Node refuses there are left out of it, as the error names them — they are the process's, and apply to every
 * thread of it anyway.
 */
function startWorker(url: URL, workerData: WriterThreadData): Worker {
  if (!process.execArgv.some((a) => a.startsWith("--input-type"))) return new Worker(url, { workerData });
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--input-type"));
  try {
    return new Worker(url, { workerData, execArgv });
  } catch (e) {
    if ((e as { code?: unknown }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw e;
    // "Initiated Worker with invalid execArgv flags: --a, --b=1"
    const refused = new Set((e as Error).message.replace(/^[^:]*:\s*/, "").split(/,\s*/));
    return new Worker(url, { workerData, execArgv: execArgv.filter((a) => !refused.has(a)) });
  }
}

/**
 * Starts the writer thread on the SQLite `file` (already migrated) and resolves once its connection is open. The
 * thread imports `module` and writes with its export `handler` (a {@link WriteHandler}); every write queued while a
 * group commits joins the next group, each in its own savepoint (a write that fails rolls back only itself; a failed
 * COMMIT fails the whole group).
 * @example
 * ```ts
 * const writer = await sqliteWriterThread<AuditRow>(file, new URL("./sql_store.ts", import.meta.url), "insertAudit");
 * await writer.run(row); // committed
 * ```
 * @throws Error when the thread cannot open the file or load the handler
 */
export async function sqliteWriterThread<Op>(file: string, module: URL, handler: string): Promise<GroupWriter<Op>> {
  const workerData: WriterThreadData = { file, module: module.href, handler };
  const worker = startWorker(new URL("./_writer_thread_main.ts", import.meta.url), workerData);
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let nextId = 1;
  let gone: Error | undefined;
  let idle: (() => void) | undefined;
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  const fail = (e: Error): void => {
    gone ??= e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
    idle?.();
  };
  await new Promise<void>((resolve, reject) => {
    worker.on("message", (m: WriterMessage) => {
      if ("ready" in m) resolve();
      else if ("failed" in m) reject(new Error(`the SQLite writer thread cannot start on ${file}: ${m.failed}`));
      else {
        for (const r of m.results) {
          const p = pending.get(r.id);
          pending.delete(r.id);
          if (r.ok) p?.resolve(r.value);
          else p?.reject(revive(r.error));
        }
        if (pending.size === 0) {
          worker.unref();
          idle?.();
        }
      }
    });
    worker.once("error", (e) => {
      reject(e);
      fail(e);
    });
    worker.once("exit", (code) => {
      reject(new Error(`the SQLite writer thread exited (${code}) before it was ready`));
      fail(new Error(`the SQLite writer thread exited (${code})`));
    });
  });
  // The thread never keeps the process alive by itself; close() stops it.
  worker.unref();
  // The writes of one event-loop turn go to the thread in one message, posted once the turn's I/O callbacks have
  // run (setImmediate), instead of a postMessage (a structured clone and a wake-up of the thread) for each write:
  // in paired runs a busy attestd spent 7–13% less CPU per attestation. The thread commits whatever has arrived as
  // one group anyway.
  let outbox: WriterRequest[] = [];
  const post = (): void => {
    const writes = outbox;
    outbox = [];
    if (gone === undefined) worker.postMessage({ writes } satisfies WriterPost);
  };
  return {
    run(op) {
      if (gone !== undefined) return Promise.reject(gone);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        // Referenced while a write is under way, so the process waits for its answer.
        if (pending.size === 0) worker.ref();
        pending.set(id, { resolve, reject });
        if (outbox.push({ id, op }) === 1) setImmediate(post);
      });
    },
    async close() {
      if (pending.size > 0 && gone === undefined) await new Promise<void>((resolve) => (idle = resolve));
      // Referenced again: an unreferenced thread's exit would not keep this process waiting for it.
      worker.ref();
      if (gone === undefined) worker.postMessage({ close: true } satisfies WriterPost);
      gone ??= new Error("the writer is closed");
      await exited;
    },
  };
}
