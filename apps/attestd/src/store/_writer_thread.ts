/**
 * The writer thread (started by _writer_client.ts): its own connection to attestd's SQLite file; each time it wakes,
 * it takes every write queued for it and runs them in one transaction, each in its own savepoint, with one COMMIT —
 * the group commit of sql_store.ts, whose fsync now waits here instead of on the event loop. A write that fails rolls
 * back its savepoint only; a failed COMMIT fails the whole group.
 * @module
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { openDatabase, type Db } from "@tessera/sql";
import type { WriterMessage, WriterRequest, WriterResult } from "./_writer_client.ts";
import { runWriteOp } from "./sql_store.ts";

const port = parentPort!;
const file = (workerData as { file: string }).file;

function errorOf(e: unknown): { name: string; message: string; code?: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}) };
}

async function group(db: Db, batch: readonly WriterRequest[]): Promise<WriterResult[]> {
  const results: WriterResult[] = [];
  try {
    await db.transaction(async (tx) => {
      for (const { id, op } of batch) {
        try {
          // One write alone needs no savepoint: its failure rolls the transaction back, and there is nothing else in it.
          const value = batch.length === 1 ? await runWriteOp(tx, op) : await tx.transaction((sp) => runWriteOp(sp, op));
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
try {
  db = await openDatabase({ sqlite: file });
} catch (e) {
  port.postMessage({ failed: errorOf(e).message } satisfies WriterMessage);
  process.exit(1);
}
let chain = Promise.resolve();
port.on("message", (first: WriterRequest | { close: true }) => {
  chain = chain.then(async () => {
    // Everything queued meanwhile joins this group (read synchronously off the port).
    const batch: WriterRequest[] = [];
    let closing = false;
    for (let m: unknown = first; m !== undefined; m = receiveMessageOnPort(port)?.message) {
      if ("close" in (m as object)) closing = true;
      else batch.push(m as WriterRequest);
    }
    if (batch.length > 0) port.postMessage({ results: await group(db, batch) } satisfies WriterMessage);
    if (closing) {
      await db.close();
      port.close();
    }
  });
});
port.postMessage({ ready: true } satisfies WriterMessage);
