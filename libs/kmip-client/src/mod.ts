/**
 * @tessera/kmip-client — a KMIP client over mutually authenticated TLS: connection pool, failover across
 * servers, timeouts, batches and the common operations.
 * @module
 */
export * from "./connection.ts";
export * from "./client.ts";
