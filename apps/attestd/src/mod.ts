/**
 * @tessera/attestd: the Trust Authority's attestation service (PROTOCOL.md §1–3 and the token).
 *
 * - {@link loadConfig}: flags, environment and file → a frozen {@link AttestdConfig}.
 * - {@link startAttestd}: one node (bootstrap, HTTPS, the cluster status watcher); main.ts runs it.
 * - {@link createApp}: the Hono app over {@link AttestdDeps} (host protocol, JWKS, admin API).
 * - {@link bootstrap}: the data directory, TLS, master key, store, first signing key and admin account.
 * @module
 */
export * from "./deps.ts";
export { loadConfig, USAGE, type AttestdConfig } from "./config.ts";
export { createApp, BODY_LIMIT } from "./app.ts";
export { createDeps, selectionPcrs, type CreateDepsOptions } from "./context.ts";
export { bootstrap, ADMIN_GROUP, ADMIN_USER, SQLITE_FILE, type Bootstrapped } from "./bootstrap.ts";
export { startAttestd, type RunningAttestd, type StartOptions } from "./server.ts";
export { PROBLEM_CODES, PROBLEMS, type ProblemCode } from "./problems.ts";
