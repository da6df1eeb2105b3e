/**
 * The configuration plumbing every Tessera service shares: command-line flags over `<SERVICE>_*` environment
 * variables over an optional JSON file (`--config F` or `<SERVICE>_CONFIG`), validated once with zod. A bad value
 * fails the start naming the field and where it came from (`flags`, `environment`, the file, `defaults`).
 * attestd and kmxd declare their fields and schema; the merging, the errors and the common field types live here.
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { parseConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

/** For each configuration field (camelCase, as in the file): its flag (without `--`) and its environment variable. */
export type ConfigFields = Readonly<Record<string, readonly [flag: string, variable: string]>>;

/** Options of {@link loadServiceConfig}. */
export interface LoadServiceConfigOptions<S extends z.ZodObject> {
  /** The command line without the node and script paths. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly fields: ConfigFields;
  /** The environment variable naming the JSON file (the flag is always `--config`). */
  readonly fileVariable: string;
  /** The usage text, appended to a flag error. */
  readonly usage: string;
  /** The schema of the merged input: its keys are the field names; unknown keys are refused. */
  readonly schema: S;
}

/** What {@link loadServiceConfig} returns: the validated values and where each field came from. */
export interface LoadedConfig<T> {
  readonly values: T;
  /** Field → `flags`, `environment` or the file's path (absent: the default). */
  readonly source: Readonly<Record<string, string>>;
  /** Field → `flags`, `environment`, the file or `defaults`: for errors the service raises after validation. */
  sourceOf(field: string): string;
}

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

/**
 * Merges flags over the environment over the file and validates the result with `schema` (strict: an unknown
 * key in the file is refused).
 *
 * @example
 * ```ts
 * const { values, sourceOf } = loadServiceConfig({
 *   argv, env, usage: USAGE, fileVariable: "KMXD_CONFIG", schema: Raw,
 *   fields: { listen: ["listen", "KMXD_LISTEN"], dataDir: ["data-dir", "KMXD_DATA_DIR"] },
 * });
 * ```
 * @throws ConfigError naming the field (`listen`, `publicUrl`, …) and its source.
 */
export function loadServiceConfig<S extends z.ZodObject>(options: LoadServiceConfigOptions<S>): LoadedConfig<z.output<S>> {
  const { argv, env, fields } = options;
  let flags: Record<string, string | undefined>;
  try {
    const declared = Object.fromEntries(Object.values(fields).map(([flag]) => [flag, { type: "string" as const }]));
    flags = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { ...declared, config: { type: "string" } } }).values as Record<
      string,
      string | undefined
    >;
  } catch (e) {
    throw new ConfigError("(flags)", "flags", `${(e as Error).message}\n${options.usage}`, { cause: e });
  }
  const file = flags["config"] ?? env[options.fileVariable];
  const input: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  if (file !== undefined) {
    for (const [k, v] of Object.entries(fromFile(file))) {
      input[k] = v;
      source[k] = file;
    }
  }
  for (const [field, [flag, variable]] of Object.entries(fields)) {
    const e = env[variable];
    if (e !== undefined) {
      input[field] = e;
      source[field] = "environment";
    }
    const f = flags[flag];
    if (f !== undefined) {
      input[field] = f;
      source[field] = "flags";
    }
  }
  const sourceOf = (field: string): string => source[field] ?? "defaults";
  let values: z.output<S>;
  try {
    values = parseConfig(options.schema.strict(), input, "configuration") as z.output<S>;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // An unknown key (a misspelt field in the file) is named, with the file it came from.
    const unknown = e.cause instanceof z.ZodError ? e.cause.issues.find((i) => i.code === "unrecognized_keys") : undefined;
    if (unknown !== undefined && unknown.code === "unrecognized_keys" && unknown.keys[0] !== undefined) {
      const key = unknown.keys[0];
      throw new ConfigError(key, sourceOf(key), `is not a configuration field (the fields: ${Object.keys(fields).join(", ")})`, { cause: e });
    }
    const top = e.field.split(/[.[]/)[0] ?? e.field;
    const problem = e.message.replace(/^bad configuration in [^:]*: field [^:]*: /, "");
    throw new ConfigError(e.field, sourceOf(top), problem, { cause: e });
  }
  return { values, source: Object.freeze({ ...source }), sourceOf };
}

/** `HOST:PORT` or `[V6]:PORT` (port 0–65535; 0: the system chooses) as `{ host, port }`. */
export const ListenAddress = z.string().transform((s, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: "custom", message: `"${s}" is not HOST:PORT (port 0-65535)` });
    return z.NEVER;
  }
  return { host: m[1] ?? m[2] ?? "", port };
});

/** An `https://` URL. */
export const HttpsUrl = z.url({ protocol: /^https$/, error: "is not an https:// URL" });

/** A `postgres://` (or `postgresql://`) URL. */
export const PostgresUrl = z.string().regex(/^postgres(?:ql)?:\/\/\S+$/, "is not a postgres:// URL");

/** pino's levels. */
export const LogLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

/** `https://<listen>`, the public URL when none is configured (a wildcard address is reached on loopback). */
export function defaultPublicUrl(host: string, port: number): string {
  const h = host.includes(":") ? `[${host}]` : host === "0.0.0.0" || host === "" ? "127.0.0.1" : host;
  return `https://${h}:${port}`;
}

/**
 * The public URL once the server is bound: with `HOST:0` and no configured public URL, the one naming the port
 * the system chose (tokens' `iss`, exported identities), else `publicUrl` unchanged.
 */
export function boundPublicUrl(listen: { readonly host: string; readonly port: number }, publicUrl: string, boundPort: number): string {
  return listen.port === 0 && publicUrl === defaultPublicUrl(listen.host, 0) ? defaultPublicUrl(listen.host, boundPort) : publicUrl;
}

/**
 * Reads the PEM certificate(s) a configuration field names (a CA file), resolved against the working directory.
 * @throws ConfigError naming the field and its source when the file cannot be read or holds no certificate.
 */
export function readPemField(field: string, file: string, source: string): string {
  let pem: string;
  try {
    pem = readFileSync(path.resolve(file), "utf8");
  } catch (e) {
    throw new ConfigError(field, source, `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(field, source, `${file} holds no PEM certificate`);
  return pem;
}

/** The configuration every Tessera service with a data directory, a store and an admin API shares (attestd, kmxd). */
export interface ServiceConfig {
  /** Where to listen for HTTPS. */
  readonly listen: { readonly host: string; readonly port: number };
  /** The data directory (TLS, master key, SQLite database). */
  readonly dataDir: string;
  /** A PostgreSQL URL for several nodes; absent: SQLite in the data directory. */
  readonly database?: string;
  /** The service's public URL (for attestd the tokens' `iss`). Default `https://<listen>`. */
  readonly publicUrl: string;
  /** The master key file (default `<dataDir>/master.key`). */
  readonly masterKeyFile: string;
  /** pino level. */
  readonly logLevel: z.output<typeof LogLevel>;
  /** An external OIDC issuer whose tokens the admin API accepts too (groups from their `groups` claim). */
  readonly oidc?: {
    readonly issuer: string;
    /** The `aud` its tokens must carry. */
    readonly audience?: string;
    /** PEM of the CA(s) to trust for the issuer's TLS instead of the system's (read from `--oidc-ca FILE`). */
    readonly ca?: string;
  };
}

const CORE_FIELDS = {
  listen: "listen",
  dataDir: "data-dir",
  database: "database",
  publicUrl: "public-url",
  masterKeyFile: "master-key-file",
  logLevel: "log-level",
  oidcIssuer: "oidc-issuer",
  oidcAudience: "oidc-audience",
  oidcCa: "oidc-ca",
} as const;

/**
 * The flags and `<PREFIX>_*` variables of {@link ServiceConfig}'s fields: `--data-dir` / `KMXD_DATA_DIR`, …
 * (spread into a service's {@link ConfigFields}).
 */
export function serviceConfigFields(prefix: string): { readonly [K in keyof typeof CORE_FIELDS]: readonly [string, string] } {
  return Object.fromEntries(
    Object.entries(CORE_FIELDS).map(([field, flag]) => [field, [flag, `${prefix}_${flag.toUpperCase().replaceAll("-", "_")}`] as const]),
  ) as { readonly [K in keyof typeof CORE_FIELDS]: readonly [string, string] };
}

/** The zod fields of {@link ServiceConfig} (spread into a service's schema), with the service's default port and data directory. */
export function serviceConfigSchema(defaults: { readonly port: number; readonly dataDir: string }) {
  return {
    listen: ListenAddress.default({ host: "127.0.0.1", port: defaults.port }),
    dataDir: z.string().min(1, "is empty").default(defaults.dataDir),
    database: PostgresUrl.optional(),
    publicUrl: HttpsUrl.optional(),
    masterKeyFile: z.string().min(1, "is empty").optional(),
    logLevel: LogLevel.default("info"),
    oidcIssuer: HttpsUrl.optional(),
    oidcAudience: z.string().min(1, "is empty").optional(),
    oidcCa: z.string().min(1, "is empty").optional(),
  };
}

/** The raw values {@link resolveServiceConfig} reads (what {@link serviceConfigSchema} parses to). */
export type RawServiceConfig = z.output<z.ZodObject<ReturnType<typeof serviceConfigSchema>>>;

/**
 * {@link ServiceConfig} from the validated raw values: paths resolved, the public URL defaulted, the OIDC CA file
 * read, trailing slashes dropped.
 * @throws ConfigError for `oidcAudience`/`oidcCa` without `oidcIssuer`, or an OIDC CA file that holds no certificate
 */
export function resolveServiceConfig(raw: RawServiceConfig, sourceOf: (field: string) => string): ServiceConfig {
  for (const field of ["oidcAudience", "oidcCa"] as const) {
    if (raw[field] !== undefined && raw.oidcIssuer === undefined) throw new ConfigError(field, sourceOf(field), "is set without oidcIssuer (--oidc-issuer)");
  }
  const oidcCa = raw.oidcCa === undefined ? undefined : readPemField("oidcCa", raw.oidcCa, sourceOf("oidcCa"));
  const dataDir = path.resolve(raw.dataDir);
  return {
    listen: Object.freeze({ ...raw.listen }),
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
  };
}

/**
 * The configuration once the server is bound: with `--listen HOST:0` and no configured public URL, the public URL
 * names the port the system chose, not 0 (see {@link boundPublicUrl}).
 */
export function withBoundPort<C extends ServiceConfig>(config: C, port: number): C {
  const publicUrl = boundPublicUrl(config.listen, config.publicUrl, port);
  return publicUrl === config.publicUrl ? config : Object.freeze({ ...config, publicUrl });
}
