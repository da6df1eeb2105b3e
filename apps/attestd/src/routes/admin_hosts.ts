/**
 * Host status (`/api/v1/hosts`), removal, and the status event stream (`GET /api/v1/events`, server-sent
 * events) that kmxd and the console subscribe to.
 * @module
 */
import { ProblemError, sseStream, type ServiceEnv } from "@tessera/http";
import type { Hono } from "hono";
import type { StatusEvent } from "../deps.ts";
import type { AttestationRecord, HostStatus } from "../store/store.ts";
import { compact, iso, isoOpt, notFound, principalOf, type AdminContext } from "./admin_context.ts";
import { HostName } from "./admin_schemas.ts";

/** Default keep-alive interval of the event stream: proxies drop idle connections after 30–60 s. */
export const SSE_KEEP_ALIVE_MS = 15_000;
/** Events queued for one slow subscriber before its stream is closed (it reconnects and re-reads the hosts). */
const SSE_MAX_QUEUE = 1000;

function hostName(raw: string): string {
  const r = HostName.safeParse(raw);
  if (!r.success) throw new ProblemError("bad-request", 400, "a host name is 1-253 characters of a-z 0-9 . -");
  return r.data;
}

function summaryView(s: HostStatus): Record<string, unknown> {
  return compact({
    host: s.host,
    status: s.status,
    message: s.message,
    lastAttempt: isoOpt(s.lastAttempt?.at),
    tokenExpiresAt: isoOpt(s.lastAttempt?.tokenExpiresAt),
    image: s.lastAttempt?.image,
  });
}

function attemptView(a: AttestationRecord): Record<string, unknown> {
  return compact({
    id: a.id,
    at: iso(a.at),
    status: a.status,
    failures: a.failures,
    image: a.image,
    secureBoot: a.secureBoot,
    tokenExpiresAt: isoOpt(a.tokenExpiresAt),
    foreign: a.foreign,
  });
}

/** A status event as the stream sends it. */
export function statusEventView(e: StatusEvent): Record<string, unknown> {
  return { host: e.host, status: e.status, previous: e.previous, at: iso(e.at), message: e.message };
}

/** Registers the host and event routes on `app`. */
export function hostRoutes(app: Hono<ServiceEnv>, ctx: AdminContext): void {
  const { deps } = ctx;
  const keepAliveMs = ctx.options.keepAliveMs ?? SSE_KEEP_ALIVE_MS;
  const historyLimit = ctx.options.historyLimit ?? 50;

  app.get("/api/v1/hosts", ctx.read, async (c) => {
    const statuses = await deps.store.listHostStatus(deps.clock.now());
    const summary = { green: 0, red: 0, stale: 0, unknown: 0, total: statuses.length };
    for (const s of statuses) summary[s.status] += 1;
    return c.json({ hosts: statuses.map(summaryView), summary });
  });

  app.get("/api/v1/hosts/:host", ctx.read, async (c) => {
    const host = hostName(c.req.param("host"));
    const now = deps.clock.now();
    const [status, record, history] = await Promise.all([
      deps.store.getHostStatus(host, now),
      deps.store.getHost(host),
      deps.store.listAttestations(host, historyLimit),
    ]);
    if (status === undefined && record === undefined) throw notFound(`no host ${host}`);
    return c.json(
      compact({
        host,
        status: status?.status ?? "unknown",
        message: status?.message ?? "enrolled, not attested yet",
        enrollment: record === undefined ? undefined : { akName: record.akName, ekFingerprint: record.ekFingerprint, enrolledAt: iso(record.enrolledAt) },
        history: history.map(attemptView),
      }),
    );
  });

  app.delete("/api/v1/hosts/:host", ctx.write, async (c) => {
    const host = hostName(c.req.param("host"));
    const now = deps.clock.now();
    const before = await deps.store.getHostStatus(host, now);
    if (!(await deps.store.removeHost(host))) throw notFound(`no host ${host}`);
    await ctx.audit.record(principalOf(c), "host.remove", host);
    // Subscribers (kmxd) must stop serving the host at once, whatever its status was.
    deps.events.publish({ host, status: "unknown", previous: before?.status ?? "unknown", at: now, message: "host removed" });
    return c.json({ removed: host });
  });

  app.get("/api/v1/events", ctx.read, (c) =>
    sseStream(
      c,
      async (stream) => {
        const queue: StatusEvent[] = [];
        let wake: (() => void) | undefined;
        let closed = false;
        const close = (): void => {
          closed = true;
          wake?.();
        };
        const unsubscribe = deps.events.subscribe((e) => {
          if (queue.length >= SSE_MAX_QUEUE) {
            close();
            return;
          }
          queue.push(e);
          wake?.();
        });
        stream.onAbort(close);
        let id = 0;
        try {
          // Tells the client its subscription is in place (events published from now on reach it).
          await stream.writeSSE({ event: "ready", data: JSON.stringify({ at: iso(deps.clock.now()) }) });
          while (!closed && !stream.aborted) {
            const e = queue.shift();
            if (e === undefined) {
              await new Promise<void>((resolve) => (wake = resolve));
              wake = undefined;
              continue;
            }
            id += 1;
            await stream.writeSSE({ event: "status", id: String(id), data: JSON.stringify(statusEventView(e)) });
          }
        } finally {
          unsubscribe();
        }
      },
      { keepAliveMs },
    ),
  );
}
