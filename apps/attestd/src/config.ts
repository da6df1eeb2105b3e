/**
 * attestd's configuration: command-line flags over `ATTESTD_*` environment variables over an optional JSON
 * file (`--config F`), validated once with zod into a frozen object. A bad value fails the start naming the
 * field and where it came from.
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, parseConfig } from "@tessera/http";
import { z } from "zod";

/** The validated, frozen configuration. */
export interface AttestdConfig {
  /** Where to listen for HTTPS. */
  readonly listen: { readonly host: string; readonly port: number };
  /** The data directory (TLS, master key, SQLite database, admin password). */
  readonly dataDir: string;
  /** A PostgreSQL URL for several nodes; absent: SQLite in the data directory. */
  readonly database?: string;
  /** The cluster's public URL: the tokens' `iss`. Default `https://<listen>`. */
  readonly publicUrl: string;
  /** The master key file (default `<dataDir>/master.key`). */
  readonly masterKeyFile: string;
  /** pino level. */
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** An external OIDC issuer whose tokens the admin API accepts too (groups from their `groups` claim). */
  readonly oidc?: {
    readonly issuer: string;
    /** The `aud` its tokens must carry. */
    readonly audience?: string;
    /** PEM of the CA(s) to trust for the issuer's TLS instead of the system's (read from `--oidc-ca FILE`). */
    readonly ca?: string;
  };
  /**
   * The Trust Authority cluster's name: the exported identity's `cluster` and the EAR's `tessera.trustedCluster`
   * (kmxd checks it). Default: the host name of the public URL ({@link clusterName}).
   */
  readonly cluster?: string;
  /** The Key Provider Service's URL, for the exported identity. */
  readonly keyProviderUrl?: string;
}

/** The cluster's name: `cluster` when configured, else the host name of the public URL. */
export function clusterName(config: Pick<AttestdConfig, "cluster" | "publicUrl">): string {
  return config.cluster ?? new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, "");
}

/** The command line's usage text. */
export const USAGE = `usage: attestd [--listen HOST:PORT] [--data-dir D] [--database postgres://…] [--public-url URL] [--master-key-file F] [--log-level info]
               [--cluster NAME] [--key-provider-url URL] [--oidc-issuer URL [--oidc-audience AUD] [--oidc-ca FILE.pem]] [--config FILE.json]
Defaults: --listen 127.0.0.1:7889, --data-dir ./attestd-data, SQLite in the data directory, --public-url https://<listen>, --master-key-file <data-dir>/master.key,
--cluster the public URL's host name, no OIDC issuer (local accounts only).
Environment: ATTESTD_LISTEN, ATTESTD_DATA_DIR, ATTESTD_DATABASE, ATTESTD_PUBLIC_URL, ATTESTD_MASTER_KEY_FILE, ATTESTD_LOG_LEVEL, ATTESTD_CLUSTER,
ATTESTD_KEY_PROVIDER_URL, ATTESTD_OIDC_ISSUER, ATTESTD_OIDC_AUDIENCE, ATTESTD_OIDC_CA (flags win, then the environment, then the file, whose keys are the
camelCase field names: listen, dataDir, database, publicUrl, masterKeyFile, logLevel, cluster, keyProviderUrl, oidcIssuer, oidcAudience, oidcCa).`;

const FIELDS = {
  listen: ["listen", "ATTESTD_LISTEN"],
  dataDir: ["data-dir", "ATTESTD_DATA_DIR"],
  database: ["database", "ATTESTD_DATABASE"],
  publicUrl: ["public-url", "ATTESTD_PUBLIC_URL"],
  masterKeyFile: ["master-key-file", "ATTESTD_MASTER_KEY_FILE"],
  logLevel: ["log-level", "ATTESTD_LOG_LEVEL"],
  cluster: ["cluster", "ATTESTD_CLUSTER"],
  keyProviderUrl: ["key-provider-url", "ATTESTD_KEY_PROVIDER_URL"],
  oidcIssuer: ["oidc-issuer", "ATTESTD_OIDC_ISSUER"],
  oidcAudience: ["oidc-audience", "ATTESTD_OIDC_AUDIENCE"],
  oidcCa: ["oidc-ca", "ATTESTD_OIDC_CA"],
} as const;

type Field = keyof typeof FIELDS;

/** `HOST:PORT` or `[V6]:PORT`. */
const Listen = z.string().transform((s, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: "custom", message: `"${s}" is not HOST:PORT (port 0-65535)` });
    return z.NEVER;
  }
  return { host: m[1] ?? m[2] ?? "", port };
});

const Raw = z.object({
  listen: Listen.default({ host: "127.0.0.1", port: 7889 }),
  dataDir: z.string().min(1, "is empty").default("attestd-data"),
  database: z
    .string()
    .regex(/^postgres(?:ql)?:\/\/\S+$/, "is not a postgres:// URL")
    .optional(),
  publicUrl: z.url({ protocol: /^https$/, error: "is not an https:// URL" }).optional(),
  masterKeyFile: z.string().min(1, "is empty").optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  cluster: z
    .string()
    .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/, "is not a cluster name (1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)")
    .optional(),
  keyProviderUrl: z.url({ protocol: /^https$/, error: "is not an https:// URL" }).optional(),
  oidcIssuer: z.url({ protocol: /^https$/, error: "is not an https:// URL" }).optional(),
  oidcAudience: z.string().min(1, "is empty").optional(),
  oidcCa: z.string().min(1, "is empty").optional(),
});

function fromFile(file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError("(root)", file, `cannot read it as JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError("(root)", file, "is not a JSON object");
  return v as Record<string, unknown>;
}

/** `https://<listen>`, the public URL when none is configured (a wildcard address is reached on loopback). */
export function defaultPublicUrl(host: string, port: number): string {
  const h = host.includes(":") ? `[${host}]` : host === "0.0.0.0" || host === "" ? "127.0.0.1" : host;
  return `https://${h}:${port}`;
}

/**
 * The configuration once the server is bound: with `--listen HOST:0` and no `--public-url`, the public URL (the
 * tokens' `iss`, the exported identity) names the port the system chose, not 0.
 */
export function withBoundPort(config: AttestdConfig, port: number): AttestdConfig {
  if (config.listen.port !== 0 || config.publicUrl !== defaultPublicUrl(config.listen.host, 0)) return config;
  return Object.freeze({ ...config, publicUrl: defaultPublicUrl(config.listen.host, port) });
}

/**
 * Reads the configuration from `argv` (without the node and script paths) and `env`.
 * @throws ConfigError naming the field (`listen`, `publicUrl`, …) and its source (`flags`, `environment`, the file).
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AttestdConfig {
  let flags: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.values(FIELDS).map(([flag]) => [flag, { type: "string" as const }]));
    flags = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { ...options, config: { type: "string" } } }).values as Record<string, string | undefined>;
  } catch (e) {
    throw new ConfigError("(flags)", "flags", `${(e as Error).message}\n${USAGE}`, { cause: e });
  }
  const file = typeof flags["config"] === "string" ? flags["config"] : env["ATTESTD_CONFIG"];
  const input: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  if (file !== undefined) {
    for (const [k, v] of Object.entries(fromFile(file))) {
      input[k] = v;
      source[k] = file;
    }
  }
  for (const [field, [flag, variable]] of Object.entries(FIELDS) as [Field, readonly [string, string]][]) {
    const e = env[variable];
    if (e !== undefined) {
      input[field] = e;
      source[field] = "environment";
    }
    const f = flags[flag];
    if (typeof f === "string") {
      input[field] = f;
      source[field] = "flags";
    }
  }
  let raw: z.output<typeof Raw>;
  try {
    raw = parseConfig(Raw.strict(), input, "configuration") as z.output<typeof Raw>;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const top = e.field.split(/[.[]/)[0] ?? e.field;
    const problem = e.message.replace(/^bad configuration in [^:]*: field [^:]*: /, "");
    throw new ConfigError(e.field, source[top] ?? "defaults", problem, { cause: e });
  }
  const dataDir = path.resolve(raw.dataDir);
  for (const field of ["oidcAudience", "oidcCa"] as const) {
    if (raw[field] !== undefined && raw.oidcIssuer === undefined) throw new ConfigError(field, source[field] ?? "defaults", "is set without oidcIssuer (--oidc-issuer)");
  }
  let oidcCa: string | undefined;
  if (raw.oidcCa !== undefined) {
    try {
      oidcCa = readFileSync(path.resolve(raw.oidcCa), "utf8");
    } catch (e) {
      throw new ConfigError("oidcCa", source["oidcCa"] ?? "defaults", `cannot read ${raw.oidcCa}: ${(e as Error).message}`, { cause: e });
    }
    if (!oidcCa.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError("oidcCa", source["oidcCa"] ?? "defaults", `${raw.oidcCa} holds no PEM certificate`);
  }
  const config: AttestdConfig = {
    listen: raw.listen,
    dataDir,
    ...(raw.database !== undefined ? { database: raw.database } : {}),
    publicUrl: (raw.publicUrl ?? defaultPublicUrl(raw.listen.host, raw.listen.port)).replace(/\/+$/, ""),
    masterKeyFile: path.resolve(dataDir, raw.masterKeyFile ?? "master.key"),
    logLevel: raw.logLevel,
    ...(raw.oidcIssuer !== undefined
      ? {
          oidc: Object.freeze({
            issuer: raw.oidcIssuer.replace(/\/+$/, ""),
            ...(raw.oidcAudience !== undefined ? { audience: raw.oidcAudience } : {}),
            ...(oidcCa !== undefined ? { ca: oidcCa } : {}),
          }),
        }
      : {}),
    ...(raw.cluster !== undefined ? { cluster: raw.cluster } : {}),
    ...(raw.keyProviderUrl !== undefined ? { keyProviderUrl: raw.keyProviderUrl.replace(/\/+$/, "") } : {}),
  };
  return Object.freeze({ ...config, listen: Object.freeze({ ...config.listen }) });
}
