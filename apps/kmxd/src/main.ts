/**
 * The kmxd process: `kmxd --listen 127.0.0.1:7888 --data-dir D --attestd https://HOST:7889 --attestd-ca F`.
 * Exits 2 on a bad configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly.
 * @module
 */
import { runService } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startKmxd } from "./server.ts";

await runService({
  name: "kmxd",
  usage: USAGE,
  argv: process.argv.slice(2),
  env: process.env,
  loadConfig: (argv, env) => loadConfig(argv, env),
  async start(config, logger) {
    const node = await startKmxd(config, { logger });
    return { ready: `kmxd: listening on ${node.url} (data ${config.dataDir})`, close: () => node.close() };
  },
});
