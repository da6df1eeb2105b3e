/**
 * attestd's configuration: command-line flags over `ATTESTD_*` environment variables over an optional JSON
 * file (`--config F`), validated once with zod into a frozen object. A bad value fails the start naming the
 * field and where it came from.
 * @module
 */
import {
  defaultPublicUrl,
  HttpsUrl,
  loadServiceConfig,
  resolveServiceConfig,
  serviceConfigFields,
  serviceConfigSchema,
  withBoundPort as withPort,
  type ServiceConfig,
} from "@tessera/http";
import { z } from "zod";

/** The validated, frozen configuration. */
export interface AttestdConfig extends ServiceConfig {
  /**
   * The Trust Authority cluster's name: the exported identity's `cluster` and the EAR's `tessera.trustedCluster`
   * (kmxd checks it). Default: the host name of the public URL ({@link clusterName}).
   */
  readonly cluster?: string;
  /** The Key Provider Service's URL, for the exported identity. */
  readonly keyProviderUrl?: string;
  /** Serving processes on the one listening socket (workers.ts); absent or 1: this process serves alone. */
  readonly workers?: number;
  /**
   * Days of attestation history kept (default 30): older attempts are pruned, each host's last one never (its
   * status). A host re-attesting every 10 minutes adds 144 rows a day.
   */
  readonly historyDays?: number;
}

/** Days of attestation history kept when nothing says otherwise. */
export const DEFAULT_HISTORY_DAYS = 30;

/** The cluster's name: `cluster` when configured, else the host name of the public URL. */
export function clusterName(config: Pick<AttestdConfig, "cluster" | "publicUrl">): string {
  return config.cluster ?? new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, "");
}

/** The command line's usage text. */
export const USAGE = `usage: attestd [--listen HOST:PORT] [--data-dir D] [--database postgres://…] [--public-url URL] [--master-key-file F] [--log-level info]
               [--cluster NAME] [--key-provider-url URL] [--oidc-issuer URL [--oidc-audience AUD] [--oidc-ca FILE.pem]] [--workers N] [--history-days N] [--config FILE.json]
Defaults: --listen 127.0.0.1:7889, --data-dir ./attestd-data, SQLite in the data directory, --public-url https://<listen>, --master-key-file <data-dir>/master.key,
--cluster the public URL's host name, no OIDC issuer (local accounts only), --workers 1 (N: N serving processes on one socket, e.g. one per core),
--history-days 30 (attestation history older than that is pruned; each host's last attempt is always kept).
Environment: ATTESTD_LISTEN, ATTESTD_DATA_DIR, ATTESTD_DATABASE, ATTESTD_PUBLIC_URL, ATTESTD_MASTER_KEY_FILE, ATTESTD_LOG_LEVEL, ATTESTD_CLUSTER,
ATTESTD_KEY_PROVIDER_URL, ATTESTD_OIDC_ISSUER, ATTESTD_OIDC_AUDIENCE, ATTESTD_OIDC_CA, ATTESTD_WORKERS, ATTESTD_HISTORY_DAYS (flags win, then the environment, then the file, whose keys are the
camelCase field names: listen, dataDir, database, publicUrl, masterKeyFile, logLevel, cluster, keyProviderUrl, oidcIssuer, oidcAudience, oidcCa, workers, historyDays).`;

const FIELDS = {
  ...serviceConfigFields("ATTESTD"),
  cluster: ["cluster", "ATTESTD_CLUSTER"],
  keyProviderUrl: ["key-provider-url", "ATTESTD_KEY_PROVIDER_URL"],
  workers: ["workers", "ATTESTD_WORKERS"],
  historyDays: ["history-days", "ATTESTD_HISTORY_DAYS"],
} as const;

const Raw = z.object({
  ...serviceConfigSchema({ port: 7889, dataDir: "attestd-data" }),
  cluster: z
    .string()
    .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/, "is not a cluster name (1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)")
    .optional(),
  keyProviderUrl: HttpsUrl.optional(),
  workers: z.coerce.number().int("is not a whole number").min(1, "is less than 1").max(64, "is more than 64").default(1),
  historyDays: z.coerce.number().int("is not a whole number").min(1, "is less than 1").max(3650, "is more than 3650").default(DEFAULT_HISTORY_DAYS),
});

export { defaultPublicUrl };

/**
 * The configuration once the server is bound: with `--listen HOST:0` and no `--public-url`, the public URL (the
 * tokens' `iss`, the exported identity) names the port the system chose, not 0.
 */
export const withBoundPort: (config: AttestdConfig, port: number) => AttestdConfig = withPort;

/**
 * Reads the configuration from `argv` (without the node and script paths) and `env`.
 * @throws ConfigError naming the field (`listen`, `publicUrl`, …) and its source (`flags`, `environment`, the file).
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AttestdConfig {
  const { values: raw, sourceOf } = loadServiceConfig({ argv, env, fields: FIELDS, fileVariable: "ATTESTD_CONFIG", usage: USAGE, schema: Raw });
  const config: AttestdConfig = {
    ...resolveServiceConfig(raw, sourceOf),
    ...(raw.cluster !== undefined ? { cluster: raw.cluster } : {}),
    ...(raw.keyProviderUrl !== undefined ? { keyProviderUrl: raw.keyProviderUrl.replace(/\/+$/, "") } : {}),
    workers: raw.workers,
    historyDays: raw.historyDays,
  };
  return Object.freeze(config);
}
