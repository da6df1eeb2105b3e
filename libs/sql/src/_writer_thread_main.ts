/**
 * The writer thread of {@link sqliteWriterThread} (writer_thread.ts): its own connection to the SQLite file; each
 * time it wakes, it takes every write queued for it and runs them with the handler in one transaction, each in its
 * own savepoint, with one COMMIT. A write that fails rolls back its savepoint only; a failed COMMIT fails the group.
 * @module
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { openDatabase } from "./open_database.ts";
import type { Db } from "./types.ts";
import type { WriteHandler, WriterMessage, WriterPost, WriterRequest, WriterResult, WriterThreadData } from "./writer_thread.ts";

const port = parentPort!;
const data = workerData as WriterThreadData;

function errorOf(e: unknown): { name: string; message: string; code?: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}) };
}

async function group(db: Db, handler: WriteHandler<unknown>, batch: readonly WriterRequest[]): Promise<WriterResult[]> {
  const results: WriterResult[] = [];
  try {
    await db.transaction(async (tx) => {
      for (const { id, op } of batch) {
        try {
          // One write alone needs no savepoint: its failure rolls the transaction back, and there is nothing else in it.
          const value = batch.length === 1 ? await handler(tx, op) : await tx.transaction((sp) => handler(sp, op));
          results.push({ id, ok: true, value });
        } catch (e) {
          if (batch.length === 1) throw e;
          results.push({ id, ok: false, error: errorOf(e) });
        }
      }
    });
    return results;
  } catch (e) {
    const error = errorOf(e);
    return batch.map(({ id }) => ({ id, ok: false, error }));
  }
}

let db: Db;
let handler: WriteHandler<unknown>;
try {
  const loaded = (await import(data.module)) as Record<string, unknown>;
  const h = loaded[data.handler];
  if (typeof h !== "function") throw new Error(`${data.module} exports no function ${data.handler}`);
  handler = h as WriteHandler<unknown>;
  db = await openDatabase({ sqlite: data.file });
} catch (e) {
  port.postMessage({ failed: errorOf(e).message } satisfies WriterMessage);
  process.exit(1);
}
let chain = Promise.resolve();
port.on("message", (first: WriterPost) => {
  chain = chain.then(async () => {
    // Everything queued meanwhile joins this group (read synchronously off the port).
    const batch: WriterRequest[] = [];
    let closing = false;
    for (let m: WriterPost | undefined = first; m !== undefined; m = receiveMessageOnPort(port)?.message as WriterPost | undefined) {
      if ("close" in m) closing = true;
      else for (const w of m.writes) batch.push(w); // a loop: a busy turn's writes may be more than a spread's arguments
    }
    if (batch.length > 0) port.postMessage({ results: await group(db, handler, batch) } satisfies WriterMessage);
    if (closing) {
      await db.close();
      port.close();
    }
  });
});
port.postMessage({ ready: true } satisfies WriterMessage);
