/**
 * The attestd process: `attestd --listen 127.0.0.1:7889 --data-dir D [--database postgres://…]`.
 * Exits 2 on a bad configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly.
 * @module
 */
import { ConfigError, createLogger } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startAttestd } from "./server.ts";

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
      process.stderr.write(`attestd: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
  const logger = createLogger({ name: "attestd", level: config.logLevel });
  const node = await startAttestd(config, { logger });
  process.stdout.write(`attestd: listening on ${node.url} (data ${config.dataDir})\n`);
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
  process.stderr.write(`attestd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
