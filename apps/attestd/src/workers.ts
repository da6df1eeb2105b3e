/**
 * Several serving processes on one listening socket (`attestd --workers N`), so that every core serves: node:sqlite,
 * the appraisal and the token signature all run on a process's one thread. The primary bootstraps the data directory
 * once (TLS, master key, the first signing key, the admin account) and forks N workers (node:cluster, round-robin
 * over the shared socket); each worker is a full attestd node on the same store, exactly as several nodes on one
 * PostgreSQL are: nonces are spent by one conditional UPDATE in the database (single-use across workers and nodes),
 * status changes made by one worker reach the others' event streams through the cluster status watcher, signing keys
 * and the policy are read from the store. What stays per process: the sign-in throttle (each worker counts its own
 * attempts). On SQLite the workers take turns at the file's write lock through the primary (an asynchronous wait),
 * instead of sleeping in SQLite's busy handler.
 * @module
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { bootstrap } from "./bootstrap.ts";
import type { AttestdConfig } from "./config.ts";
import { startAttestd, type RunningAttestd } from "./server.ts";

/** A worker asks for the write lock (`lock`) or gives it back (`unlock`); the primary answers `granted`. */
interface LockMessage {
  readonly attestd: "lock" | "unlock" | "granted";
}

function lockMessage(m: unknown): LockMessage["attestd"] | undefined {
  const v = typeof m === "object" && m !== null ? (m as { attestd?: unknown }).attestd : undefined;
  return v === "lock" || v === "unlock" || v === "granted" ? v : undefined;
}

/**
 * The primary's side of the workers' SQLite write lock: one holder at a time, the others queued in order of asking.
 * A worker that exits holding it or waiting for it is dropped. Only the group commits take it (sql_store.ts); the
 * rare other writes (administration) still meet in SQLite's own lock.
 */
function grantWriteLock(): { attach(w: Worker): void } {
  const waiting: Worker[] = [];
  let holder: Worker | undefined;
  const next = (): void => {
    holder = undefined;
    while (waiting.length > 0) {
      const w = waiting.shift()!;
      if (w.isDead() || !w.isConnected()) continue;
      holder = w;
      w.send({ attestd: "granted" } satisfies LockMessage);
      return;
    }
  };
  return {
    attach(w) {
      w.on("message", (m: unknown) => {
        const kind = lockMessage(m);
        if (kind === "lock") {
          waiting.push(w);
          if (holder === undefined) next();
        } else if (kind === "unlock" && holder === w) next();
      });
      w.once("exit", () => {
        const i = waiting.indexOf(w);
        if (i >= 0) waiting.splice(i, 1);
        if (holder === w) next();
      });
    },
  };
}

/** The worker's side: asks the primary for the write lock; resolves to its release once granted. */
function askWriteLock(): () => Promise<() => void> {
  const granted: (() => void)[] = [];
  process.on("message", (m: unknown) => {
    if (lockMessage(m) === "granted") granted.shift()?.();
  });
  return () =>
    new Promise((resolve) => {
      // Granted in the order asked: the primary queues this worker's requests in the order they were sent.
      granted.push(() => resolve(() => void process.send?.({ attestd: "unlock" } satisfies LockMessage)));
      process.send?.({ attestd: "lock" } satisfies LockMessage);
    });
}

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
  const lock = grantWriteLock();
  let stopping = false;
  // Until every worker listens, a worker that exits fails the start instead of being replaced (a bad configuration
  // would otherwise be forked again and again).
  let started = false;
  const exited = new Set<Worker>();
  const fork = (): Worker => {
    const w = cluster.fork({ ATTESTD_WORKER: "1" });
    lock.attach(w);
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
  const node = await startAttestd(config, { logger, print: () => undefined, ...(config.database === undefined ? { store: { writeLock: askWriteLock() } } : {}) });
  process.send?.({ attestd: "ready", url: node.url } satisfies ReadyMessage);
  return node;
}
