/**
 * kmipd configuration: flags, then `KMIPD_*` environment variables, validated once at start into a frozen
 * object; a bad field fails fast naming it.
 * @module
 */
import { parseArgs } from "node:util";
import { availableParallelism } from "node:os";
import path from "node:path";
import { SERVER_LIMITS } from "./limits.ts";

/** The validated configuration. */
export interface KmipdConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** TLS server certificate/key and the CA that signs client certificates; all three or none (then generated). */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile: string } | undefined;
  /** `sqlite:` path (default `<data-dir>/kmipd.sqlite`) or a `postgres://` URL. */
  readonly database: string;
  /** Master key file (default `<data-dir>/master.key`, 0600; `<data-dir>/master.key.tpm` when sealed to a TPM). */
  readonly masterKeyFile: string;
  /** TCTI of the TPM the master key is sealed to (`--master-key-tpm device:/dev/tpmrm0`), if any. */
  readonly masterKeyTpm: string | undefined;
  readonly logLevel: string;
  /** Threads that serve connections (each its own event loop on the shared port); default: the CPUs less one, 1 to 4. */
  readonly threads: number;
  /** Connection limits of each serving thread's listener ({@link SERVER_LIMITS} by default). */
  readonly limits: ConnectionLimits;
}

/** Connection limits (see server.ts `ServerOptions`). */
export interface ConnectionLimits {
  readonly handshakeTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxPartialBytes: number;
}

/** The flags of the connection limits, their environment variables and fields. */
const LIMIT_FLAGS = [
  ["handshake-timeout", "KMIPD_HANDSHAKE_TIMEOUT", "handshakeTimeoutMs"],
  ["request-timeout", "KMIPD_REQUEST_TIMEOUT", "requestTimeoutMs"],
  ["idle-timeout", "KMIPD_IDLE_TIMEOUT", "idleTimeoutMs"],
  ["max-connections", "KMIPD_MAX_CONNECTIONS", "maxConnections"],
  ["max-connections-per-address", "KMIPD_MAX_CONNECTIONS_PER_ADDRESS", "maxConnectionsPerAddress"],
  ["max-partial-bytes", "KMIPD_MAX_PARTIAL_BYTES", "maxPartialBytes"],
] as const;

/** A configuration error naming the field. */
export class ConfigError extends Error {
  /** Stable code. */
  readonly code = "KMIPD_CONFIG";
  /** The offending field. */
  readonly field: string;
  /** @param field flag name @param message what is wrong */
  constructor(field: string, message: string) {
    super(`--${field}: ${message}`);
    this.name = "ConfigError";
    this.field = field;
  }
}

export const USAGE = `usage: kmipd [--listen HOST:PORT] [--data-dir D] [--tls-cert F --tls-key F --client-ca F] [--database postgres://…] [--master-key-file F] [--master-key-tpm TCTI] [--threads N] [--log-level info]
       [--handshake-timeout MS] [--request-timeout MS] [--idle-timeout MS] [--max-connections N] [--max-connections-per-address N] [--max-partial-bytes N]
Defaults: --listen 127.0.0.1:5696, --data-dir ./kmipd-data, --threads = CPUs less one (1 to 4); without TLS files a local CA, server and client certificates are created in the data directory.
Limits (per serving thread): --handshake-timeout ${SERVER_LIMITS.handshakeTimeoutMs}, --request-timeout ${SERVER_LIMITS.requestTimeoutMs} (first to last byte of a request), --idle-timeout ${SERVER_LIMITS.idleTimeoutMs}, --max-connections ${SERVER_LIMITS.maxConnections}, --max-connections-per-address ${SERVER_LIMITS.maxConnectionsPerAddress}, --max-partial-bytes ${SERVER_LIMITS.maxPartialBytes} (partly received requests, all connections).`;

/** Reads the configuration from `argv` and `env`. Throws {@link ConfigError}. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>): KmipdConfig {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        listen: { type: "string" },
        "data-dir": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "client-ca": { type: "string" },
        database: { type: "string" },
        "master-key-file": { type: "string" },
        "master-key-tpm": { type: "string" },
        "log-level": { type: "string" },
        threads: { type: "string" },
        ...Object.fromEntries(LIMIT_FLAGS.map(([flag]) => [flag, { type: "string" as const }])),
        help: { type: "boolean" },
      },
    }).values;
  } catch (e) {
    throw new ConfigError("args", (e as Error).message);
  }
  if (v.help) throw new ConfigError("help", USAGE);
  const listen = v.listen ?? env.KMIPD_LISTEN ?? "127.0.0.1:5696";
  const m = /^(\[[0-9a-f:]+\]|[^:]+):(\d+)$/i.exec(listen);
  if (!m) throw new ConfigError("listen", `"${listen}" is not HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError("listen", `port ${port} is out of range`);
  const dataDir = path.resolve(v["data-dir"] ?? env.KMIPD_DATA_DIR ?? "kmipd-data");
  const cert = v["tls-cert"] ?? env.KMIPD_TLS_CERT;
  const key = v["tls-key"] ?? env.KMIPD_TLS_KEY;
  const ca = v["client-ca"] ?? env.KMIPD_CLIENT_CA;
  const given = [cert, key, ca].filter((x) => x !== undefined).length;
  if (given !== 0 && given !== 3)
    throw new ConfigError(
      cert === undefined ? "tls-cert" : key === undefined ? "tls-key" : "client-ca",
      "give --tls-cert, --tls-key and --client-ca together (or none, to generate them)",
    );
  const database = v.database ?? env.KMIPD_DATABASE ?? `sqlite:${path.join(dataDir, "kmipd.sqlite")}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(database)) throw new ConfigError("database", `"${database}" is neither sqlite:PATH nor a postgres:// URL`);
  const logLevel = v["log-level"] ?? env.KMIPD_LOG_LEVEL ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel))
    throw new ConfigError("log-level", `"${logLevel}" is not a pino level`);
  const threadsText = v.threads ?? env.KMIPD_THREADS;
  // By default one CPU is left to the rest of the machine (the WAL sync and checkpoints, the garbage collector,
  // and on a small host the clients): on 2 CPUs one serving thread measured faster than two (BENCHMARKS.md).
  const threads = threadsText === undefined ? Math.max(1, Math.min(availableParallelism() - 1, 4)) : Number(threadsText);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new ConfigError("threads", `"${threadsText}" is not a whole number from 1 to 64`);
  const limits: Record<string, number> = {};
  for (const [flag, name, field] of LIMIT_FLAGS) {
    const text = (v as Record<string, string | boolean | undefined>)[flag] ?? env[name];
    if (text === undefined) {
      limits[field] = SERVER_LIMITS[field];
      continue;
    }
    const n = Number(text);
    if (typeof text !== "string" || !/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1)
      throw new ConfigError(flag, `"${String(text)}" is not a whole number of at least 1`);
    limits[field] = n;
  }
  return Object.freeze({
    threads,
    limits: Object.freeze(limits as unknown as ConnectionLimits),
    host: m[1].replace(/^\[|\]$/g, ""),
    port,
    dataDir,
    tls: given === 3 ? Object.freeze({ certFile: path.resolve(cert!), keyFile: path.resolve(key!), clientCaFile: path.resolve(ca!) }) : undefined,
    database,
    logLevel,
    masterKeyTpm: v["master-key-tpm"] ?? env.KMIPD_MASTER_KEY_TPM,
    masterKeyFile: path.resolve(
      v["master-key-file"] ??
        env.KMIPD_MASTER_KEY_FILE ??
        path.join(dataDir, (v["master-key-tpm"] ?? env.KMIPD_MASTER_KEY_TPM) ? "master.key.tpm" : "master.key"),
    ),
  });
}
