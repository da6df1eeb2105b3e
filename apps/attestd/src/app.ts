/**
 * attestd's HTTP application: the host protocol (PROTOCOL.md §1–3), the JWKS, and the admin API, on the
 * shared service plumbing of @tessera/http (request ids, problem documents, the 1 MiB body limit).
 * @module
 */
import { createService, type ServiceEnv } from "@tessera/http";
import type { Hono } from "hono";
import type { AttestdDeps } from "./deps.ts";
import { adminRoutes, type AdminRoutesOptions } from "./routes/admin.ts";
import { attestationRoutes } from "./routes/attestation.ts";
import { enrollmentRoutes } from "./routes/enrollment.ts";
import { jwksRoutes } from "./routes/jwks.ts";

/** The request body limit of PROTOCOL.md (an event log included). */
export const BODY_LIMIT = 1024 * 1024;

/** Builds the Hono app over `deps`; `admin` configures the admin API (its TLS CA for the identity export, OIDC). */
export function createApp(deps: AttestdDeps, admin: AdminRoutesOptions): Hono<ServiceEnv> {
  const app = createService({ name: "attestd", logger: deps.logger, bodyLimit: BODY_LIMIT });
  enrollmentRoutes(app, deps);
  attestationRoutes(app, deps);
  jwksRoutes(app, deps);
  app.route("/", adminRoutes(deps, admin));
  return app;
}
