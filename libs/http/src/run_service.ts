/**
 * The process side every Tessera daemon shares (attestd, kmxd, kmxa): `--help`, the configuration (exit 2 naming
 * the field), the logger, the start (exit 1 with its error), the ready line, and a clean stop on SIGTERM/SIGINT.
 * @module
 */
import { ConfigError } from "./errors.ts";
import { createLogger, type Logger } from "./logger.ts";

/** pino's levels, as the services' `--log-level` takes them. */
export type LogLevelName = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** What a started service gives back. */
export interface StartedService {
  /** The line printed on stdout once it serves (tests and scripts wait for it), e.g. `kmxd: listening on https://…`. */
  readonly ready?: string;
  /** Stops serving and releases everything. */
  close(): Promise<void>;
}

/** Options of {@link runService}. */
export interface RunServiceOptions<C extends { readonly logLevel: LogLevelName }> {
  /** The program's name: the prefix of its messages and the logger's name. */
  readonly name: string;
  readonly usage: string;
  /** The command line without the node and script paths. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** @throws ConfigError for a bad configuration */
  loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): C;
  start(config: C, logger: Logger): Promise<StartedService>;
}

/**
 * Runs a daemon's `main`: prints the usage for `--help`/`-h`; exits 2 with the ConfigError's message on a bad
 * configuration; exits 1 with the error when the start fails; prints the ready line; on SIGTERM or SIGINT closes
 * the service and exits 0 (1 when closing fails).
 *
 * @example
 * ```ts
 * await runService({ name: "kmxd", usage: USAGE, argv: process.argv.slice(2), env: process.env, loadConfig,
 *   start: async (config, logger) => { const n = await startKmxd(config, { logger }); return { ready: `kmxd: listening on ${n.url}`, close: n.close } } });
 * ```
 */
export async function runService<C extends { readonly logLevel: LogLevelName }>(options: RunServiceOptions<C>): Promise<void> {
  const { name } = options;
  if (options.argv.includes("--help") || options.argv.includes("-h")) {
    process.stdout.write(`${options.usage}\n`);
    return;
  }
  let config: C;
  try {
    config = options.loadConfig(options.argv, options.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${name}: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
  const logger = createLogger({ name, level: config.logLevel });
  let service: StartedService;
  try {
    service = await options.start(config, logger);
  } catch (err) {
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const stop = (signal: string): void => {
    logger.info({ signal }, "stopping");
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "stopping failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  // Only now: whoever waits for this line may signal at once, and a signal before the handlers would kill the
  // process without closing the service.
  if (service.ready !== undefined) process.stdout.write(`${service.ready}\n`);
}
