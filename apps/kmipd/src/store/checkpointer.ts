/**
 * The WAL checkpointer of the SQLite store, run as a worker thread: it copies committed WAL frames into the
 * database files every few milliseconds (a PASSIVE checkpoint, which never waits for or blocks a writer), so that
 * the threads serving requests never run a checkpoint, and its two fsyncs, inside a commit. Once a WAL is fully
 * copied, the next writer starts it again from the beginning, so the files stay small.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { parentPort, workerData } from "node:worker_threads";

/** What the checkpointer is started with. */
export interface CheckpointerData {
  /** The database files (in WAL mode) to checkpoint. */
  files: string[];
  /** Milliseconds between checkpoints. */
  intervalMs: number;
}

const data = workerData as CheckpointerData;
const dbs = data.files.map((f) => {
  const db = new DatabaseSync(f);
  db.exec("PRAGMA busy_timeout = 1000; PRAGMA synchronous = NORMAL;");
  return db;
});
const checkpoint = () => {
  for (const db of dbs) {
    try {
      db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    } catch (e) {
      parentPort!.postMessage({ type: "error", message: (e as Error).message });
    }
  }
};
const timer = setInterval(checkpoint, data.intervalMs);
parentPort!.on("message", (m: string) => {
  if (m !== "close") return;
  clearInterval(timer);
  checkpoint();
  for (const db of dbs) db.close();
  parentPort!.close();
});
