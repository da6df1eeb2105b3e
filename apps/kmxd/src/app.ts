/**
 * kmxd's HTTP application: the host API (PROTOCOL.md's kmxd section), the health route and the admin API, on the
 * shared service plumbing of @tessera/http (request ids, problem documents, a body limit).
 * @module
 */
import { createService, type ServiceEnv } from "@tessera/http";
import type { Hono } from "hono";
import type { KmxdDeps } from "./deps.ts";
import { adminRoutes, type AdminRoutesOptions } from "./routes/admin.ts";
import { healthRoutes } from "./routes/health.ts";
import { hostRoutes } from "./routes/host.ts";
import { vtpmRoutes } from "./routes/vtpm.ts";

/** The request body limit: wrapped keys and plaintexts are small; certificates and rules the largest bodies. */
export const BODY_LIMIT = 256 * 1024;

/** Builds the Hono app over `deps`. */
export function createApp(deps: KmxdDeps, options: AdminRoutesOptions = {}): Hono<ServiceEnv> {
  const app = createService({ name: "kmxd", logger: deps.logger, bodyLimit: BODY_LIMIT });
  app.route("/", healthRoutes(deps));
  app.route("/", hostRoutes(deps));
  app.route("/", vtpmRoutes(deps));
  app.route("/", adminRoutes(deps, options));
  return app;
}
