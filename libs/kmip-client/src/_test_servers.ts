/**
 * Loopback servers for the client's tests: a TLS server that reads KMIP requests and then misbehaves on purpose
 * (drops the connection, or never answers), and a TCP proxy that counts connections and can close them.
 * @module
 */
import { once } from "node:events";
import { createServer as createTcpServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { decodeRequest, decodeTtlv, enumName, ttlvMessageLength } from "@tessera/kmip";

/** A loopback TLS server that reads requests and answers none of them. */
export interface MisbehavingServer {
  port: number;
  /** TLS connections accepted so far. */
  connections: number;
  /** Operations of each complete request read so far, in order. */
  requests: string[][];
  /** Resolves when the next connection it accepted has closed. */
  closed(): Promise<void>;
  stop(): Promise<void>;
}

/** Server TLS material (PEM). */
export interface ServerTls {
  cert: string;
  key: string;
  ca: string;
}

/**
 * Starts a TLS server (client certificate required) that, after reading each complete request, either destroys
 * the connection (`"drop"`) or keeps it open without answering (`"silent"`).
 */
export async function misbehavingServer(tls: ServerTls, mode: "drop" | "silent"): Promise<MisbehavingServer> {
  const sockets = new Set<TLSSocket>();
  const closeWaiters: (() => void)[] = [];
  const s: MisbehavingServer = {
    port: 0,
    connections: 0,
    requests: [],
    closed: () => new Promise((r) => closeWaiters.push(r)),
    stop: async () => {
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = createTlsServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (socket) => {
    s.connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      closeWaiters.shift()?.();
    });
    let buf = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let n = ttlvMessageLength(buf); n > 0 && buf.length >= n; n = ttlvMessageLength(buf)) {
        s.requests.push(operations(buf.subarray(0, n)));
        buf = buf.subarray(n);
        if (mode === "drop") socket.destroy();
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  s.port = (server.address() as { port: number }).port;
  return s;
}

/** The operation names of a request message. */
export function operations(msg: Uint8Array): string[] {
  return decodeRequest(decodeTtlv(msg)).items.map((i) => enumName("Operation", i.operation));
}

/** A TCP proxy to a server: counts the connections it accepted and can close them all. */
export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Closes every open connection (both sides) and resolves when they are closed. */
  closeAll(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a TCP proxy on a loopback port to `target`. */
export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const closeAll = async () => {
    const all = [...pairs];
    await Promise.all(
      all.flatMap(([a, b]) => [a, b].map((x) => (x.destroyed ? Promise.resolve() : (x.destroy(), once(x, "close").then(() => undefined))))),
    );
  };
  const server: Server = createTcpServer((down) => {
    p.connections++;
    const up = tcpConnect(target.port, target.host);
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    for (const x of pair) {
      x.on("error", () => {});
      x.on("close", () => {
        pairs.delete(pair);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const p: TcpProxy = {
    port: (server.address() as { port: number }).port,
    connections: 0,
    closeAll,
    stop: async () => {
      await closeAll();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return p;
}
