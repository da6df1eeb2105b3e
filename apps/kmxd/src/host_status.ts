/**
 * The hosts' attestation status as attestd reports it, and the rule kmxd applies to a host's token with it:
 * a token is refused when the host's latest status is not green and that status began at or after the token's
 * `iat` − 1 s (attestd turned the host red, stale or removed it since it issued the token). A token issued
 * before the host's last non-green status stays refused after the host is green again (a new attestation gave
 * it a new token). While the event stream is down, the watcher says `disconnected` (health `degraded`) and the
 * statuses it knows keep applying; what it cannot know, the token's expiry bounds.
 * @module
 */
import type { Logger } from "pino";
import type { AttestdEventSubscriber, AttestdHostStatus, AttestdSnapshot, AttestdStatusEvent } from "./attestd_client.ts";
import type { HostStatusVerdict, HostStatusWatcher } from "./deps.ts";

/**
 * Tolerance (ms) between a status event's `at` and a token's `iat`: `iat` is whole seconds, so a token issued in
 * the same second as a red event cannot be ordered against it; the rule refuses it (the host asks again once
 * attestd has sent the new green).
 */
export const IAT_TOLERANCE_MS = 1000;

interface Entry {
  status: AttestdHostStatus;
  /** When the current status began (attestd's clock, epoch ms). */
  at: number;
  message?: string;
  /** The latest non-green status: tokens issued before it stay refused. */
  lastBad?: { status: AttestdHostStatus; at: number; message?: string };
}

/**
 * The per-host state and the token rule, pure: fed by a snapshot on each (re)connection and by events in order.
 *
 * @example
 * ```ts
 * const book = new HostStatusBook();
 * book.applyEvent({ host: "h1", status: "red", at: Date.now(), message: "image-unknown" });
 * book.check("h1", claims.iat); // { ok: false, status: "red", … }
 * ```
 */
export class HostStatusBook {
  private readonly hosts = new Map<string, Entry>();

  /** The state of one host (tests and diagnostics). */
  get(host: string): Readonly<Entry> | undefined {
    return this.hosts.get(host);
  }

  private set(host: string, status: AttestdHostStatus, at: number, message: string | undefined): void {
    const before = this.hosts.get(host);
    const entry: Entry = { status, at, ...(message !== undefined ? { message } : {}) };
    let lastBad = before?.lastBad;
    if (status !== "green" && (lastBad === undefined || at >= lastBad.at)) lastBad = { status, at, ...(message !== undefined ? { message } : {}) };
    if (lastBad !== undefined) entry.lastBad = lastBad;
    this.hosts.set(host, entry);
  }

  /** One status event, applied in the stream's order. */
  applyEvent(e: AttestdStatusEvent): void {
    this.set(e.host, e.status, e.at, e.message);
  }

  /**
   * Every host's status after a (re)connection. A host kmxd knew that attestd no longer lists was removed while
   * the stream was down: it becomes `unknown` as of the snapshot. A listed status without a time (a host not
   * attested yet) counts from the snapshot.
   */
  applySnapshot(s: AttestdSnapshot): void {
    const listed = new Set<string>();
    for (const h of s.hosts) {
      listed.add(h.host);
      const before = this.hosts.get(h.host);
      // Unchanged since kmxd last heard, and not begun again since: keep the time it had.
      if (before !== undefined && before.status === h.status && (h.at === undefined || h.at <= before.at)) continue;
      this.set(h.host, h.status, h.at ?? s.at, h.message);
    }
    for (const [host, e] of this.hosts) {
      if (!listed.has(host) && e.status !== "unknown") this.set(host, "unknown", s.at, "not known to attestd");
    }
  }

  /** Whether a token of `host` issued at `iat` (epoch seconds) may be used now. */
  check(host: string, iat: number): HostStatusVerdict {
    const e = this.hosts.get(host);
    if (e === undefined) return { ok: true };
    const iatMs = iat * 1000;
    if (e.status !== "green" && e.at >= iatMs - IAT_TOLERANCE_MS) return refusal(e.status, e.at, e.message);
    // Green again, but this token was issued before the host's last non-green status: it is not the new one.
    if (e.lastBad !== undefined && e.lastBad.at > iatMs + IAT_TOLERANCE_MS) return refusal(e.lastBad.status, e.lastBad.at, e.lastBad.message);
    return { ok: true };
  }
}

function refusal(status: string, at: number, message: string | undefined): HostStatusVerdict {
  return { ok: false, status, at, ...(message !== undefined ? { message } : {}) };
}

/** The event source the watcher follows: {@link AttestdClient.watch}. */
export interface AttestdEventSource {
  watch(subscriber: AttestdEventSubscriber): () => void;
}

/** Options of {@link createHostStatusWatcher}. */
export interface HostStatusWatcherOptions {
  readonly client: AttestdEventSource;
  /** Epoch ms (the `since` of the health). */
  readonly clock: { now(): number };
  readonly logger?: Logger;
}

/** A {@link HostStatusWatcher} with its book (for diagnostics and tests). */
export interface HostStatusWatcherWithBook extends HostStatusWatcher {
  readonly book: HostStatusBook;
}

/**
 * Follows attestd's event stream into a {@link HostStatusBook}.
 *
 * @example
 * ```ts
 * const hostStatus = createHostStatusWatcher({ client: attestd, clock: { now: Date.now }, logger });
 * hostStatus.check(claims.sub, claims.iat);
 * hostStatus.health(); // { attestdEvents: "connected", since }
 * ```
 */
export function createHostStatusWatcher(options: HostStatusWatcherOptions): HostStatusWatcherWithBook {
  const book = new HostStatusBook();
  let state: "connected" | "disconnected" = "disconnected";
  let since = options.clock.now();
  const stop = options.client.watch({
    connected(snapshot) {
      book.applySnapshot(snapshot);
      if (state !== "connected") {
        state = "connected";
        since = options.clock.now();
        options.logger?.info({ hosts: snapshot.hosts.length }, "following attestd's host status events");
      }
    },
    event(e) {
      book.applyEvent(e);
      if (e.status !== "green") options.logger?.info({ host: e.host, status: e.status, message: e.message }, "attestd reports a host not green: its earlier tokens are refused");
    },
    disconnected(reason) {
      if (state !== "disconnected") {
        state = "disconnected";
        since = options.clock.now();
        options.logger?.warn({ err: reason }, "attestd's host status events are not followed: tokens are bounded by their expiry only");
      }
    },
  });
  return {
    book,
    check: (host, iat) => book.check(host, iat),
    health: () => ({ attestdEvents: state, since }),
    close: stop,
  };
}
