/**
 * The main thread's side of the writer thread (_writer_thread.ts): the attestation path's writes go to a thread that
 * has its own connection to the SQLite file and commits them in groups, so that the fsync of a commit stops that
 * thread only, not the event loop that serves HTTPS. Callers are answered after their group is committed.
 * @module
 */
import { Worker } from "node:worker_threads";
import { SqlError, type SqlErrorCode } from "@tessera/sql";
import type { WriteOp } from "./sql_store.ts";

/** A write sent to the thread. */
export interface WriterRequest {
  readonly id: number;
  readonly op: WriteOp;
}

/** Its answer. */
export type WriterResult =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly name: string; readonly message: string; readonly code?: string } };

/** What the thread posts: `ready` once its connection is open, `failed` when it cannot open it, else a group's results. */
export type WriterMessage = { readonly ready: true } | { readonly failed: string } | { readonly results: readonly WriterResult[] };

function revive(e: { readonly name: string; readonly message: string; readonly code?: string }): Error {
  return e.name === "SqlError" && e.code !== undefined ? new SqlError(e.code as SqlErrorCode, e.message) : new Error(e.message);
}

/**
 * Starts the writer thread on `file` (attestd's SQLite database, migrated already) and resolves once its connection is
 * open. `run` resolves with the write's result once its group is committed; `close` waits for the writes under way,
 * then stops the thread.
 * @throws Error when the thread cannot open the file
 */
export async function writerThread(file: string): Promise<{ run(op: WriteOp): Promise<unknown>; close(): Promise<void> }> {
  const worker = new Worker(new URL("./_writer_thread.ts", import.meta.url), { workerData: { file } });
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
      else if ("failed" in m) reject(new Error(`the SQLite writer thread cannot open ${file}: ${m.failed}`));
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
  return {
    run(op) {
      if (gone !== undefined) return Promise.reject(gone);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        // Referenced while a write is under way, so the process waits for its answer.
        if (pending.size === 0) worker.ref();
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, op } satisfies WriterRequest);
      });
    },
    async close() {
      if (pending.size > 0 && gone === undefined) await new Promise<void>((resolve) => (idle = resolve));
      // Referenced again: an unreferenced thread's exit would not keep this process waiting for it.
      worker.ref();
      if (gone === undefined) worker.postMessage({ close: true });
      gone ??= new Error("the store is closed");
      await exited;
    },
  };
}
