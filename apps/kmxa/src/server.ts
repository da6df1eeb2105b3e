/**
 * One running agent: the agent core (attestation, the TPM), the key service over kmxd, and the local API on the
 * Unix socket (plain HTTP, 0600) and on the TCP port (HTTPS with a local CA made on first start in D/tls/).
 * main.ts runs it for the process; tests start it in-process or as a process.
 * @module
 */
import { createAdaptorServer } from "@hono/node-server";
import { createServer, type Server } from "node:http";
import { chmod, lstat, mkdir, readFile, unlink } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { serveHttps, type HttpsService } from "@tessera/http";
import { ensureLocalTls, ensurePrivateDir } from "@tessera/service";
import type { Logger } from "pino";
import { createAgent } from "./agent.ts";
import type { Agent } from "./agent_types.ts";
import { createApp } from "./app.ts";
import type { KmxaConfig } from "./config.ts";
import { createKeyService } from "./keys.ts";
import { followingKeyService } from "./routes/config_routes.ts";

/** A running agent. */
export interface RunningKmxa {
  /** `https://127.0.0.1:PORT`: the TCP port (status, attest, identity). */
  readonly url: string;
  readonly port: number;
  /** The Unix socket (everything, keys included). */
  readonly socketPath: string;
  /** The agent core. */
  readonly agent: Agent;
  /** The local CA (PEM) that issued the TCP port's certificate, and its file. */
  readonly caCert: string;
  readonly caCertFile: string;
  /** Stops serving (both channels), removes the socket file, closes kmxd's connections and the agent. */
  close(): Promise<void>;
}

/** Options of {@link startKmxa}. */
export interface StartOptions {
  readonly logger: Logger;
  /** Default Date.now. */
  readonly clock?: { now(): number };
}

/** The mode of the socket file: the agent's user only. */
export const SOCKET_MODE = 0o600;

/** A refusal to start, naming what is wrong. */
export class KmxaStartError extends Error {
  /** Stable code: `SOCKET_IN_USE` (another process answers on it), `SOCKET_NOT_A_SOCKET` (the path is something else). */
  readonly code: "SOCKET_IN_USE" | "SOCKET_NOT_A_SOCKET";
  /** @param code stable code @param message text for people */
  constructor(code: "SOCKET_IN_USE" | "SOCKET_NOT_A_SOCKET", message: string) {
    super(message);
    this.name = "KmxaStartError";
    this.code = code;
  }
}

/** Whether something accepts connections on the socket file `p`. */
function answers(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(p);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Clears the way for a new socket at `p`: a socket file left by an agent that is gone is removed; a live one, or a
 * file that is not a socket, is refused (never deleted).
 */
async function clearStaleSocket(p: string): Promise<void> {
  let st;
  try {
    st = await lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (!st.isSocket()) throw new KmxaStartError("SOCKET_NOT_A_SOCKET", `${p} exists and is not a socket: not replacing it`);
  if (await answers(p)) throw new KmxaStartError("SOCKET_IN_USE", `another process listens on ${p} (is kmxa already running?)`);
  await unlink(p);
}

/** Listens on the Unix socket `p` with mode 0600 from its first moment (umask), checked afterwards. */
async function listenUnix(server: Server, p: string): Promise<void> {
  // A --socket outside the data directory (/run/kmxa/kmxa.sock) may name a directory not made yet: the agent's own.
  await mkdir(path.dirname(p), { recursive: true, mode: 0o700 });
  await clearStaleSocket(p);
  // The socket is created by bind(2) with the process umask: a umask that leaves only the owner's rw makes it
  // 0600 from the start (no window between bind and chmod). listen() binds synchronously for a path.
  const before = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(p, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(before);
  }
  await chmod(p, SOCKET_MODE);
}

/** Starts the agent on `config`. */
export async function startKmxa(config: KmxaConfig, options: StartOptions): Promise<RunningKmxa> {
  const { logger } = options;
  await ensurePrivateDir(config.dataDir, (msg, fields) => logger.warn(fields ?? {}, msg));
  const tlsFiles = await ensureLocalTls(config.dataDir, { service: "kmxa", hosts: [config.listen.host] });
  const [cert, key, caCert] = await Promise.all([
    readFile(tlsFiles.serverCertFile, "utf8"),
    readFile(tlsFiles.serverKeyFile, "utf8"),
    readFile(tlsFiles.caCertFile, "utf8"),
  ]);
  const socketPath = path.resolve(config.socket);
  // Refuse a live or foreign socket path before the agent takes the TPM (a second agent must not touch it).
  await clearStaleSocket(socketPath);
  const agent = await createAgent(config, { logger: logger.child({ component: "agent" }), ...(options.clock ? { clock: options.clock } : {}) });
  // kmxd as the agent's Trust Authority says (an imported identity wins over --kmxd), followed when it changes.
  const keys = followingKeyService(agent, (kmxd) => createKeyService({ kmxdUrl: kmxd.url, kmxdCa: kmxd.ca, agent }));
  const deps = { agent, keys, logger, settings: agent };
  const socketApp = createApp(deps, "socket");
  const tcpApp = createApp(deps, "tcp");
  const unix = createAdaptorServer({ fetch: socketApp.fetch, createServer }) as Server;
  unix.keepAliveTimeout = 30_000;
  let https: HttpsService | undefined;
  try {
    await listenUnix(unix, socketPath);
    https = await serveHttps((request: Request, env: never) => tcpApp.fetch(request, env), {
      host: config.listen.host,
      port: config.listen.port,
      cert,
      key,
    });
  } catch (e) {
    await new Promise<void>((resolve) => (unix.listening ? unix.close(() => resolve()) : resolve()));
    keys.close();
    await agent.close();
    throw e;
  }
  logger.info({ url: https.url, socket: socketPath, dataDir: config.dataDir, kmxd: config.kmxd.url }, "kmxa listening");
  const tcp = https;
  let closed: Promise<void> | undefined;
  return {
    url: tcp.url,
    port: tcp.port,
    socketPath,
    agent,
    caCert,
    caCertFile: tlsFiles.caCertFile,
    close() {
      closed ??= (async () => {
        const unixClosed = new Promise<void>((resolve) => {
          const timer = setTimeout(() => unix.closeAllConnections(), 5000);
          unix.close(() => {
            clearTimeout(timer);
            resolve();
          });
          unix.closeIdleConnections();
        });
        await Promise.all([unixClosed, tcp.close()]);
        // node removes the socket file when the server closes; a leftover (a crash in between) is cleared at start.
        await unlink(socketPath).catch(() => undefined);
        keys.close();
        await agent.close();
      })();
      return closed;
    },
  };
}
