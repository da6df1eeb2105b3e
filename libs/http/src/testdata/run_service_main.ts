// A daemon for run_service_test.ts: `--port N` is its configuration; `--fail` makes its start fail; it prints its
// ready line and, when stopped, "closed" to stderr.
import { ConfigError } from "../errors.ts";
import { runService } from "../run_service.ts";

await runService({
  name: "demo-d",
  usage: "usage: demo-d --port N [--fail]",
  argv: process.argv.slice(2),
  env: process.env,
  loadConfig(argv) {
    const i = argv.indexOf("--port");
    const port = Number(argv[i + 1]);
    if (i < 0 || !Number.isInteger(port)) throw new ConfigError("port", "flags", "is not a port number");
    return { port, fail: argv.includes("--fail"), logLevel: "silent" as const };
  },
  async start(config) {
    if (config.fail) throw new Error("cannot bind 127.0.0.1:1: permission denied");
    const keepAlive = setInterval(() => {}, 1000);
    return {
      ready: `demo-d: listening on ${config.port}`,
      async close() {
        clearInterval(keepAlive);
        process.stderr.write("closed\n");
      },
    };
  },
});
