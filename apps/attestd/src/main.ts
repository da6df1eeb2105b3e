/**
 * The attestd process: `attestd --listen 127.0.0.1:7889 --data-dir D [--database postgres://…] [--workers N]`.
 * Exits 2 on a bad configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly.
 * With `--workers N` (N > 1) this process is the primary of N serving processes on one socket (workers.ts).
 * @module
 */
import { runService } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startAttestd } from "./server.ts";
import { isWorker, runPrimary, runWorker } from "./workers.ts";

await runService({
  name: "attestd",
  usage: USAGE,
  argv: process.argv.slice(2),
  env: process.env,
  loadConfig: (argv, env) => loadConfig(argv, env),
  async start(config, logger) {
    // A worker serves quietly: its primary printed the ready line.
    if (isWorker()) return runWorker(config, logger.child({ worker: process.pid }));
    const workers = config.workers ?? 1;
    const node = workers > 1 ? await runPrimary(config, workers, logger) : await startAttestd(config, { logger });
    return { ready: `attestd: listening on ${node.url} (data ${config.dataDir}${workers > 1 ? `, ${workers} workers` : ""})`, close: () => node.close() };
  },
});
