/**
 * Structured logs (pino) with secrets redacted.
 * @module
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";

/** A pino logger. */
export type Logger = PinoLogger;

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** The service's name, in every line as `name`. */
  readonly name: string;
  /** Minimum level (default `info`). */
  readonly level?: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Where lines go (default stdout); tests pass a stream to read them. */
  readonly destination?: DestinationStream;
}

/** Field names whose values never reach a log line, at the top level or up to three levels down. */
export const REDACTED_FIELDS = [
  "authorization",
  "cookie",
  "set-cookie",
  "password",
  "secret",
  "clientSecret",
  "token",
  "accessToken",
  "refreshToken",
  "key",
  "privateKey",
  "privateJwk",
  "masterKey",
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const f of REDACTED_FIELDS) {
    // Bracket notation: header names contain dashes.
    const k = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`;
    const dot = k.startsWith("[") ? "" : ".";
    paths.push(k, `*${dot}${k}`, `*.*${dot}${k}`, `*.*.*${dot}${k}`);
  }
  return paths;
}

/**
 * A pino logger whose Authorization and Cookie headers, passwords, secrets, tokens, keys and private JWKs
 * are replaced by `[redacted]` wherever they sit (up to three levels deep, which covers `req.headers.*`).
 *
 * @example
 * ```ts
 * const logger = createLogger({ name: "attestd", level: config.logLevel });
 * logger.info({ host }, "host enrolled");
 * ```
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      redact: { paths: redactPaths(), censor: "[redacted]" },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination(1),
  );
}
