/**
 * One mutually authenticated TLS connection to a KMIP server: send a request message, read the response
 * (framed by its TTLV length), one request at a time, with a timeout and an AbortSignal.
 * @module
 */
import { connect, type TLSSocket } from "node:tls";
import { KmipTransportError, ttlvMessageLength } from "@tessera/kmip";
import { unsent } from "./_unsent.ts";

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

/** Options of {@link KmipConnection.open}. */
export interface OpenOptions {
  /** Give up when the TLS handshake has not completed within this many ms (default 10 000). */
  timeoutMs?: number;
  /** Aborting it stops connecting and rejects with its reason. */
  signal?: AbortSignal;
}

/** Options of {@link KmipConnection.send}. */
export interface SendOptions {
  /** Fail (and close the connection) when no response came within this many ms (default 30 000). */
  timeoutMs?: number;
  /**
   * Aborting it before the request is written rejects without writing it; aborting while the response is awaited
   * closes the connection (a late response would be taken for the next request's) and rejects with its reason.
   */
  signal?: AbortSignal;
}

interface Waiter {
  resolve: (b: Uint8Array) => void;
  reject: (e: unknown) => void;
}

/** A single connection; requests sent while one is outstanding wait their turn. */
export class KmipConnection {
  readonly address: ServerAddress;
  #socket: TLSSocket;
  #buf: Buffer = Buffer.alloc(0);
  #waiter: Waiter | undefined;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(address: ServerAddress, socket: TLSSocket) {
    this.address = address;
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", (e) => this.#fail(new KmipTransportError(`${this.#where()}: ${e.message}`, { cause: e })));
    // The server ending the connection (e.g. closing an idle one) makes it unusable at once, so that a pool
    // does not write the next request into it.
    socket.on("end", () => this.#fail(new KmipTransportError(`${this.#where()}: connection closed by the server`)));
    socket.on("close", () => this.#fail(new KmipTransportError(`${this.#where()}: connection closed`)));
  }

  #where(): string {
    return `KMIP server ${this.address.host}:${this.address.port}`;
  }

  /**
   * Opens a connection (TLS handshake included) within `timeoutMs` (a number, or `{ timeoutMs, signal }`).
   * @example const conn = await KmipConnection.open({ host: "kms.example", port: 5696 }, tls, { timeoutMs: 5_000, signal });
   */
  static open(address: ServerAddress, tls: ClientTls, options: number | OpenOptions = {}): Promise<KmipConnection> {
    const { timeoutMs = 10_000, signal } = typeof options === "number" ? { timeoutMs: options } : options;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const socket = connect({
        host: address.host,
        port: address.port,
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca,
        servername: tls.servername ?? (/^[\d.:]+$/.test(address.host) ? undefined : address.host),
        minVersion: "TLSv1.2",
      });
      const onAbort = () => {
        done();
        socket.destroy();
        reject(signal?.reason);
      };
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        done();
        socket.destroy();
        reject(new KmipTransportError(`KMIP server ${address.host}:${address.port}: no TLS connection within ${timeoutMs} ms`));
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("secureConnect", () => {
        done();
        socket.setNoDelay(true);
        resolve(new KmipConnection(address, socket));
      });
      socket.once("error", (e) => {
        done();
        reject(new KmipTransportError(`KMIP server ${address.host}:${address.port}: ${e.message}`, { cause: e }));
      });
    });
  }

  /** Whether the connection can still be used. */
  get usable(): boolean {
    return !this.#closed && !this.#socket.destroyed && !this.#socket.readableEnded;
  }

  /**
   * Sends one request and resolves with the response bytes. `options` is the timeout in ms or
   * `{ timeoutMs, signal }`. A failure before the request was written leaves it unsent; any failure after it was
   * written closes the connection.
   */
  send(request: Uint8Array, options: number | SendOptions = {}): Promise<Uint8Array> {
    const { timeoutMs = 30_000, signal } = typeof options === "number" ? { timeoutMs: options } : options;
    const run = () =>
      new Promise<Uint8Array>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        if (!this.usable) {
          reject(unsent(new KmipTransportError(`${this.#where()}: connection is closed`)));
          return;
        }
        const onAbort = () => this.#fail(signal?.reason);
        const timer = setTimeout(() => this.#fail(new KmipTransportError(`${this.#where()}: no response within ${timeoutMs} ms`)), timeoutMs);
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        };
        this.#waiter = {
          resolve: (b) => {
            done();
            resolve(b);
          },
          reject: (e) => {
            done();
            reject(e);
          },
        };
        signal?.addEventListener("abort", onAbort, { once: true });
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
    if (w) w.resolve(msg);
    else this.#fail(new KmipTransportError(`${this.#where()}: unsolicited response`));
  }

  /** Closes the connection and fails the outstanding request (if any) with `reason`. */
  #fail(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(reason);
  }

  /** Closes the connection. */
  close(): void {
    this.#fail(new KmipTransportError(`${this.#where()}: connection closed by the client`));
  }
}
