/**
 * A kmipd serving thread: its own event loop, TLS listener (sharing the port through SO_REUSEPORT) and
 * store connection, over the master key, TLS material and shared store memory the first thread hands it.
 * Log lines and audit records go back to the first thread, which writes the process log.
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { aesGcmKeyring } from "@tessera/service";
import { startServer } from "./server.ts";
import type { AuditEntry } from "./store/store.ts";
import { openStore } from "./store/open.ts";
import type { FromWorker, ToWorker, WorkerData } from "./threads.ts";

const port = parentPort!;
const data = workerData as WorkerData;
let events: FromWorker & { type: "events" } = { type: "events", log: [], audit: [] };
let scheduled = false;
const send = () => {
  scheduled = false;
  if (events.log.length === 0 && events.audit.length === 0) return;
  port.postMessage(events);
  events = { type: "events", log: [], audit: [] };
};
const queue = () => {
  if (!scheduled) {
    scheduled = true;
    setImmediate(send);
  }
};
const log = (msg: string, fields?: Record<string, unknown>) => {
  events.log.push({ msg, fields });
  queue();
};
const onAudit = data.forwardAudit
  ? (e: AuditEntry) => {
      events.audit.push(e);
      queue();
    }
  : undefined;

try {
  const store = await openStore(data.database, data.shared, false, log);
  const server = await startServer(
    {
      store,
      keyring: aesGcmKeyring(data.masterKey),
      onAudit,
      onAuditFailure: (e, entries) => log("audit records could not be stored", { error: (e as Error).message, entries: entries.length }),
    },
    { host: data.host, port: data.port, ...data.tls, ...data.limits, reusePort: true },
    log,
  );
  port.on("message", (m: ToWorker) => {
    if (m.type !== "close") return;
    void (async () => {
      await server.close();
      await store.close();
      send();
      port.postMessage({ type: "closed" } satisfies FromWorker);
      port.close();
    })();
  });
  port.postMessage({ type: "ready" } satisfies FromWorker);
} catch (e) {
  port.postMessage({ type: "failed", message: (e as Error).message } satisfies FromWorker);
  port.close();
}
