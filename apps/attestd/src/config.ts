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
}

/** The command line's usage text. */
export const USAGE = `usage: attestd [--listen HOST:PORT] [--data-dir D] [--database postgres://…] [--public-url URL] [--master-key-file F] [--log-level info] [--config FILE.json]
Defaults: --listen 127.0.0.1:7889, --data-dir ./attestd-data, SQLite in the data directory, --public-url https://<listen>, --master-key-file <data-dir>/master.key.
Environment: ATTESTD_LISTEN, ATTESTD_DATA_DIR, ATTESTD_DATABASE, ATTESTD_PUBLIC_URL, ATTESTD_MASTER_KEY_FILE, ATTESTD_LOG_LEVEL (flags win, then the environment, then the file).`;

const FIELDS = {
  listen: ["listen", "ATTESTD_LISTEN"],
  dataDir: ["data-dir", "ATTESTD_DATA_DIR"],
  database: ["database", "ATTESTD_DATABASE"],
  publicUrl: ["public-url", "ATTESTD_PUBLIC_URL"],
  masterKeyFile: ["master-key-file", "ATTESTD_MASTER_KEY_FILE"],
  logLevel: ["log-level", "ATTESTD_LOG_LEVEL"],
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
  const config: AttestdConfig = {
    listen: raw.listen,
    dataDir,
    ...(raw.database !== undefined ? { database: raw.database } : {}),
    publicUrl: (raw.publicUrl ?? defaultPublicUrl(raw.listen.host, raw.listen.port)).replace(/\/+$/, ""),
    masterKeyFile: path.resolve(dataDir, raw.masterKeyFile ?? "master.key"),
    logLevel: raw.logLevel,
  };
  return Object.freeze({ ...config, listen: Object.freeze({ ...config.listen }) });
}
