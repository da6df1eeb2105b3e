/**
 * kmxd's configuration: command-line flags over `KMXD_*` environment variables over an optional JSON file
 * (`--config F`), validated once with zod into a frozen object. A bad value fails the start naming the field and
 * where it came from.
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  ConfigError,
  defaultPublicUrl,
  HttpsUrl,
  loadServiceConfig,
  readPemField,
  resolveServiceConfig,
  serviceConfigFields,
  serviceConfigSchema,
  withBoundPort as withPort,
  type ServiceConfig,
} from "@tessera/http";
import { z } from "zod";

/** The validated, frozen configuration. */
export interface KmxdConfig extends ServiceConfig {
  /** attestd: its URL, the CA of its TLS (PEM, read from `--attestd-ca`), the tokens' issuer and kmxd's account. */
  readonly attestd: {
    readonly url: string;
    /** PEM of the CA(s) of attestd's TLS certificate. */
    readonly ca: string;
    /** The `iss` of attestd's tokens (EARs and admin tokens). Default: `url`. */
    readonly issuer: string;
    /** The account kmxd signs in with to read attestd's events. */
    readonly user?: string;
    /** Its password (read from `--attestd-password-file`). */
    readonly password?: string;
  };
  /** Requests per second per host (token bucket). */
  readonly hostRate: number;
  /** Requests per second per provider (token bucket). */
  readonly providerRate: number;
  /**
   * KMIP connections each provider keeps open per key server (default 16): as many as the requests it serves at
   * once, or every request above it pays a TLS handshake to the key server.
   */
  readonly kmipPoolSize: number;
}

/** The command line's usage text. */
export const USAGE = `usage: kmxd --attestd URL --attestd-ca FILE.pem [--listen HOST:PORT] [--data-dir D] [--attestd-issuer URL]
            [--attestd-user U --attestd-password-file F] [--database postgres://…] [--master-key-file F] [--public-url URL]
            [--log-level info] [--host-rate 20] [--provider-rate 500] [--kmip-pool 16] [--oidc-issuer URL [--oidc-audience AUD] [--oidc-ca FILE.pem]]
            [--config FILE.json]
Defaults: --listen 127.0.0.1:7888, --data-dir ./kmxd-data, SQLite in the data directory, --public-url https://<listen>,
--master-key-file <data-dir>/master.key, --attestd-issuer the --attestd URL, 20 requests/s per host, 500 per provider,
16 KMIP connections kept per provider and key server.
Environment: KMXD_LISTEN, KMXD_DATA_DIR, KMXD_DATABASE, KMXD_PUBLIC_URL, KMXD_MASTER_KEY_FILE, KMXD_LOG_LEVEL, KMXD_ATTESTD,
KMXD_ATTESTD_CA, KMXD_ATTESTD_ISSUER, KMXD_ATTESTD_USER, KMXD_ATTESTD_PASSWORD_FILE, KMXD_HOST_RATE, KMXD_PROVIDER_RATE,
KMXD_KMIP_POOL, KMXD_OIDC_ISSUER, KMXD_OIDC_AUDIENCE, KMXD_OIDC_CA (flags win, then the environment, then the file, whose keys are the camelCase
field names: listen, dataDir, database, publicUrl, masterKeyFile, logLevel, attestd, attestdCa, attestdIssuer, attestdUser,
attestdPasswordFile, hostRate, providerRate, kmipPoolSize, oidcIssuer, oidcAudience, oidcCa).`;

const FIELDS = {
  ...serviceConfigFields("KMXD"),
  attestd: ["attestd", "KMXD_ATTESTD"],
  attestdCa: ["attestd-ca", "KMXD_ATTESTD_CA"],
  attestdIssuer: ["attestd-issuer", "KMXD_ATTESTD_ISSUER"],
  attestdUser: ["attestd-user", "KMXD_ATTESTD_USER"],
  attestdPasswordFile: ["attestd-password-file", "KMXD_ATTESTD_PASSWORD_FILE"],
  hostRate: ["host-rate", "KMXD_HOST_RATE"],
  providerRate: ["provider-rate", "KMXD_PROVIDER_RATE"],
  kmipPoolSize: ["kmip-pool", "KMXD_KMIP_POOL"],
} as const;

type Field = keyof typeof FIELDS;

/** A rate from the command line (a string) or the file (a number). */
const Rate = z.coerce.number({ error: "is not a number" }).positive("must be above 0").max(1_000_000, "must be at most 1000000");

const Raw = z.object({
  ...serviceConfigSchema({ port: 7888, dataDir: "kmxd-data" }),
  attestd: HttpsUrl,
  attestdCa: z.string().min(1, "is empty"),
  attestdIssuer: z.url({ error: "is not a URL" }).optional(),
  attestdUser: z.string().min(1, "is empty").optional(),
  attestdPasswordFile: z.string().min(1, "is empty").optional(),
  hostRate: Rate.default(20),
  providerRate: Rate.default(500),
  kmipPoolSize: z.coerce
    .number({ error: "is not a number" })
    .int("is not a whole number")
    .min(1, "must be at least 1")
    .max(1024, "must be at most 1024")
    .default(16),
});

export { defaultPublicUrl };

/** The configuration once the server is bound: with `--listen HOST:0` and no `--public-url`, the public URL names the real port. */
export const withBoundPort: (config: KmxdConfig, port: number) => KmxdConfig = withPort;

/** Reads a file the configuration names, or fails naming the field. */
function readNamed(field: Field, file: string, source: string, what: string, check: (text: string) => boolean): string {
  let text: string;
  try {
    text = readFileSync(path.resolve(file), "utf8");
  } catch (e) {
    throw new ConfigError(field, source, `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!check(text)) throw new ConfigError(field, source, `${file} holds no ${what}`);
  return text;
}

/**
 * Reads the configuration from `argv` (without the node and script paths) and `env`.
 * @throws ConfigError naming the field (`listen`, `attestd`, …) and its source (`flags`, `environment`, the file).
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): KmxdConfig {
  const { values: raw, sourceOf: src } = loadServiceConfig({ argv, env, fields: FIELDS, fileVariable: "KMXD_CONFIG", usage: USAGE, schema: Raw });
  const core = resolveServiceConfig(raw, src);
  if ((raw.attestdUser === undefined) !== (raw.attestdPasswordFile === undefined)) {
    const field = raw.attestdUser === undefined ? "attestdPasswordFile" : "attestdUser";
    throw new ConfigError(field, src(field), "attestdUser and attestdPasswordFile go together (--attestd-user U --attestd-password-file F)");
  }
  const attestdCa = readPemField("attestdCa", raw.attestdCa, src("attestdCa"));
  const password =
    raw.attestdPasswordFile === undefined
      ? undefined
      : readNamed("attestdPasswordFile", raw.attestdPasswordFile, src("attestdPasswordFile"), "password", (t) => t.trim() !== "").trim();
  const attestdUrl = raw.attestd.replace(/\/+$/, "");
  const config: KmxdConfig = {
    ...core,
    attestd: Object.freeze({
      url: attestdUrl,
      ca: attestdCa,
      issuer: (raw.attestdIssuer ?? attestdUrl).replace(/\/+$/, ""),
      ...(raw.attestdUser !== undefined ? { user: raw.attestdUser } : {}),
      ...(password !== undefined ? { password } : {}),
    }),
    hostRate: raw.hostRate,
    providerRate: raw.providerRate,
    kmipPoolSize: raw.kmipPoolSize,
  };
  return Object.freeze(config);
}
