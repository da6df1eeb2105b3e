/**
 * kmxd's admin API (PLAN.md; `tactl kp` is its client): trust set-ups, providers (create, show, remove, rotate,
 * rewrap), grants, trusted clusters, the audit trail and the OpenAPI document. Reads need TrustedAdmins or
 * TrustedReaders, changes TrustedAdmins; every change is audited. The guards sit on each route (not on a
 * wildcard), so mounting this sub-app beside the host routes never puts those behind admin authentication.
 * @module
 */
import type { ServiceEnv } from "@tessera/http";
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { KmxdDeps } from "../deps.ts";
import { kmxdOpenApi } from "../openapi.ts";
import { adminGuards } from "./admin_auth.ts";
import { problem } from "./admin_problems.ts";
import { providerRoutes } from "./admin_providers.ts";
import { clusterRoutes } from "./admin_clusters.ts";
import { AuditQuerySchema } from "./admin_schemas.ts";

/** Options of {@link adminRoutes}. */
export interface AdminRoutesOptions {
  /** The service version in the OpenAPI document (default 0.1.0). */
  readonly version?: string;
}

/** Epoch milliseconds as RFC 3339. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The query string validated by `schema` (400 `bad-request` naming the parameter). */
export function readQuery<S extends z.ZodType>(c: Context<ServiceEnv>, schema: S): z.output<S> {
  const r = schema.safeParse(c.req.query());
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.join(".") || "(query)";
    throw problem("bad-request", `bad query parameter ${where}: ${issue?.message ?? "invalid"}`, { field: where }, r.error);
  }
  return r.data;
}

/**
 * The admin API as a Hono sub-app to mount at `/` of kmxd's service.
 * @example
 * ```ts
 * const app = createService({ name: "kmxd", logger });
 * app.route("/", adminRoutes(deps));
 * ```
 */
export function adminRoutes(deps: KmxdDeps, options: AdminRoutesOptions = {}): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  const guards = adminGuards(deps);
  providerRoutes(app, deps, guards);
  clusterRoutes(app, deps, guards);

  app.get("/api/v1/audit", guards.read, async (c) => {
    const q = readQuery(c, AuditQuerySchema);
    const rows = await deps.store.listAudit(q);
    return c.json({ entries: rows.map((r) => ({ ...r, at: iso(r.at) })) });
  });

  app.get("/api/v1/whoami", guards.read, (c) => {
    const p = c.get("principal");
    return c.json({ subject: p.subject, groups: p.groups, issuer: p.issuer });
  });

  // Public: the document describes the API, not its data.
  const document = kmxdOpenApi({ version: options.version ?? "0.1.0" });
  app.get("/api/v1/openapi.json", (c) => c.json(document));
  return app;
}
