/**
 * The KMIP client of a provider: its key servers in order, mutual TLS with the client certificate from the trust
 * set-up, KMIP 1.4 (which both kmipd and the PyKMIP server speak), a 3-second connect timeout so that a dead
 * server costs little before the next is tried.
 * @module
 */
import { KmipClient, type ServerAddress } from "@tessera/kmip-client";
import { KeyProviderConfigError } from "./errors.ts";

/** Options of {@link createProviderClient}. */
export interface ProviderClientOptions {
  /** Key servers, tried in this order. */
  servers: ServerAddress[];
  /** Client certificate and key (PEM) and the CA(s) of the servers' certificates (PEM). */
  tls: { cert: string; key: string; ca: string };
  /** Connections kept per server (default 4). */
  poolSize?: number;
  /** Per-request timeout in ms (default 30 000). */
  timeoutMs?: number;
}

/** Connect (TLS handshake included) timeout of a provider's client, in ms. */
export const PROVIDER_CONNECT_TIMEOUT_MS = 3_000;

/**
 * Makes a provider's pooled KMIP client. Close it with `client.close()`.
 * @throws KeyProviderConfigError for no server, a bad host or port, or a bad pool size or timeout
 * @example const client = createProviderClient({ servers: [{ host: "kms-1", port: 5696 }], tls: { cert, key, ca } });
 */
export function createProviderClient(options: ProviderClientOptions): KmipClient {
  const { servers, tls } = options;
  if (!Array.isArray(servers) || servers.length === 0) throw new KeyProviderConfigError("servers", "at least one key server is needed");
  servers.forEach((s, i) => {
    if (typeof s.host !== "string" || s.host.length === 0) throw new KeyProviderConfigError(`servers[${i}].host`, "empty");
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535)
      throw new KeyProviderConfigError(`servers[${i}].port`, `${String(s.port)} is not a port (1–65535)`);
  });
  for (const f of ["cert", "key", "ca"] as const) {
    if (typeof tls?.[f] !== "string" || tls[f].length === 0) throw new KeyProviderConfigError(`tls.${f}`, "a PEM text is needed");
  }
  if (options.poolSize !== undefined && (!Number.isInteger(options.poolSize) || options.poolSize < 1)) {
    throw new KeyProviderConfigError("poolSize", `${String(options.poolSize)} is not a positive integer`);
  }
  if (options.timeoutMs !== undefined && (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0)) {
    throw new KeyProviderConfigError("timeoutMs", `${String(options.timeoutMs)} is not a positive number`);
  }
  return new KmipClient({
    servers: servers.map((s) => ({ host: s.host, port: s.port })),
    tls: { cert: tls.cert, key: tls.key, ca: tls.ca },
    version: { major: 1, minor: 4 },
    poolSize: options.poolSize,
    timeoutMs: options.timeoutMs,
    connectTimeoutMs: PROVIDER_CONNECT_TIMEOUT_MS,
  });
}

/**
 * Reads a key server address `host:port` (`[v6-address]:port` for IPv6), as kmxd's API and tactl write them.
 * @throws KeyProviderConfigError naming `field` (default `kmipServers`)
 * @example parseKmipServer("kms-1.example:5696") // { host: "kms-1.example", port: 5696 }
 */
export function parseKmipServer(text: string, field = "kmipServers"): ServerAddress {
  const m = typeof text === "string" ? /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(text) : null;
  if (!m) throw new KeyProviderConfigError(field, `${JSON.stringify(text)} is not host:port (or [IPv6]:port)`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new KeyProviderConfigError(field, `${JSON.stringify(text)}: port ${port} is not 1–65535`);
  return { host: m[1] ?? m[2], port };
}
