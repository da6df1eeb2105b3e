/**
 * @tessera/process-testing: start a service as its own process (attestd, kmxd, kmipd, …) and wait for its ready
 * line, for tests, benchmarks and the demo.
 * @module
 */
export { eventually } from "./eventually.ts";
export { freePort } from "./free_port.ts";
export { spawnReady, type ReadyProcess, type SpawnReadyOptions } from "./spawn_ready.ts";
