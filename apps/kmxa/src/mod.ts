/**
 * @tessera/kmxa: the host agent. The process is `bin/kmxa` (src/main.ts); this entry exposes the agent for tools
 * that start one in-process (the dev environment, benchmarks) and the local API's views for its clients.
 * @module
 */
export { startKmxa, SOCKET_MODE, KmxaStartError, type RunningKmxa, type StartOptions } from "./server.ts";
export { loadConfig, USAGE, type KmxaConfig } from "./config.ts";
export { createKeyService, KeyRequestError, type DataKey, type KeyService, type KeyServiceOptions, type KeyRequestErrorCode } from "./keys.ts";
export { createApp, type Channel, type KmxaDeps } from "./app.ts";
export { statusView, identityView, type IdentityView, type StatusView } from "./routes/status.ts";
export { KEY_PROBLEMS } from "./routes/keys.ts";
export * from "./agent_types.ts";
