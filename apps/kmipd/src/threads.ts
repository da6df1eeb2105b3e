/**
 * kmipd's extra serving threads: each a worker thread (worker.ts) listening on the first thread's port with
 * SO_REUSEPORT, so the kernel spreads connections over all of them. A thread that dies unexpectedly is
 * logged and replaced; closing drains every thread.
 * @module
 */
import { Worker } from "node:worker_threads";
import { releaseObjectLocksOf } from "./store/sqlite_store.ts";
import type { AuditEntry } from "./store/store.ts";
import type { ConnectionLimits } from "./config.ts";

/** What a serving thread is started with. */
export interface WorkerData {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string; clientCaPem: string };
  /** Connection limits of the thread's listener. */
  limits: ConnectionLimits;
  /** The master key (in memory only; never written anywhere by the thread). */
  masterKey: Uint8Array;
  database: string;
  /** The SQLite shared block (write lock, change counters), for `sqlite:` databases. */
  shared?: SharedArrayBuffer;
  /** Whether audit records are sent back for the process log. */
  forwardAudit: boolean;
}

/** Messages from a serving thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "events"; log: { msg: string; fields?: Record<string, unknown> }[]; audit: AuditEntry[] }
  | { type: "closed" };

/** Messages to a serving thread. */
export type ToWorker = { type: "close" };

/** A running serving thread. */
export interface ServingThread {
  /** The worker thread's id (a replacement has a new one). */
  readonly threadId: number;
  /** How many times this thread was replaced after it stopped unexpectedly. */
  readonly replacements: number;
  /** Stops the thread as a crash would (it is then replaced); resolves once the replacement listens. */
  crash(): Promise<void>;
  /** Stops accepting, drains its connections, closes its store. */
  close(): Promise<void>;
}

/** Replacements allowed in a minute before a thread that keeps dying is left down (and said so). */
const MAX_REPLACEMENTS_PER_MINUTE = 5;

type Log = (msg: string, fields?: Record<string, unknown>) => void;

/** Starts one serving thread and waits until it listens. */
function startOne(data: WorkerData, log: Log, onAudit: ((e: AuditEntry) => void) | undefined, onUnexpectedExit: (code: number) => void): Promise<Worker> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { workerData: data });
  const threadId = worker.threadId;
  let closing = false;
  return new Promise((resolve, reject) => {
    worker.on("message", (m: FromWorker) => {
      if (m.type === "ready") resolve(worker);
      else if (m.type === "failed") reject(new Error(`a kmipd serving thread did not start: ${m.message}`));
      else if (m.type === "events") {
        for (const l of m.log) log(l.msg, l.fields);
        if (onAudit) for (const a of m.audit) onAudit(a);
      } else if (m.type === "closed") closing = true;
    });
    worker.on("error", (e) => {
      log("kmipd serving thread failed", { error: e.message });
      reject(e);
    });
    worker.on("exit", (code) => {
      // Objects it was changing when it died are not held for ever: the requests waiting for them go on.
      if (data.shared) {
        const freed = releaseObjectLocksOf(data.shared, threadId);
        if (freed > 0) log("kmipd serving thread died holding objects; released them", { threadId, objects: freed });
      }
      if (!closing) onUnexpectedExit(code);
    });
  });
}

/** Starts `count` serving threads beside the first one. */
export async function startServingThreads(count: number, data: WorkerData, log: Log, onAudit: ((e: AuditEntry) => void) | undefined): Promise<ServingThread[]> {
  const threads: ServingThread[] = [];
  let stopping = false;
  const run = async (): Promise<ServingThread> => {
    let current: Worker;
    let alive = true;
    let replacements = 0;
    const recent: number[] = [];
    let replaced: (() => void) | undefined;
    const replace = (code: number) => {
      alive = false;
      if (stopping) return;
      const now = Date.now();
      while (recent.length > 0 && recent[0] < now - 60_000) recent.shift();
      if (recent.length >= MAX_REPLACEMENTS_PER_MINUTE) {
        log("kmipd serving thread keeps stopping; not replacing it again", { code, replacements });
        return;
      }
      recent.push(now);
      log("kmipd serving thread exited; starting another", { code });
      void startOne(data, log, onAudit, replace).then(
        (w) => {
          current = w;
          alive = true;
          replacements++;
          replaced?.();
        },
        (e: Error) => log("kmipd serving thread could not be replaced", { error: e.message }),
      );
    };
    current = await startOne(data, log, onAudit, replace);
    return {
      get threadId() {
        return current.threadId;
      },
      get replacements() {
        return replacements;
      },
      crash: () =>
        new Promise<void>((resolve) => {
          replaced = resolve;
          void current.terminate();
        }),
      close: () =>
        new Promise<void>((resolve) => {
          stopping = true;
          if (!alive) {
            resolve();
            return;
          }
          const w = current;
          w.once("exit", () => resolve());
          w.postMessage({ type: "close" } satisfies ToWorker);
        }),
    };
  };
  try {
    for (let i = 0; i < count; i++) threads.push(await run());
  } catch (e) {
    await Promise.all(threads.map((t) => t.close()));
    throw e;
  }
  return threads;
}
