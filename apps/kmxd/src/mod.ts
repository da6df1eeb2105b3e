/**
 * @tessera/kmxd: the Key Provider Service. The process is `bin/kmxd` (src/main.ts); this entry exposes the node
 * for tools that start one in-process (benchmarks).
 * @module
 */
export { startKmxd, type RunningKmxd, type StartOptions } from "./server.ts";
export { loadConfig, USAGE, type KmxdConfig } from "./config.ts";
export type { KmxdDeps } from "./deps.ts";
