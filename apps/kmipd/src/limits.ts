/**
 * The defaults of the listener's connection limits, apart from the listener itself so that reading the
 * configuration (and `kmipd --help`) loads nothing of the server.
 * @module
 */

/** Defaults of the connection limits (see `ServerOptions` in server.ts). */
export const SERVER_LIMITS = Object.freeze({
  maxMessageSize: 4 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 300_000,
  maxConnections: 4_096,
  maxConnectionsPerAddress: 256,
  maxPartialBytes: 64 * 1024 * 1024,
});
