/**
 * The audit writer thread (started by _audit_writer.ts): its own connection to kmxd's SQLite file; each time it
 * wakes, it takes every audit row queued for it and inserts them in one transaction with one COMMIT, so that the
 * fsync of that COMMIT stops this thread only, not the event loop serving the hosts. A row that fails to insert
 * rolls back its own savepoint; a failed COMMIT fails the whole group.
 * @module
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { openDatabase, type Db } from "@tessera/sql";
import type { AuditWriterMessage, AuditWriterRequest, AuditWriterResult } from "./_audit_writer.ts";
import { insertAudit } from "./sql_store.ts";

const port = parentPort!;
const file = (workerData as { file: string }).file;

function errorOf(e: unknown): { name: string; message: string; code?: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}) };
}

async function group(db: Db, batch: readonly AuditWriterRequest[]): Promise<AuditWriterResult[]> {
  const results: AuditWriterResult[] = [];
  try {
    await db.transaction(async (tx) => {
      for (const { id, row } of batch) {
        try {
          // One row alone needs no savepoint: its failure rolls the transaction back, and there is nothing else in it.
          if (batch.length === 1) await insertAudit(tx, row);
          else await tx.transaction((sp) => insertAudit(sp, row));
          results.push({ id, ok: true });
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
  port.postMessage({ failed: errorOf(e).message } satisfies AuditWriterMessage);
  process.exit(1);
}
let chain = Promise.resolve();
port.on("message", (first: AuditWriterRequest | { close: true }) => {
  chain = chain.then(async () => {
    // Everything queued meanwhile joins this group (read synchronously off the port).
    const batch: AuditWriterRequest[] = [];
    let closing = false;
    for (let m: unknown = first; m !== undefined; m = receiveMessageOnPort(port)?.message) {
      if ("close" in (m as object)) closing = true;
      else batch.push(m as AuditWriterRequest);
    }
    if (batch.length > 0) port.postMessage({ results: await group(db, batch) } satisfies AuditWriterMessage);
    if (closing) {
      await db.close();
      port.close();
    }
  });
});
port.postMessage({ ready: true } satisfies AuditWriterMessage);
