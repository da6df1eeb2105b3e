/**
 * `GET /.well-known/jwks.json`: the token signing keys relying parties verify with (the active key and every
 * retired key whose last token has not expired).
 * @module
 */
import type { ServiceEnv } from "@tessera/http";
import type { Hono } from "hono";
import type { AttestdDeps } from "../deps.ts";

/** Mounts the JWKS. */
export function jwksRoutes(app: Hono<ServiceEnv>, deps: AttestdDeps): void {
  app.get("/.well-known/jwks.json", async (c) => {
    const jwks = await deps.signing.jwks();
    // Short caching: a rotation's new key must reach relying parties soon (jose refetches on an unknown kid anyway).
    c.header("cache-control", "public, max-age=60");
    return c.json(jwks, 200);
  });
}
