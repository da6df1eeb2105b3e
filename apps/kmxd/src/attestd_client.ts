/**
 * kmxd → attestd, over HTTPS trusting attestd's CA (`--attestd-ca`): the token signing keys (JWKS, cached,
 * refetched on demand at most once per interval), the admin sign-in (`POST /api/v1/auth/token`, signed in
 * again before the admin token runs out) and the host status event stream (`GET /api/v1/events`, server-sent
 * events) with a resync from `GET /api/v1/hosts` on every (re)connect and reconnection with backoff.
 *
 * Node's global fetch cannot take a CA, so requests go through node:https (as libs/http's oidc.ts does
 * privately; a shared export there would remove this copy).
 * @module
 */
import { request } from "node:https";
import type { IncomingMessage } from "node:http";
import { HttpsJsonError, httpsJson, type HttpsJsonResponse } from "@tessera/http";
import type { Jwks } from "@tessera/tokens";
import type { Logger } from "pino";
import type { AttestdClient as DepsAttestdClient } from "./deps.ts";

/** Largest answer read from attestd (a JWKS or a host list); the event stream is bounded per event. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Largest single server-sent event. */
const MAX_EVENT_BYTES = 1024 * 1024;

/** The codes of {@link AttestdError}. */
export type AttestdErrorCode = "ATTESTD_UNREACHABLE" | "ATTESTD_REFUSED" | "ATTESTD_MALFORMED";

/**
 * attestd could not be reached (`ATTESTD_UNREACHABLE`: connection, TLS, timeout), answered with an unexpected
 * status (`ATTESTD_REFUSED`, `status` set), or answered something that is not what it documents
 * (`ATTESTD_MALFORMED`). The message names the request.
 */
export class AttestdError extends Error {
  override name = "AttestdError";
  readonly code: AttestdErrorCode;
  /** The HTTP status of a refusal. */
  readonly status?: number;
  constructor(code: AttestdErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.status !== undefined) this.status = options.status;
  }
}

/** A host status as attestd reports it. */
export type AttestdHostStatus = "green" | "red" | "stale" | "unknown";

/** One `status` event of attestd's stream (`at` in epoch ms, attestd's clock). */
export interface AttestdStatusEvent {
  readonly host: string;
  readonly status: AttestdHostStatus;
  readonly previous?: AttestdHostStatus;
  readonly at: number;
  readonly message?: string;
}

/** One host of `GET /api/v1/hosts`: its status and since when (epoch ms) where attestd says it. */
export interface AttestdHostRow {
  readonly host: string;
  readonly status: AttestdHostStatus;
  /** When the status began: the last attempt (green, red), the token's expiry (stale); absent when unknown. */
  readonly at?: number;
  readonly message?: string;
}

/** Every host's status, read right after the event subscription was in place. */
export interface AttestdSnapshot {
  /** attestd's clock when the subscription was in place (its `ready` event). */
  readonly at: number;
  readonly hosts: readonly AttestdHostRow[];
}

/** What {@link AttestdClient.watch} tells its subscriber. */
export interface AttestdEventSubscriber {
  /** The stream is (re)connected and `snapshot` is the state of every host; events follow in order. */
  connected(snapshot: AttestdSnapshot): void;
  /** A status change, in the stream's order. */
  event(e: AttestdStatusEvent): void;
  /** The stream is down (or cannot start); the client reconnects by itself. */
  disconnected(reason: Error): void;
}

/** Options of {@link createAttestdClient}. */
export interface AttestdClientOptions {
  /** attestd's base URL (`https://host:port`). */
  readonly url: string;
  /** PEM CA certificate(s) that issued attestd's TLS certificate. */
  readonly ca: string | readonly string[];
  /** The account kmxd signs in with to read the event stream (TrustedAdmins or TrustedReaders); without it there is no stream. */
  readonly account?: { readonly user: string; readonly password: string };
  readonly logger?: Logger;
  /** Epoch ms (default Date.now). */
  readonly clock?: { now(): number };
  /** Least time between two JWKS fetches asked for by {@link AttestdClient.refresh} (default 5000 ms): unknown kids cannot make kmxd hammer attestd. */
  readonly jwksMinRefreshMs?: number;
  /** Age after which {@link AttestdClient.get} fetches the JWKS again, to follow rotation and retirement (default 300 000 ms). */
  readonly jwksMaxAgeMs?: number;
  /** First and largest pause between reconnections of the event stream (defaults 250 ms and 30 000 ms; doubled each failure, with jitter). */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Silence on the stream after which it is dropped and reopened (default 45 000 ms; attestd sends a keep-alive every 15 s). */
  readonly idleTimeoutMs?: number;
  /** Timeout of each plain request (default 10 000 ms). */
  readonly requestTimeoutMs?: number;
}

/** kmxd's connection to attestd: the JWKS source of {@link DepsAttestdClient} plus the event stream. */
export interface AttestdClient extends DepsAttestdClient {
  /**
   * Starts following attestd's event stream for `subscriber` (one subscriber per client). Without an account the
   * subscriber is told `disconnected` once and nothing else happens. Returns the function that stops it.
   */
  watch(subscriber: AttestdEventSubscriber): () => void;
  /** An admin token of the configured account (signed in again when it has less than a minute left). */
  adminToken(): Promise<string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const STATUSES: readonly string[] = ["green", "red", "stale", "unknown"];

function parseStatus(v: unknown, where: string): AttestdHostStatus {
  if (typeof v !== "string" || !STATUSES.includes(v)) throw new AttestdError("ATTESTD_MALFORMED", `${where}: status ${JSON.stringify(v)} is not green, red, stale or unknown`);
  return v as AttestdHostStatus;
}

function parseTime(v: unknown, where: string): number {
  const t = typeof v === "string" ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new AttestdError("ATTESTD_MALFORMED", `${where} is not an RFC 3339 time: ${JSON.stringify(v)}`);
  return t;
}

/** A `status` event's data (attestd's statusEventView). */
export function parseStatusEvent(data: string): AttestdStatusEvent {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch (e) {
    throw new AttestdError("ATTESTD_MALFORMED", `a status event is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(v) || typeof v.host !== "string" || v.host === "") throw new AttestdError("ATTESTD_MALFORMED", "a status event has no host");
  return {
    host: v.host,
    status: parseStatus(v.status, `status event of ${v.host}`),
    ...(v.previous !== undefined ? { previous: parseStatus(v.previous, `status event of ${v.host} (previous)`) } : {}),
    at: parseTime(v.at, `status event of ${v.host}: at`),
    ...(typeof v.message === "string" ? { message: v.message } : {}),
  };
}

/** `GET /api/v1/hosts`'s answer as rows; `at` is when each status began where attestd says it. */
export function parseHostList(body: unknown): AttestdHostRow[] {
  if (!isObject(body) || !Array.isArray(body.hosts)) throw new AttestdError("ATTESTD_MALFORMED", "GET /api/v1/hosts: no hosts array");
  return body.hosts.map((h: unknown, i) => {
    if (!isObject(h) || typeof h.host !== "string") throw new AttestdError("ATTESTD_MALFORMED", `GET /api/v1/hosts: hosts[${i}] has no host`);
    const status = parseStatus(h.status, `GET /api/v1/hosts: hosts[${i}]`);
    // A stale host turned stale when its token expired; the others changed at their last attempt.
    const when = status === "stale" ? (h.tokenExpiresAt ?? h.lastAttempt) : h.lastAttempt;
    return {
      host: h.host,
      status,
      ...(when !== undefined ? { at: parseTime(when, `GET /api/v1/hosts: hosts[${i}].${status === "stale" ? "tokenExpiresAt" : "lastAttempt"}`) } : {}),
      ...(typeof h.message === "string" ? { message: h.message } : {}),
    };
  });
}

/**
 * A server-sent events parser (the WHATWG event-stream rules: `event`, `data` (joined by newlines), `id`,
 * comments, a blank line dispatches). Feed it decoded text in any chunking.
 */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private size = 0;
  private skipLf = false;
  private readonly dispatch: (type: string, data: string) => void;
  /** @param dispatch called with each complete event's type (default `message`) and data. */
  constructor(dispatch: (type: string, data: string) => void) {
    this.dispatch = dispatch;
  }

  /** Consumes a chunk. @throws AttestdError ATTESTD_MALFORMED when one event exceeds 1 MiB. */
  push(chunk: string): void {
    // A \r that ended the previous chunk may have been the first half of \r\n: its \n ends no other line.
    if (this.skipLf && chunk.length > 0) {
      if (chunk.startsWith("\n")) chunk = chunk.slice(1);
      this.skipLf = false;
    }
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.buffer);
      if (m === null) break;
      // A \r at the very end ends its line now (the event must not wait for the next chunk, seconds away).
      if (m[0] === "\r" && m.index === this.buffer.length - 1) this.skipLf = true;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
    if (this.buffer.length + this.size > MAX_EVENT_BYTES) throw new AttestdError("ATTESTD_MALFORMED", `an event of the stream exceeds ${MAX_EVENT_BYTES} bytes`);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) this.dispatch(this.event || "message", this.data.join("\n"));
      this.event = "";
      this.data = [];
      this.size = 0;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    this.size += value.length;
    if (this.size > MAX_EVENT_BYTES) throw new AttestdError("ATTESTD_MALFORMED", `an event of the stream exceeds ${MAX_EVENT_BYTES} bytes`);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}

/**
 * The client. Nothing is fetched until first used; {@link AttestdClient.watch} starts the event stream.
 *
 * @example
 * ```ts
 * const attestd = createAttestdClient({ url: "https://ta.example:7889", ca: caPem, account: { user: "kmxd", password } });
 * const jwks = await attestd.get();
 * const stop = attestd.watch({ connected: (s) => …, event: (e) => …, disconnected: (err) => … });
 * ```
 */
export function createAttestdClient(options: AttestdClientOptions): AttestdClient {
  const base = options.url.replace(/\/+$/, "");
  const clock = options.clock ?? { now: () => Date.now() };
  const log = options.logger;
  const minRefreshMs = options.jwksMinRefreshMs ?? 5000;
  const maxAgeMs = options.jwksMaxAgeMs ?? 300_000;
  const initialBackoff = options.reconnect?.initialMs ?? 250;
  const maxBackoff = options.reconnect?.maxMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;

  let closed = false;
  const stops = new Set<() => void>();

  async function call(method: string, path: string, headers?: Record<string, string>, body?: unknown): Promise<unknown> {
    const where = `${method} ${base}${path}`;
    let answer: HttpsJsonResponse;
    try {
      answer = await httpsJson(method, base + path, body, { ca: options.ca, ...(headers ? { headers } : {}), timeoutMs, maxResponseBytes: MAX_BODY_BYTES });
    } catch (e) {
      if (e instanceof HttpsJsonError && e.code === "HTTP_RESPONSE_INVALID") {
        // A refusal in another format (a proxy's HTML page) is still a refusal; a success that is not JSON is malformed.
        if (e.status !== undefined && e.status !== 200 && e.status !== 201) throw new AttestdError("ATTESTD_REFUSED", `${where} answered ${e.status}`, { status: e.status, cause: e });
        throw new AttestdError("ATTESTD_MALFORMED", `${where} did not answer JSON`, { cause: e });
      }
      throw new AttestdError("ATTESTD_UNREACHABLE", `${where}: ${(e as Error).message}`, { cause: e });
    }
    if (answer.status !== 200 && answer.status !== 201) {
      throw new AttestdError("ATTESTD_REFUSED", `${where} answered ${answer.status}: ${JSON.stringify(answer.body ?? null).slice(0, 300)}`, { status: answer.status });
    }
    return answer.body;
  }

  // ---- JWKS ----
  let jwks: { value: Jwks; at: number } | undefined;
  let inflight: Promise<Jwks> | undefined;
  /** When the last fetch started (monotonic ms), and how it failed: fetches, failed ones too, are rate-limited. */
  let lastAttempt = -Infinity;
  /** When refresh() last fetched: only refreshes are spaced, so the fetch of the first token never delays a rotation's new kid. */
  let lastRefresh = -Infinity;
  let lastError: unknown;

  function fetchJwks(): Promise<Jwks> {
    if (inflight !== undefined) return inflight;
    // A flood of tokens while attestd is away must not become a flood of connection attempts.
    if (lastError !== undefined && performance.now() - lastAttempt < minRefreshMs) return Promise.reject(lastError as Error);
    lastAttempt = performance.now();
    inflight = (async () => {
      try {
        const body = await call("GET", "/.well-known/jwks.json");
        if (!isObject(body) || !Array.isArray(body.keys) || !body.keys.every(isObject)) throw new AttestdError("ATTESTD_MALFORMED", `GET ${base}/.well-known/jwks.json is not a JWKS`);
        const value: Jwks = { keys: body.keys as Record<string, unknown>[] };
        jwks = { value, at: performance.now() };
        lastError = undefined;
        return value;
      } catch (e) {
        lastError = e;
        throw e;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  // ---- admin sign-in ----
  let admin: { token: string; expiresAt: number } | undefined;
  let signingIn: Promise<string> | undefined;

  async function signIn(): Promise<string> {
    const account = options.account;
    if (account === undefined) throw new AttestdError("ATTESTD_REFUSED", "no attestd account is configured (--attestd-user, --attestd-password-file)");
    const body = await call("POST", "/api/v1/auth/token", undefined, { user: account.user, password: account.password });
    if (!isObject(body) || typeof body.token !== "string") throw new AttestdError("ATTESTD_MALFORMED", `POST ${base}/api/v1/auth/token answered no token`);
    admin = { token: body.token, expiresAt: parseTime(body.expiresAt, "the sign-in's expiresAt") };
    log?.info({ user: account.user, expiresAt: new Date(admin.expiresAt).toISOString() }, "signed in to attestd");
    return body.token;
  }

  function adminToken(): Promise<string> {
    // Signed in again a minute before the token runs out, so a reconnection never presents an expired one.
    if (admin !== undefined && admin.expiresAt - clock.now() > 60_000) return Promise.resolve(admin.token);
    signingIn ??= signIn().finally(() => (signingIn = undefined));
    return signingIn;
  }

  // ---- event stream ----
  function openStream(token: string, onResponse: (res: IncomingMessage) => void, onError: (e: Error) => void): () => void {
    const req = request(new URL(`${base}/api/v1/events`), {
      method: "GET",
      ca: typeof options.ca === "string" ? options.ca : [...options.ca],
      headers: { accept: "text/event-stream", authorization: `Bearer ${token}` },
    }, onResponse);
    req.on("error", onError);
    req.end();
    return () => req.destroy();
  }

  /** One connection of the stream: resolves when it ends (never rejects; the reason is returned). */
  function streamOnce(subscriber: AttestdEventSubscriber, token: string, onConnected: () => void): { done: Promise<Error>; stop: () => void } {
    let finish!: (e: Error) => void;
    const done = new Promise<Error>((resolve) => (finish = resolve));
    let ended = false;
    let idle: NodeJS.Timeout | undefined;
    let destroy = (): void => {};
    const end = (e: Error): void => {
      if (ended) return;
      ended = true;
      clearTimeout(idle);
      destroy();
      finish(e);
    };
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => end(new AttestdError("ATTESTD_UNREACHABLE", `the event stream was silent for ${idleTimeoutMs} ms`)), idleTimeoutMs);
      idle.unref();
    };
    // Events that arrive while the host list is read are replayed after it, in order.
    let buffered: AttestdStatusEvent[] | undefined = [];
    destroy = openStream(
      token,
      (res) => {
        if (res.statusCode !== 200) {
          if (res.statusCode === 401) admin = undefined;
          res.resume();
          end(new AttestdError("ATTESTD_REFUSED", `GET ${base}/api/v1/events answered ${res.statusCode}`, { status: res.statusCode ?? 0 }));
          return;
        }
        touch();
        res.setEncoding("utf8");
        const parser = new SseParser((type, data) => {
          try {
            if (type === "ready") {
              let at = clock.now();
              try {
                const r = JSON.parse(data) as { at?: unknown };
                at = parseTime(r.at, "the ready event's at");
              } catch {
                // attestd's own clock is preferred; kmxd's will do.
              }
              void call("GET", "/api/v1/hosts", { authorization: `Bearer ${token}` })
                .then((body) => {
                  if (ended) return;
                  subscriber.connected({ at, hosts: parseHostList(body) });
                  const replay = buffered ?? [];
                  buffered = undefined;
                  for (const e of replay) subscriber.event(e);
                  onConnected();
                })
                .catch((e: unknown) => end(e as Error));
            } else if (type === "status") {
              const e = parseStatusEvent(data);
              if (buffered !== undefined) buffered.push(e);
              else subscriber.event(e);
            }
          } catch (e) {
            end(e as Error);
          }
        });
        res.on("data", (chunk: string) => {
          touch();
          try {
            parser.push(chunk);
          } catch (e) {
            end(e as Error);
          }
        });
        res.on("end", () => end(new AttestdError("ATTESTD_UNREACHABLE", "attestd closed the event stream")));
        res.on("error", (e) => end(new AttestdError("ATTESTD_UNREACHABLE", `the event stream failed: ${e.message}`, { cause: e })));
      },
      (e) => end(new AttestdError("ATTESTD_UNREACHABLE", `GET ${base}/api/v1/events: ${e.message}`, { cause: e })),
    );
    return { done, stop: () => end(new Error("stopped")) };
  }

  function watch(subscriber: AttestdEventSubscriber): () => void {
    if (options.account === undefined) {
      subscriber.disconnected(new AttestdError("ATTESTD_REFUSED", "no attestd account is configured (--attestd-user, --attestd-password-file): host status events are not followed"));
      return () => {};
    }
    let stopped = false;
    let current: { stop: () => void } | undefined;
    let wake: (() => void) | undefined;
    const stop = (): void => {
      stopped = true;
      current?.stop();
      wake?.();
      stops.delete(stop);
    };
    stops.add(stop);
    void (async () => {
      let backoff = initialBackoff;
      while (!stopped && !closed) {
        let reason: Error;
        try {
          const token = await adminToken();
          if (stopped) break;
          const s = streamOnce(subscriber, token, () => {
            backoff = initialBackoff;
          });
          current = s;
          reason = await s.done;
          current = undefined;
        } catch (e) {
          reason = e as Error;
        }
        if (stopped || closed) break;
        log?.warn({ err: reason }, "attestd event stream down; reconnecting");
        subscriber.disconnected(reason);
        // Full jitter: nodes that lost attestd together do not come back together.
        const pause = Math.round(backoff / 2 + Math.random() * (backoff / 2));
        backoff = Math.min(backoff * 2, maxBackoff);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    })();
    return stop;
  }

  return {
    async get(): Promise<Jwks> {
      // Ages on the monotonic clock: a wall clock moved (or a test's) must not freeze or flush the cache.
      if (jwks !== undefined && performance.now() - jwks.at < maxAgeMs) return jwks.value;
      if (jwks === undefined) return fetchJwks();
      // Past its age: fetch again, but keep serving the old set if attestd cannot be reached.
      try {
        return await fetchJwks();
      } catch (e) {
        log?.warn({ err: e }, "attestd JWKS refresh failed; using the cached keys");
        return jwks.value;
      }
    },
    async refresh(): Promise<Jwks> {
      if (jwks !== undefined && performance.now() - lastRefresh < minRefreshMs) return inflight ?? jwks.value;
      lastRefresh = performance.now();
      return fetchJwks();
    },
    watch,
    adminToken,
    close(): void {
      closed = true;
      for (const stop of [...stops]) stop();
    },
  };
}
