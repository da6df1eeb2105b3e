/**
 * The TLS listener: mutually authenticated TLS 1.2/1.3, one TTLV message at a time per connection, the
 * client's identity taken from its certificate's subject. SIGTERM-style `close()` stops accepting, lets
 * requests in flight finish, then ends connections.
 *
 * Hostile clients are bounded: the TLS handshake, the receipt of each whole request and idle time have deadlines;
 * connections are capped in total and per client address (a connection over a cap is accepted and closed at
 * once, so that the listener keeps accepting); and the bytes of partly received requests, over all connections,
 * have a budget. Each limit closes the connection with a log line.
 * @module
 */
import type { Socket } from "node:net";
import { createServer, type TLSSocket } from "node:tls";
import { ttlvMessageLength } from "@tessera/kmip";
import { certificateSubject } from "@tessera/pki";
import { type DispatchDeps, handleMessage } from "./dispatch.ts";
import { SERVER_LIMITS } from "./limits.ts";

export { SERVER_LIMITS };

/** TLS material and limits of the listener. */
export interface ServerOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  clientCaPem: string;
  /** Largest request accepted (default 4 MiB). */
  maxMessageSize?: number;
  /** A TLS handshake not finished this many ms after the TCP connection closes it (default 10 s). */
  handshakeTimeoutMs?: number;
  /** A request whose last byte has not arrived this many ms after its first closes the connection (default 30 s). */
  requestTimeoutMs?: number;
  /** Idle connections are closed after this many ms (default 5 minutes). */
  idleTimeoutMs?: number;
  /** Connections open at once, handshakes included, in this listener (default 4096). */
  maxConnections?: number;
  /** Connections open at once from one client IP address, in this listener (default 256). */
  maxConnectionsPerAddress?: number;
  /** Bytes of partly received requests held over all connections of this listener (default 64 MiB). */
  maxPartialBytes?: number;
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
  /** TCP connections open (handshakes included), and bytes held in partly received requests. */
  usage(): { connections: number; partialBytes: number };
}

/** Who a peer is. */
export interface PeerIdentity {
  /** Its certificate subject as an unambiguous RFC 4514 string (`CN=bob,O=Example`): what owners and grants name. */
  identity: string;
  /** The subject for people and logs (`O=Example, CN=bob`); ambiguous, never compared. */
  readable: string;
}

/** The identity of a peer from its certificate's subject (stable across key rotation for the same name). */
export function peerIdentity(socket: TLSSocket): PeerIdentity | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return undefined;
  const dn = certificateSubject(new Uint8Array(cert.raw));
  return { identity: dn.rfc4514, readable: dn.readable };
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

/** A connection's hold on the partial-request budget. */
interface Holder {
  held(): number;
  evict(): void;
}

/** Starts the KMIP listener. */
export function startServer(
  deps: DispatchDeps,
  options: ServerOptions,
  log: (msg: string, fields?: Record<string, unknown>) => void = () => {},
): Promise<RunningServer> {
  const limits = { ...SERVER_LIMITS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof SERVER_LIMITS &
    ServerOptions;
  const maxSize = limits.maxMessageSize;
  const sockets = new Set<TLSSocket>();
  const rawSockets = new Set<Socket>();
  const holders = new Set<Holder>();
  /** TCP connections closed over a cap, and when each address was last logged for it. */
  const rejected = new WeakSet<Socket>();
  const overCapLogged = new Map<string, { at: number; closed: number }>();
  /** Handshake deadlines, by remote address and port. */
  const handshakes = new Map<string, NodeJS.Timeout>();
  const perAddress = new Map<string, number>();
  let open = 0;
  let partialBytes = 0;
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
      handshakeTimeout: limits.handshakeTimeoutMs,
    },
    (socket) => {
      const remote = socket.remoteAddress;
      const key = `${remote ?? "?"}|${socket.remotePort}`;
      clearTimeout(handshakes.get(key));
      handshakes.delete(key);
      let peer: PeerIdentity | undefined;
      try {
        peer = peerIdentity(socket);
      } catch (e) {
        log("client certificate subject unreadable; connection closed", { remote, error: (e as Error).message });
      }
      if (!peer) {
        socket.destroy();
        return;
      }
      const { identity, readable } = peer;
      const who = { client: readable, identity, remote };
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.setTimeout(limits.idleTimeoutMs, () => {
        log("connection idle; closed", who);
        socket.destroy();
      });
      // The request being received: its chunks as they came (joined once, when complete) and their length.
      let chunks: Buffer[] = [];
      let held = 0;
      let requestTimer: NodeJS.Timeout | undefined;
      const release = () => {
        partialBytes -= held;
        held = 0;
        chunks = [];
        clearTimeout(requestTimer);
        requestTimer = undefined;
      };
      const drop = (msg: string, fields: Record<string, unknown> = {}) => {
        log(msg, { ...who, ...fields });
        release();
        socket.destroy();
      };
      /** The length of the message at the head of `chunks`, or -1 while its header is incomplete. */
      const needed = (): number => {
        if (held < 8) return -1;
        if (chunks[0].length < 8) chunks = [Buffer.concat(chunks, held)];
        return ttlvMessageLength(chunks[0]);
      };
      /** Takes the first `n` held bytes as one message. */
      const take = (n: number): Uint8Array => {
        const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, held);
        // A copy: the message outlives the chunk it came in, which may be a slice of a larger buffer.
        const msg = new Uint8Array(all.subarray(0, n));
        const rest = all.subarray(n);
        partialBytes -= n;
        held -= n;
        chunks = rest.length > 0 ? [Buffer.from(rest)] : [];
        clearTimeout(requestTimer);
        requestTimer = undefined;
        if (held > 0) startRequestTimer();
        return msg;
      };
      const startRequestTimer = () => {
        requestTimer ??= setTimeout(
          () => drop("request not received in time; connection closed", { timeoutMs: limits.requestTimeoutMs, received: held }),
          limits.requestTimeoutMs,
        );
      };
      let busy = false;
      const pump = async () => {
        if (busy) return;
        busy = true;
        try {
          for (;;) {
            const need = needed();
            if (need < 0 || held < need) break;
            const msg = take(need);
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
      const holder: Holder = {
        held: () => held,
        evict: () => drop("partly received requests over their memory budget; connection with the largest closed", { budget: limits.maxPartialBytes, held }),
      };
      holders.add(holder);
      socket.on("data", (chunk: Buffer) => {
        // Over the budget, the connections holding the most go first (this one included): a client sending a
        // small request is not refused because others hold large partial ones.
        while (partialBytes + chunk.length > limits.maxPartialBytes) {
          let largest: Holder = holder;
          for (const h of holders) if (h.held() > largest.held()) largest = h;
          largest.evict();
          if (largest === holder) return;
        }
        if (held === 0) startRequestTimer();
        chunks.push(chunk);
        held += chunk.length;
        partialBytes += chunk.length;
        const need = needed();
        if (need > maxSize) {
          drop("request too large; connection closed", { size: need, limit: maxSize });
          return;
        }
        // Received whole: the deadline is met (the request may wait here for the one before it to be answered).
        if (need >= 0 && held >= need) {
          clearTimeout(requestTimer);
          requestTimer = undefined;
        }
        pump().catch((e: unknown) => drop("request handling failed; connection closed", { error: (e as Error).message, stack: (e as Error).stack }));
      });
      socket.on("error", (e) => log("connection error", { ...who, error: e.message, code: (e as NodeJS.ErrnoException).code }));
      socket.on("close", () => {
        holders.delete(holder);
        release();
        sockets.delete(socket);
      });
    },
  );
  // Caps are applied to the TCP connection, before the handshake: a connection over a cap is accepted and closed
  // at once, so that the listener keeps taking the others.
  server.on("connection", (raw: Socket) => {
    const address = raw.remoteAddress ?? "?";
    const fromAddress = (perAddress.get(address) ?? 0) + 1;
    if (open + 1 > limits.maxConnections || fromAddress > limits.maxConnectionsPerAddress) {
      // One line per address a second at most (with the count closed in between): a flood of connections is
      // not also a flood of log lines.
      const now = Date.now();
      const last = overCapLogged.get(address);
      if (!last || now - last.at >= 1_000) {
        if (overCapLogged.size >= 10_000) overCapLogged.clear();
        overCapLogged.set(address, { at: now, closed: 0 });
        log("too many connections; connection closed", {
          remote: address,
          open,
          fromAddress: fromAddress - 1,
          limit: open + 1 > limits.maxConnections ? limits.maxConnections : limits.maxConnectionsPerAddress,
          per: open + 1 > limits.maxConnections ? "server" : "address",
          closedSinceLastLine: last?.closed ?? 0,
        });
      } else last.closed++;
      rejected.add(raw);
      raw.destroy();
      return;
    }
    open++;
    perAddress.set(address, fromAddress);
    rawSockets.add(raw);
    // node's handshakeTimeout is an idle timeout, which a byte now and then defeats: this one is not.
    const key = `${address}|${raw.remotePort}`;
    handshakes.set(
      key,
      setTimeout(() => {
        handshakes.delete(key);
        log("TLS handshake not finished in time; connection closed", { remote: address, timeoutMs: limits.handshakeTimeoutMs });
        raw.destroy();
      }, limits.handshakeTimeoutMs),
    );
    raw.once("close", () => {
      clearTimeout(handshakes.get(key));
      handshakes.delete(key);
      rawSockets.delete(raw);
      open--;
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n === 0) perAddress.delete(address);
      else perAddress.set(address, n);
    });
  });
  server.on("tlsClientError", (e, s) => {
    // A connection closed over a cap also fails its handshake: it was logged already. (`_parent`, the TCP socket
    // under a server-side TLSSocket, is node's internal; without it the line is merely logged twice.)
    const parent = (s as unknown as { _parent?: Socket })._parent;
    if (parent && rejected.has(parent)) return;
    log("TLS handshake failed", { remote: s.remoteAddress ?? parent?.remoteAddress, error: e.message, code: (e as NodeJS.ErrnoException).code });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.port, host: options.host, reusePort: options.reusePort ?? false }, () => {
      server.off("error", reject);
      server.on("error", (e) => log("listener error", { error: e.message, code: (e as NodeJS.ErrnoException).code }));
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : options.port;
      resolve({
        host: options.host,
        port,
        usage: () => ({ connections: open, partialBytes }),
        close: () =>
          new Promise<void>((done) => {
            closing = true;
            server.close(() => done());
            const finish = () => {
              for (const s of sockets) s.end();
              setTimeout(() => {
                for (const s of sockets) s.destroy();
                // Connections still in their handshake.
                for (const s of rawSockets) s.destroy();
              }, 2000).unref();
            };
            if (inFlight === 0) finish();
            else drained = finish;
          }),
      });
    });
  });
}
