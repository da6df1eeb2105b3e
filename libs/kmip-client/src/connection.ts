/**
 * One mutually authenticated TLS connection to a KMIP server: send a request message, read the response
 * (framed by its TTLV length), one request at a time, with a timeout.
 * @module
 */
import { connect, type TLSSocket } from "node:tls";
import { KmipTransportError, ttlvMessageLength } from "@tessera/kmip";

/** TLS material for a client. */
export interface ClientTls {
  /** Client certificate (PEM). */
  cert: string;
  /** Client private key (PEM). */
  key: string;
  /** CA(s) that sign the server certificate (PEM). */
  ca: string;
  /** Server name to verify (default: the host). */
  servername?: string;
}

/** A KMIP server address. */
export interface ServerAddress {
  host: string;
  port: number;
}

const MAX_RESPONSE = 64 * 1024 * 1024;

/** A single connection. */
export class KmipConnection {
  readonly address: ServerAddress;
  #socket: TLSSocket;
  #buf: Buffer = Buffer.alloc(0);
  #waiter: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(address: ServerAddress, socket: TLSSocket) {
    this.address = address;
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", (e) => this.#fail(new KmipTransportError(`${this.#where()}: ${e.message}`, { cause: e })));
    socket.on("close", () => this.#fail(new KmipTransportError(`${this.#where()}: connection closed`)));
  }

  #where(): string {
    return `KMIP server ${this.address.host}:${this.address.port}`;
  }

  /** Opens a connection (TLS handshake included) within `timeoutMs`. */
  static open(address: ServerAddress, tls: ClientTls, timeoutMs = 10_000): Promise<KmipConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: address.host,
        port: address.port,
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca,
        servername: tls.servername ?? (/^[\d.:]+$/.test(address.host) ? undefined : address.host),
        minVersion: "TLSv1.2",
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new KmipTransportError(`KMIP server ${address.host}:${address.port}: no TLS connection within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new KmipConnection(address, socket));
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(new KmipTransportError(`KMIP server ${address.host}:${address.port}: ${e.message}`, { cause: e }));
      });
    });
  }

  /** Whether the connection can still be used. */
  get usable(): boolean {
    return !this.#closed && !this.#socket.destroyed;
  }

  /** Sends one request and resolves with the response bytes. */
  send(request: Uint8Array, timeoutMs = 30_000): Promise<Uint8Array> {
    const run = () =>
      new Promise<Uint8Array>((resolve, reject) => {
        if (!this.usable) {
          reject(new KmipTransportError(`${this.#where()}: connection is closed`));
          return;
        }
        const timer = setTimeout(() => {
          this.#fail(new KmipTransportError(`${this.#where()}: no response within ${timeoutMs} ms`));
        }, timeoutMs);
        this.#waiter = { resolve, reject, timer };
        this.#socket.write(request);
      });
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const need = ttlvMessageLength(this.#buf);
    if (need > MAX_RESPONSE) {
      this.#fail(new KmipTransportError(`${this.#where()}: response of ${need} bytes is too large`));
      return;
    }
    if (need < 0 || this.#buf.length < need) return;
    const msg = new Uint8Array(this.#buf.subarray(0, need));
    this.#buf = this.#buf.subarray(need);
    const w = this.#waiter;
    this.#waiter = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.resolve(msg);
    } else {
      this.#fail(new KmipTransportError(`${this.#where()}: unsolicited response`));
    }
  }

  #fail(e: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    const w = this.#waiter;
    this.#waiter = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#closed = true;
    this.#socket.end();
    this.#socket.destroy();
  }
}
