/**
 * Several serving processes on one listening socket (`attestd --workers N`), so that every core serves: node:sqlite,
 * the appraisal and the token signature all run on a process's one thread. The primary bootstraps the data directory
 * once (TLS, master key, the first signing key, the admin account) and forks N workers (node:cluster, round-robin
 * over the shared socket); each worker is a full attestd node on the same store, exactly as several nodes on one
 * PostgreSQL are: nonces are spent by one conditional UPDATE in the database (single-use across workers and nodes),
 * status changes made by one worker reach the others' event streams through the cluster status watcher, signing keys
 * and the policy are read from the store. What stays per process: the sign-in throttle (each worker counts its own
 * attempts). On SQLite each worker commits on its writer thread (sql_store.ts), so a worker that finds the file locked
 * by another waits there, not on its event loop.
 * @module
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { bootstrap } from "./bootstrap.ts";
import type { AttestdConfig } from "./config.ts";
import { startAttestd, type RunningAttestd } from "./server.ts";

/** What a worker tells the primary once it serves. */
interface ReadyMessage {
  readonly attestd: "ready";
  readonly url: string;
}

function isReady(m: unknown): m is ReadyMessage {
  return typeof m === "object" && m !== null && (m as { attestd?: unknown }).attestd === "ready" && typeof (m as { url?: unknown }).url === "string";
}

/** Whether this process is a worker forked by {@link runPrimary}. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** A running primary: its workers serve `url`. */
export interface RunningPrimary {
  readonly url: string;
  /** Stops every worker (SIGTERM, each closes its node) and resolves when all have exited. */
  close(): Promise<void>;
}

/**
 * The primary: bootstraps the data directory once, forks `count` workers running this same program and arguments,
 * and resolves once all of them listen. A worker that dies while the primary is not stopping is replaced.
 * @throws Error when a worker exits before it listens (its own error is on stderr)
 */
export async function runPrimary(config: AttestdConfig, count: number, logger: Logger): Promise<RunningPrimary> {
  // The first start's work (admin password, first signing key) happens once, here, and is announced once.
  const b = await bootstrap(config, logger);
  await b.store.close();
  let stopping = false;
  // Until every worker listens, a worker that exits fails the start instead of being replaced (a bad configuration
  // would otherwise be forked again and again).
  let started = false;
  const exited = new Set<Worker>();
  const fork = (): Worker => {
    const w = cluster.fork({ ATTESTD_WORKER: "1" });
    w.once("exit", (code, signal) => {
      exited.add(w);
      if (stopping || !started) return;
      logger.error({ worker: w.id, code, signal }, "attestd worker exited; starting another");
      fork();
    });
    return w;
  };
  const workers = Array.from({ length: count }, fork);
  const urls = await Promise.all(
    workers.map(
      (w) =>
        new Promise<string>((resolve, reject) => {
          const onExit = (code: number | null): void => reject(new Error(`attestd worker ${w.id} exited (${String(code)}) before it listened`));
          w.once("exit", onExit);
          w.on("message", (m: unknown) => {
            if (!isReady(m)) return;
            w.off("exit", onExit);
            resolve(m.url);
          });
        }),
    ),
  ).catch(async (e: unknown) => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
    throw e;
  });
  started = true;
  return {
    url: urls[0] ?? "",
    async close() {
      stopping = true;
      const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !exited.has(w));
      await Promise.all(
        live.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once("exit", () => resolve());
              w.process.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}

/** A worker: one attestd node on the shared socket; tells the primary its URL once it listens. */
export async function runWorker(config: AttestdConfig, logger: Logger): Promise<RunningAttestd> {
  // The primary bootstrapped already: nothing is created or announced here.
  const node = await startAttestd(config, { logger, print: () => undefined });
  process.send?.({ attestd: "ready", url: node.url } satisfies ReadyMessage);
  return node;
}
