/**
 * Host status events: the in-process bus the SSE route (`GET /api/v1/events`) subscribes to, and the
 * cluster watcher that carries status changes made on other attestd nodes (and changes nobody makes,
 * such as a host going stale when its token expires) onto this node's bus.
 *
 * Across nodes, the watcher polls the store (`listHostStatus`) and publishes the differences, rather than
 * PostgreSQL LISTEN/NOTIFY: the store interface does not expose its database, polling works the same on
 * SQLite and PostgreSQL, survives a dropped database connection without a re-LISTEN dance, and is the only
 * way to see `green → stale`, which no request causes (a token simply expires). The price is latency (one
 * interval, default 2 s) and one status query per interval per node.
 * @module
 */
import type { Logger } from "pino";
import type { StatusEvent, StatusEvents } from "./deps.ts";
import type { AttestdStore, HostStatus } from "./store/store.ts";

type Status = StatusEvent["status"];

/** The in-process bus, with the number of subscribers (the SSE tests check that a closed stream unsubscribes). */
export interface StatusEventBus extends StatusEvents {
  /** How many subscribers there are now. */
  readonly subscribers: number;
}

/**
 * An in-process status event bus. Publishing calls every subscriber synchronously; a subscriber that
 * throws is logged (when a logger is given) and does not stop the others.
 *
 * @example
 * ```ts
 * const events = createStatusEvents();
 * const off = events.subscribe((e) => console.log(e.host, e.previous, "→", e.status));
 * events.publish({ host: "h1", status: "red", previous: "green", at: Date.now(), message: "quote-signature" });
 * off();
 * ```
 */
export function createStatusEvents(logger?: Logger): StatusEventBus {
  const subscribers = new Set<(e: StatusEvent) => void>();
  return {
    publish(e: StatusEvent): void {
      for (const fn of [...subscribers]) {
        try {
          fn(e);
        } catch (err) {
          logger?.error({ err, host: e.host }, "status event subscriber failed");
        }
      }
    },
    subscribe(fn: (e: StatusEvent) => void): () => void {
      // Wrap so the same function subscribed twice gets two independent subscriptions.
      const entry = (e: StatusEvent): void => fn(e);
      subscribers.add(entry);
      return () => void subscribers.delete(entry);
    },
    get subscribers(): number {
      return subscribers.size;
    },
  };
}

/** Options of {@link watchClusterStatus}. */
export interface WatchClusterStatusOptions {
  readonly store: AttestdStore;
  readonly events: StatusEvents;
  readonly clock: { now(): number };
  /** How often to read every host's status (default 2000 ms). */
  readonly intervalMs?: number;
  readonly logger?: Logger;
}

/** A running {@link watchClusterStatus}. */
export interface ClusterStatusWatcher {
  /** Reads every status now and publishes what changed since the last read (tests call it instead of waiting). */
  poll(): Promise<number>;
  /** Stops polling (an ongoing poll finishes). */
  stop(): void;
}

function messageOf(s: HostStatus): string {
  return s.message;
}

/**
 * Publishes on `events` every host status change that the store shows and this node's bus has not
 * carried yet: changes made by other nodes, and statuses that change with time (stale). The first read
 * is the baseline (nothing published). A change published locally while a poll is under way wins over
 * that poll's (possibly older) reading of the same host, so a local `red → green` is never followed by a
 * spurious `green → red`. A host that disappears from the store is published as `unknown`.
 *
 * @example
 * ```ts
 * const watcher = watchClusterStatus({ store, events, clock: { now: Date.now } });
 * // … on shutdown
 * watcher.stop();
 * ```
 */
export function watchClusterStatus(options: WatchClusterStatusOptions): ClusterStatusWatcher {
  const { store, events, clock, logger } = options;
  const intervalMs = options.intervalMs ?? 2000;
  const known = new Map<string, Status>();
  const touchedAt = new Map<string, number>();
  let seq = 0;
  let baseline = false;
  let running: Promise<number> | undefined;
  let stopped = false;

  const unsubscribe = events.subscribe((e) => {
    seq += 1;
    touchedAt.set(e.host, seq);
    if (e.status === "unknown") known.delete(e.host);
    else known.set(e.host, e.status);
  });

  async function pollOnce(): Promise<number> {
    const startSeq = seq;
    const now = clock.now();
    const statuses = await store.listHostStatus(now);
    const fresh = (host: string): boolean => (touchedAt.get(host) ?? 0) <= startSeq;
    const changes: StatusEvent[] = [];
    const seen = new Set<string>();
    for (const s of statuses) {
      seen.add(s.host);
      if (!fresh(s.host)) continue;
      const before = known.get(s.host) ?? "unknown";
      if (!baseline) {
        if (s.status !== "unknown") known.set(s.host, s.status);
        continue;
      }
      if (before !== s.status) changes.push({ host: s.host, status: s.status, previous: before, at: now, message: messageOf(s) });
    }
    if (baseline) {
      for (const [host, before] of known) {
        if (!seen.has(host) && fresh(host)) changes.push({ host, status: "unknown", previous: before, at: now, message: "host removed" });
      }
    }
    baseline = true;
    // Publishing updates `known` through our own subscription.
    for (const e of changes) events.publish(e);
    return changes.length;
  }

  function poll(): Promise<number> {
    // One poll at a time: a slow database must not pile up overlapping reads.
    running ??= pollOnce().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => {
    if (stopped) return;
    poll().catch((err: unknown) => logger?.warn({ err }, "cluster status poll failed; retrying next interval"));
  }, intervalMs);
  timer.unref();

  return {
    poll,
    stop(): void {
      stopped = true;
      clearInterval(timer);
      unsubscribe();
    },
  };
}
