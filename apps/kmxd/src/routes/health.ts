/**
 * `GET /api/v1/health`, unauthenticated: `ok` while kmxd follows attestd's host status events, `degraded` while
 * it cannot (tokens are then bounded by their expiry only: a host attestd turns red keeps its token's lifetime).
 * @module
 */
import type { ServiceEnv } from "@tessera/http";
import { Hono } from "hono";
import type { KmxdDeps } from "../deps.ts";

/** The health document. */
export interface Health {
  readonly status: "ok" | "degraded";
  readonly attestdEvents: "connected" | "disconnected";
  /** Since when the event stream has been in that state (RFC 3339). */
  readonly since: string;
}

/** The health of `deps` now. */
export function healthOf(deps: Pick<KmxdDeps, "hostStatus">): Health {
  const h = deps.hostStatus.health();
  return { status: h.attestdEvents === "connected" ? "ok" : "degraded", attestdEvents: h.attestdEvents, since: new Date(h.since).toISOString() };
}

/**
 * The health route, to be mounted on kmxd's service. Always 200 (kmxd serves in both states); monitors read
 * `status`.
 */
export function healthRoutes(deps: KmxdDeps): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  app.get("/api/v1/health", (c) => {
    c.header("cache-control", "no-store");
    return c.json(healthOf(deps));
  });
  return app;
}
