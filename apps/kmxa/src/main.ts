/**
 * The kmxa process: `kmxa --tcti swtpm:host=…,port=… --attestd URL --attestd-ca F --kmxd URL --kmxd-ca F …`.
 * Prints `kmxa: listening on https://127.0.0.1:PORT and SOCKET` once both channels listen. Exits 2 on a bad
 * configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly (the socket file removed).
 * @module
 */
import { ConfigError, createLogger } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startKmxa } from "./server.ts";

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let config;
  try {
    config = loadConfig(argv, process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kmxa: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
  const logger = createLogger({ name: "kmxa", level: config.logLevel });
  const agent = await startKmxa(config, { logger });
  process.stdout.write(`kmxa: listening on ${agent.url} and ${agent.socketPath}\n`);
  const stop = (signal: string): void => {
    logger.info({ signal }, "stopping");
    agent.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "stopping failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`kmxa: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
