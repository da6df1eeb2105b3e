/**
 * The attestd process: `attestd --listen 127.0.0.1:7889 --data-dir D [--database postgres://…] [--workers N]`.
 * Exits 2 on a bad configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly.
 * With `--workers N` (N > 1) this process is the primary of N serving processes on one socket (workers.ts).
 * @module
 */
import { ConfigError, createLogger } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startAttestd } from "./server.ts";
import { isWorker, runPrimary, runWorker } from "./workers.ts";

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
  const workers = config.workers ?? 1;
  let node: { readonly url: string; close(): Promise<void> };
  if (isWorker()) {
    node = await runWorker(config, logger.child({ worker: process.pid }));
  } else {
    node = workers > 1 ? await runPrimary(config, workers, logger) : await startAttestd(config, { logger });
    process.stdout.write(`attestd: listening on ${node.url} (data ${config.dataDir}${workers > 1 ? `, ${workers} workers` : ""})\n`);
  }
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
