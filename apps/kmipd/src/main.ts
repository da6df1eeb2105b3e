#!/usr/bin/env node
/**
 * kmipd process entry: configuration, logger, listen; SIGTERM/SIGINT drain connections and exit cleanly.
 * @module
 */
import { ConfigError, loadConfig } from "./config.ts";

// Everything kmipd creates is private to its user (files are also chmod'ed explicitly, whatever the umask).
process.umask(0o077);
let config;
try {
  config = loadConfig(process.argv.slice(2), process.env);
} catch (e) {
  if (e instanceof ConfigError) {
    process.stderr.write(`kmipd: ${e.field === "help" ? e.message.replace(/^--help: /, "") : e.message}\n`);
    process.exit(e.field === "help" ? 0 : 2);
  }
  throw e;
}
// The logger and the server load only once the options are good: `kmipd --help` and a bad flag answer at once.
const [{ pino }, { startKmipd }] = await Promise.all([import("pino"), import("./app.ts")]);
const logger = pino({ level: config.logLevel, redact: ["key", "keyPem", "material", "authorization"] });
const audit = logger.child({ audit: true });
// Audit records reach the process log only at a level that prints them (they are always in the database).
const kmipd = await startKmipd(
  config,
  (msg, fields) => logger.info(fields ?? {}, msg),
  audit.isLevelEnabled("info") ? (e) => audit.info(e, "audit") : undefined,
);
logger.info(
  {
    host: kmipd.server.host,
    port: kmipd.server.port,
    threads: config.threads,
    dataDir: config.dataDir,
    database: config.database.replace(/:[^:@/]*@/, ":***@"),
  },
  "kmipd listening",
);
process.stderr.write(`kmipd: listening on ${kmipd.server.host}:${kmipd.server.port}\n`);
if (kmipd.generatedTls) {
  const g = kmipd.generatedTls;
  process.stderr.write(
    `kmipd: ${g.created ? "created" : "using"} local TLS material: CA ${g.caCertFile}, client certificate ${g.clientCertFile}, client key ${g.clientKeyFile}\n`,
  );
}
let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "draining connections");
  await kmipd.close();
  logger.info("stopped");
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
