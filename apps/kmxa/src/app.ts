/**
 * kmxa's local API: one app per channel. The Unix socket (0600: only the agent's user, and root, may connect)
 * serves everything; the TCP port (127.0.0.1:7890, TLS) serves the agent's status, attestation and identity, and
 * answers every key route 403 `socket-only` before reading its body — a key is handed over only where the file
 * system decides who may ask.
 * @module
 */
import { createService, problemResponse, type ServiceEnv } from "@tessera/http";
import type { Hono } from "hono";
import type { Logger } from "pino";
import type { Agent, AgentSettings } from "./agent_types.ts";
import type { KeyService } from "./keys.ts";
import { configRoutes, DEFAULT_PROVIDER_OPERATIONS } from "./routes/config_routes.ts";
import { keyRoutes } from "./routes/keys.ts";
import { statusRoutes } from "./routes/status.ts";

/** The request body limit: key requests are small (a 32 KiB plaintext in base64 the largest). */
export const BODY_LIMIT = 64 * 1024;

/** Where a request came in. */
export type Channel = "socket" | "tcp";

/** What the local API is built from. */
export interface KmxaDeps {
  readonly agent: Pick<Agent, "status" | "attestNow" | "identity">;
  readonly keys: KeyService;
  readonly logger: Logger;
  /** The Trust Authority and default key provider settings (routes/config_routes.ts); absent: those routes are not served. */
  readonly settings?: AgentSettings;
}

/** The paths of the key routes (under the provider). */
const KEY_PATH = "/api/v1/providers/*";

/**
 * Builds the app of one channel over `deps`.
 * @example
 * ```ts
 * const socketApp = createApp(deps, "socket");
 * const tcpApp = createApp(deps, "tcp");
 * ```
 */
export function createApp(deps: KmxaDeps, channel: Channel): Hono<ServiceEnv> {
  const app = createService({ name: "kmxa", logger: deps.logger.child({ channel }), bodyLimit: BODY_LIMIT });
  app.route("/", statusRoutes(deps.agent));
  const settings = deps.settings;
  if (settings !== undefined) app.route("/", configRoutes(settings, channel));
  if (channel === "socket") {
    app.route("/", keyRoutes(deps.keys));
    if (settings !== undefined) {
      // The key routes without a provider: the default one's (PUT /api/v1/key-provider), served by the same routes.
      for (const op of DEFAULT_PROVIDER_OPERATIONS) {
        app.post(`/api/v1/${op}`, (c) => {
          const provider = settings.keyProvider();
          if (provider === undefined) {
            return problemResponse({
              code: "key-provider-unset",
              status: 409,
              detail: `no default key provider: set one (PUT /api/v1/key-provider, tactl cluster set-key-provider) or use /api/v1/providers/{p}/${op}`,
            });
          }
          const url = new URL(c.req.url);
          url.pathname = `/api/v1/providers/${encodeURIComponent(provider)}/${op}`;
          return app.fetch(new Request(url, c.req.raw), c.env);
        });
      }
    }
  } else {
    for (const op of DEFAULT_PROVIDER_OPERATIONS) {
      app.all(`/api/v1/${op}`, () =>
        problemResponse({ code: "socket-only", status: 403, detail: "keys are handed over only on kmxa's Unix socket, not on its TCP port" }),
      );
    }
    app.all(KEY_PATH, () =>
      problemResponse({
        code: "socket-only",
        status: 403,
        detail: "keys are handed over only on kmxa's Unix socket, not on its TCP port",
      }),
    );
  }
  return app;
}
