/**
 * The kmxd process: `kmxd --listen 127.0.0.1:7888 --data-dir D --attestd https://HOST:7889 --attestd-ca F`.
 * Exits 2 on a bad configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly.
 * @module
 */
import { ConfigError, createLogger } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startKmxd } from "./server.ts";

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
      process.stderr.write(`kmxd: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
  const logger = createLogger({ name: "kmxd", level: config.logLevel });
  const node = await startKmxd(config, { logger });
  process.stdout.write(`kmxd: listening on ${node.url} (data ${config.dataDir})\n`);
  const stop = (signal: string): void => {
    logger.info({ signal }, "stopping");
    node.close().then(
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
  process.stderr.write(`kmxd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
