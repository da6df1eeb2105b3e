/**
 * attestd's admin API (PLAN.md "attestd admin API"; `tactl ta` is its client): sign-in, TPM trust, images,
 * host status and its event stream, settings, the audit trail, the cluster identity, signing-key rotation
 * and the OpenAPI document.
 *
 * Reads need `TrustedAdmins` or `TrustedReaders`; changes need `TrustedAdmins` and are audited. The guards
 * sit on each route (not on a wildcard) so that mounting this sub-app beside the host-protocol routes
 * never puts them behind admin authentication.
 * @module
 */
import type { ServiceEnv } from "@tessera/http";
import { Hono } from "hono";
import type { AttestdDeps } from "../deps.ts";
import { attestdOpenApi, type DocumentedRoute } from "../openapi.ts";
import { adminContext, type AdminOptions } from "./admin_context.ts";
import { hostRoutes } from "./admin_hosts.ts";
import { imageRoutes } from "./admin_images.ts";
import { serviceRoutes } from "./admin_service.ts";
import { trustRoutes } from "./admin_trust.ts";

export type { AdminOptions } from "./admin_context.ts";

/** Options of {@link adminRoutes}: {@link AdminOptions}, plus routes the OpenAPI document should describe too. */
export interface AdminRoutesOptions extends AdminOptions {
  /** More routes for `/api/v1/openapi.json` (default: the host protocol as PROTOCOL.md describes it). */
  readonly documentedRoutes?: readonly DocumentedRoute[];
  /** The service version in the OpenAPI document. */
  readonly version?: string;
}

/**
 * The admin API as a Hono sub-app to mount at `/` of attestd's service (`app.route("/", adminRoutes(deps, options))`).
 *
 * @example
 * ```ts
 * const app = createService({ name: "attestd", logger });
 * app.route("/", hostProtocolRoutes(deps));
 * app.route("/", adminRoutes(deps, { tlsCaPem, cluster: "ta-1" }));
 * ```
 */
export function adminRoutes(deps: AttestdDeps, options: AdminRoutesOptions): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  const ctx = adminContext(deps, options);
  serviceRoutes(app, ctx);
  trustRoutes(app, ctx);
  imageRoutes(app, ctx);
  hostRoutes(app, ctx);
  // Public: the document describes the API, not its data (clients generate code from it before signing in).
  const document = attestdOpenApi({
    version: options.version ?? "0.1.0",
    ...(options.documentedRoutes === undefined ? {} : { hostRoutes: options.documentedRoutes }),
  });
  app.get("/api/v1/openapi.json", (c) => c.json(document));
  return app;
}
