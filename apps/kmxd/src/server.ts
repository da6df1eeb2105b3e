/**
 * One running kmxd node: bootstrap, attestd's client (JWKS and event stream), the host status watcher, the
 * provider registry, the app and HTTPS. main.ts runs it for the process; tests start nodes as processes.
 * @module
 */
import { serveHttpsFirst } from "@tessera/http";
import type { Logger } from "pino";
import { createApp } from "./app.ts";
import { createAttestdClient } from "./attestd_client.ts";
import { createAuditor } from "./audit.ts";
import { bootstrap } from "./bootstrap.ts";
import { withBoundPort, type KmxdConfig } from "./config.ts";
import type { KmxdDeps } from "./deps.ts";
import { createHostStatusWatcher } from "./host_status.ts";
import { createProviderRegistry } from "./providers.ts";

/** A running node. */
export interface RunningKmxd {
  /** `https://host:port`. */
  readonly url: string;
  readonly port: number;
  readonly deps: KmxdDeps;
  /** The TLS CA certificate (PEM) clients trust, and its file. */
  readonly caCert: string;
  readonly caCertFile: string;
  /** Stops serving, the event stream and the KMIP clients, and closes the store. */
  close(): Promise<void>;
}

/** Options of {@link startKmxd}. */
export interface StartOptions {
  readonly logger: Logger;
  /** Default Date.now. */
  readonly clock?: { now(): number };
}

/** Starts a node on `configured`. */
export async function startKmxd(configured: KmxdConfig, options: StartOptions): Promise<RunningKmxd> {
  const { logger } = options;
  const clock = options.clock ?? { now: () => Date.now() };
  const b = await bootstrap(configured, logger);
  // Bound before the app is built: with port 0 the public URL must name the real port.
  let https;
  try {
    https = await serveHttpsFirst({ host: configured.listen.host, port: configured.listen.port, cert: b.tls.cert, key: b.tls.key });
  } catch (e) {
    await b.store.close();
    throw e;
  }
  const config = withBoundPort(configured, https.port);
  const attestd = createAttestdClient({
    url: config.attestd.url,
    ca: config.attestd.ca,
    ...(config.attestd.user !== undefined && config.attestd.password !== undefined ? { account: { user: config.attestd.user, password: config.attestd.password } } : {}),
    logger: logger.child({ component: "attestd-client" }),
    clock,
  });
  const hostStatus = createHostStatusWatcher({ client: attestd, clock, logger: logger.child({ component: "host-status" }) });
  const providers = createProviderRegistry({
    store: b.store,
    keyring: b.keyring,
    logger: logger.child({ component: "providers" }),
    poolSize: config.kmipPoolSize,
  });
  const deps: KmxdDeps = {
    store: b.store,
    keyring: b.keyring,
    logger,
    clock,
    config,
    providers,
    attestdJwks: attestd,
    hostStatus,
    audit: createAuditor({ store: b.store, clock, logger }),
  };
  const app = createApp(deps);
  https.route((request, env) => app.fetch(request, env));
  logger.info({ url: https.url, publicUrl: config.publicUrl, dataDir: config.dataDir, attestd: config.attestd.url }, "kmxd listening");
  let closed: Promise<void> | undefined;
  const server = https;
  return {
    url: https.url,
    port: https.port,
    deps,
    caCert: b.tls.caCert,
    caCertFile: b.tls.caCertFile,
    close() {
      closed ??= (async () => {
        hostStatus.close();
        attestd.close();
        await server.close();
        providers.close();
        await b.store.close();
      })();
      return closed;
    },
  };
}
