/**
 * The TLS listener: mutually authenticated TLS 1.2/1.3, one TTLV message at a time per connection, the
 * client's identity taken from its certificate's subject. SIGTERM-style `close()` stops accepting, lets
 * requests in flight finish, then ends connections.
 * @module
 */
import { createServer, type TLSSocket } from "node:tls";
import { ttlvMessageLength } from "@tessera/kmip";
import { type DispatchDeps, handleMessage } from "./dispatch.ts";

/** TLS material and limits of the listener. */
export interface ServerOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  clientCaPem: string;
  /** Largest request accepted (default 4 MiB). */
  maxMessageSize?: number;
  /** Idle connections are closed after this many ms (default 5 minutes). */
  idleTimeoutMs?: number;
  /**
   * Listen with SO_REUSEPORT, so that listeners of several threads share the port and the kernel spreads
   * connections over them.
   */
  reusePort?: boolean;
}

/** A running server. */
export interface RunningServer {
  host: string;
  port: number;
  /** Stops accepting, waits for requests in flight, closes connections. */
  close(): Promise<void>;
}

/** The identity of a peer: its certificate subject as `CN=alice,O=…` (stable across key rotation for the same name). */
export function peerIdentity(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject) return undefined;
  return Object.entries(cert.subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`)
    .join(",");
}

// Modern suites that OpenSSL, Go and Python clients share (TLS 1.2), plus every TLS 1.3 suite.
const CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
].join(":");

/** Starts the KMIP listener. */
export function startServer(
  deps: DispatchDeps,
  options: ServerOptions,
  log: (msg: string, fields?: Record<string, unknown>) => void = () => {},
): Promise<RunningServer> {
  const maxSize = options.maxMessageSize ?? 4 * 1024 * 1024;
  const sockets = new Set<TLSSocket>();
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;
  const server = createServer(
    {
      cert: options.certPem,
      key: options.keyPem,
      ca: options.clientCaPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ciphers: CIPHERS,
      honorCipherOrder: true,
    },
    (socket) => {
      const identity = peerIdentity(socket);
      if (!identity) {
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.setTimeout(options.idleTimeoutMs ?? 300_000, () => socket.destroy());
      let buf: Buffer = Buffer.alloc(0);
      let busy = false;
      const pump = async () => {
        if (busy) return;
        busy = true;
        try {
          for (;;) {
            const need = ttlvMessageLength(buf);
            if (need < 0 || buf.length < need) break;
            if (need > maxSize) {
              log("request too large", { identity, size: need });
              socket.destroy();
              return;
            }
            const msg = new Uint8Array(buf.subarray(0, need));
            buf = buf.subarray(need);
            inFlight++;
            try {
              const res = await handleMessage(deps, identity, msg);
              if (!socket.destroyed) socket.write(res);
            } finally {
              inFlight--;
              if (closing && inFlight === 0) drained?.();
            }
          }
        } finally {
          busy = false;
        }
        if (closing && inFlight === 0) socket.end();
      };
      socket.on("data", (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (buf.length >= 8 && ttlvMessageLength(buf) > maxSize) {
          log("request too large", { identity, size: ttlvMessageLength(buf) });
          socket.destroy();
          return;
        }
        pump().catch(() => socket.destroy());
      });
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    },
  );
  server.on("tlsClientError", (e) => log("TLS handshake failed", { error: e.message }));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.port, host: options.host, reusePort: options.reusePort ?? false }, () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : options.port;
      resolve({
        host: options.host,
        port,
        close: () =>
          new Promise<void>((done) => {
            closing = true;
            server.close(() => done());
            const finish = () => {
              for (const s of sockets) s.end();
              setTimeout(() => {
                for (const s of sockets) s.destroy();
              }, 2000).unref();
            };
            if (inFlight === 0) finish();
            else drained = finish;
          }),
      });
    });
  });
}
