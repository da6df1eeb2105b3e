/**
 * One running attestd node: bootstrap, the app, HTTPS, the cluster status watcher and the purge of expired
 * challenges. main.ts runs it for the process; tests start and stop nodes in-process with it.
 * @module
 */
import { serveHttpsFirst } from "@tessera/http";
import type { Logger } from "pino";
import { createApp } from "./app.ts";
import { bootstrap } from "./bootstrap.ts";
import { clusterName, DEFAULT_HISTORY_DAYS, withBoundPort, type AttestdConfig } from "./config.ts";
import { createDeps } from "./context.ts";
import type { AttestdDeps } from "./deps.ts";
import { createStatusEvents, watchClusterStatus, type ClusterStatusWatcher } from "./events.ts";
import type { AdminRoutesOptions } from "./routes/admin.ts";

/** How often expired nonces and enrollments are deleted. */
const PURGE_INTERVAL_MS = 60_000;
const DAY_MS = 86_400_000;

/** A running node. */
export interface RunningAttestd {
  /** `https://host:port`. */
  readonly url: string;
  readonly port: number;
  readonly deps: AttestdDeps;
  /** The TLS CA certificate (PEM) clients trust. */
  readonly caCert: string;
  readonly caCertFile: string;
  /** The admin password file when this start created the admin account. */
  readonly adminPasswordFile?: string;
  /** Carries status changes made by other nodes (and expiries) onto this node's event bus. */
  readonly watcher: ClusterStatusWatcher;
  /** Stops serving and closes the store. */
  close(): Promise<void>;
}

/** Options of {@link startAttestd}. */
export interface StartOptions {
  readonly logger: Logger;
  /** Where the first start announces the admin password file (default stdout). */
  readonly print?: (line: string) => void;
  /** Default Date.now. */
  readonly clock?: { now(): number };
  /** Admin API options beyond the TLS CA (OIDC issuer, cluster name, key provider URL). */
  readonly admin?: Omit<AdminRoutesOptions, "tlsCaPem">;
  /** How often expired challenges are purged and the history pruned (default a minute; tests shorten it). */
  readonly purgeIntervalMs?: number;
}

/** The admin API's options the configuration gives: the OIDC issuer, the cluster's name, the Key Provider URL. */
export function adminOptions(config: AttestdConfig): Omit<AdminRoutesOptions, "tlsCaPem"> {
  return {
    ...(config.oidc
      ? {
          oidc: {
            issuer: config.oidc.issuer,
            ...(config.oidc.audience !== undefined ? { audience: config.oidc.audience } : {}),
            ...(config.oidc.ca !== undefined ? { ca: config.oidc.ca } : {}),
          },
        }
      : {}),
    cluster: clusterName(config),
    ...(config.keyProviderUrl !== undefined ? { keyProviderService: config.keyProviderUrl } : {}),
  };
}

/** Starts a node on `config`. */
export async function startAttestd(configured: AttestdConfig, options: StartOptions): Promise<RunningAttestd> {
  const { logger } = options;
  const b = await bootstrap(configured, logger, options.print);
  // Bound before the app is built: with port 0 the public URL (tokens' iss, identity) must name the real port.
  // The node adapter's env (the socket: sign-in throttling keys on the client address) is passed through.
  let https;
  try {
    https = await serveHttpsFirst({ host: configured.listen.host, port: configured.listen.port, cert: b.tls.cert, key: b.tls.key });
  } catch (e) {
    await b.store.close();
    throw e;
  }
  const config = withBoundPort(configured, https.port);
  const events = createStatusEvents(logger);
  const deps = createDeps({ store: b.store, keyring: b.keyring, logger, config, events, ...(options.clock ? { clock: options.clock } : {}) });
  const watcher = watchClusterStatus({ store: b.store, events, clock: deps.clock, logger });
  const historyDays = config.historyDays ?? DEFAULT_HISTORY_DAYS;
  const purge = setInterval(() => {
    const now = deps.clock.now();
    b.store.purgeExpired(now).catch((err: unknown) => logger.warn({ err }, "purging expired challenges failed"));
    b.store
      .pruneAttestations(now - historyDays * DAY_MS)
      .then((n) => {
        if (n > 0) logger.info({ pruned: n, historyDays }, "attestation history pruned");
      })
      .catch((err: unknown) => logger.warn({ err }, "pruning the attestation history failed"));
  }, options.purgeIntervalMs ?? PURGE_INTERVAL_MS);
  purge.unref();
  const app = createApp(deps, { tlsCaPem: b.tls.caCert, ...adminOptions(config), ...options.admin });
  https.route((request, env) => app.fetch(request, env));
  logger.info({ url: https.url, publicUrl: config.publicUrl, dataDir: config.dataDir }, "attestd listening");
  let closed: Promise<void> | undefined;
  const server = https;
  return {
    url: https.url,
    port: https.port,
    deps,
    caCert: b.tls.caCert,
    caCertFile: b.tls.caCertFile,
    watcher,
    ...(b.adminPasswordFile !== undefined ? { adminPasswordFile: b.adminPasswordFile } : {}),
    close() {
      closed ??= (async () => {
        clearInterval(purge);
        watcher.stop();
        await server.close();
        await b.store.close();
      })();
      return closed;
    },
  };
}
