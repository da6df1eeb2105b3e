/**
 * Serving a fetch handler over HTTPS (node:https through @hono/node-server).
 * @module
 */
import { createAdaptorServer } from "@hono/node-server";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";

/** Options of {@link serveHttps}. */
export interface ServeHttpsOptions {
  /** Address to listen on (`127.0.0.1`, `::`, `0.0.0.0`, a name). */
  readonly host: string;
  /** Port; 0 picks a free one (see the result's `port`). */
  readonly port: number;
  /** Server certificate chain (PEM). */
  readonly cert: string;
  /** Server private key (PEM). */
  readonly key: string;
  /** CA certificates (PEM) that client certificates must chain to. */
  readonly ca?: string | readonly string[];
  /**
   * Ask clients for a certificate (checked against `ca`). A client without one, or with one that does not
   * verify, still connects: handlers decide, reading `socket.authorized` / `getPeerCertificate()` from
   * `c.env.incoming.socket`.
   */
  readonly requestClientCert?: boolean;
  /** How long {@link HttpsService.close} waits for requests in flight before cutting them (default 5000 ms). */
  readonly closeGraceMs?: number;
}

/** A listening HTTPS server. */
export interface HttpsService {
  /** `https://host:port` (a wildcard host is given as 127.0.0.1 or [::1]). */
  readonly url: string;
  /** The port listened on. */
  readonly port: number;
  /** The node:https server. */
  readonly server: Server;
  /** Stops listening, ends idle keep-alive connections, lets requests in flight finish (up to the grace), then ends the rest. */
  close(): Promise<void>;
}

/**
 * TLS 1.2 suites: ECDHE with AEAD ciphers only (no CBC, no RSA key exchange). TLS 1.3's suites are all AEAD.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/**
 * Serves `fetch` (e.g. a Hono app's `app.fetch`) over HTTPS: TLS 1.3, or 1.2 with AEAD suites only;
 * keep-alive connections (idle ones closed after 30 s); slow clients cut after 60 s of sending a request.
 *
 * @example
 * ```ts
 * const s = await serveHttps(app.fetch, { host: "0.0.0.0", port: 7889, cert, key });
 * logger.info({ url: s.url }, "listening");
 * process.once("SIGTERM", () => s.close());
 * ```
 */
export async function serveHttps(fetch: (request: Request, env: never) => Response | Promise<Response>, options: ServeHttpsOptions): Promise<HttpsService> {
  const server = createAdaptorServer({
    fetch: fetch as (request: Request) => Response | Promise<Response>,
    createServer,
    serverOptions: {
      cert: options.cert,
      key: options.key,
      ...(options.ca !== undefined ? { ca: typeof options.ca === "string" ? options.ca : [...options.ca] } : {}),
      requestCert: options.requestClientCert === true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
      keepAlive: true,
      requestTimeout: 60_000,
      headersTimeout: 30_000,
    },
  }) as Server;
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "" ? "127.0.0.1" : options.host === "::" ? "::1" : options.host;
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const grace = options.closeGraceMs ?? 5000;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), grace);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

/** A server bound before its application exists: see {@link serveHttpsFirst}. */
export interface DeferredHttpsService extends HttpsService {
  /** Hands every request from now on to `fetch` (the application built once the port is known). */
  route(fetch: (request: Request, env: never) => Response | Promise<Response>): void;
}

/**
 * Binds first and routes later: a service whose public URL names its port (`--listen HOST:0`) must know the port
 * before it builds its application (tokens' `iss`, exported identities). Until {@link DeferredHttpsService.route} is
 * called every request is answered 503 with `Retry-After: 1`. The node adapter's env (the socket) is passed through.
 * @example
 * ```ts
 * const https = await serveHttpsFirst({ host, port: 0, cert, key });
 * const app = createApp({ ...deps, publicUrl: `https://127.0.0.1:${https.port}` });
 * https.route((req, env) => app.fetch(req, env));
 * ```
 */
export async function serveHttpsFirst(options: ServeHttpsOptions): Promise<DeferredHttpsService> {
  let routed: ((request: Request, env: never) => Response | Promise<Response>) | undefined;
  const https = await serveHttps(
    (request: Request, env: never) => routed?.(request, env) ?? new Response("starting", { status: 503, headers: { "retry-after": "1" } }),
    options,
  );
  return Object.assign(https, {
    route(fetch: (request: Request, env: never) => Response | Promise<Response>): void {
      routed = fetch;
    },
  });
}
