/**
 * The main thread's side of the audit writer thread (_audit_writer_thread.ts): on SQLite, the audit rows of key
 * operations (one per host request, committed before the answer) go to a thread that has its own connection to the
 * file and commits them in groups, so that the fsync of a COMMIT (1–4 ms on a loaded disk) stops that thread only,
 * not the event loop serving the hosts. Callers are answered after their group is committed.
 * @module
 */
import { Worker } from "node:worker_threads";
import { SqlError, type SqlErrorCode } from "@tessera/sql";
import type { AuditRecord } from "./store.ts";

/** A row sent to the thread. */
export interface AuditWriterRequest {
  readonly id: number;
  readonly row: Omit<AuditRecord, "id">;
}

/** Its answer. */
export type AuditWriterResult =
  | { readonly id: number; readonly ok: true }
  | { readonly id: number; readonly ok: false; readonly error: { readonly name: string; readonly message: string; readonly code?: string } };

/** What the thread posts: `ready` once its connection is open, `failed` when it cannot open it, else a group's results. */
export type AuditWriterMessage = { readonly ready: true } | { readonly failed: string } | { readonly results: readonly AuditWriterResult[] };

/** The writer thread as the store uses it. */
export interface AuditWriter {
  /** Resolves once `row` is committed; rejects with the insert's or the COMMIT's error. */
  add(row: Omit<AuditRecord, "id">): Promise<void>;
  /** Waits for the rows under way, then stops the thread. */
  close(): Promise<void>;
}

function revive(e: { readonly name: string; readonly message: string; readonly code?: string }): Error {
  return e.name === "SqlError" && e.code !== undefined ? new SqlError(e.code as SqlErrorCode, e.message) : new Error(e.message);
}

/**
 * Starts the writer thread on `file` (kmxd's SQLite database, migrated already) and resolves once its connection is
 * open.
 * @throws Error when the thread cannot open the file
 */
export async function auditWriter(file: string): Promise<AuditWriter> {
  // The process's options minus --input-type (a process started with -e has it, and a thread's file would be refused).
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--input-type"));
  const worker = new Worker(new URL("./_audit_writer_thread.ts", import.meta.url), { workerData: { file }, execArgv });
  const pending = new Map<number, { resolve(): void; reject(e: unknown): void }>();
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
    worker.on("message", (m: AuditWriterMessage) => {
      if ("ready" in m) resolve();
      else if ("failed" in m) reject(new Error(`the SQLite audit writer thread cannot open ${file}: ${m.failed}`));
      else {
        for (const r of m.results) {
          const p = pending.get(r.id);
          pending.delete(r.id);
          if (r.ok) p?.resolve();
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
      reject(new Error(`the SQLite audit writer thread exited (${code}) before it was ready`));
      fail(new Error(`the SQLite audit writer thread exited (${code})`));
    });
  });
  // The thread never keeps the process alive by itself; close() stops it.
  worker.unref();
  return {
    add(row) {
      if (gone !== undefined) return Promise.reject(gone);
      const id = nextId++;
      return new Promise<void>((resolve, reject) => {
        // Referenced while a row is under way, so the process waits for its answer.
        if (pending.size === 0) worker.ref();
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, row } satisfies AuditWriterRequest);
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
