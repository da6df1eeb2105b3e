/**
 * The kmxa process: `kmxa --tcti swtpm:host=…,port=… --attestd URL --attestd-ca F --kmxd URL --kmxd-ca F …`.
 * Prints `kmxa: listening on https://127.0.0.1:PORT and SOCKET` once both channels listen. Exits 2 on a bad
 * configuration (naming the field), 1 when the start fails; SIGTERM/SIGINT stop it cleanly (the socket file removed).
 * @module
 */
import { runService } from "@tessera/http";
import { loadConfig, USAGE } from "./config.ts";
import { startKmxa } from "./server.ts";

await runService({
  name: "kmxa",
  usage: USAGE,
  argv: process.argv.slice(2),
  env: process.env,
  loadConfig: (argv, env) => loadConfig(argv, env),
  async start(config, logger) {
    const agent = await startKmxa(config, { logger });
    return { ready: `kmxa: listening on ${agent.url} and ${agent.socketPath}`, close: () => agent.close() };
  },
});
