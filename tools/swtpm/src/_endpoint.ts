/**
 * Where one swtpm listens (loopback TCP ports P/P+1, or a unix socket and `<path>.ctrl`), and the ways
 * to reach it: its TCTI string and a @tessera/tss transport. TPM commands and control-channel commands
 * go through that transport only.
 * @module
 */
import { existsSync } from "node:fs";
import net from "node:net";
import { type SocketAddress, SwtpmTransport, type TransportOptions } from "@tessera/tss";

/** swtpm's data and control channel. */
export type Endpoint = { readonly kind: "tcp"; readonly host: string; readonly port: number } | { readonly kind: "unix"; readonly path: string };

/** The data channel's address. */
export function dataAddress(e: Endpoint): SocketAddress {
  return e.kind === "tcp" ? { host: e.host, port: e.port } : { path: e.path };
}

/** The control channel's address: TCP port + 1, or `<path>.ctrl` (the name tpm2-tss's swtpm TCTI derives). */
export function ctrlAddress(e: Endpoint): SocketAddress {
  return e.kind === "tcp" ? { host: e.host, port: e.port + 1 } : { path: `${e.path}.ctrl` };
}

/** TCTI string for tpm2-tools / tpm2-tss / @tessera/tss. */
export function tctiOf(e: Endpoint): string {
  return e.kind === "tcp" ? `swtpm:host=${e.host},port=${e.port}` : `swtpm:path=${e.path}`;
}

/** A @tessera/tss transport to the endpoint (data and control channel); the caller closes it. */
export function swtpmTransport(e: Endpoint, options?: TransportOptions): SwtpmTransport {
  return new SwtpmTransport(dataAddress(e), ctrlAddress(e), options);
}

/**
 * Whether the data channel accepts a connection right now (it is closed again at once, without sending anything).
 *
 * @param e the endpoint
 * @param timeoutMs how long a connection attempt may take
 */
export function acceptsConnections(e: Endpoint, timeoutMs: number): Promise<boolean> {
  if (e.kind === "unix" && !existsSync(e.path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = net.connect(dataAddress(e));
    const done = (accepted: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepted);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
