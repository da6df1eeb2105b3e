/**
 * @tessera/kmip-client — a KMIP client over mutually authenticated TLS: connection pool, failover across
 * servers, timeouts, at-most-once sending of what is not idempotent, AbortSignal, batches and the common operations.
 * @module
 */
export * from "./connection.ts";
export * from "./client.ts";
export * from "./errors.ts";
