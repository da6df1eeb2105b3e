/**
 * swtpm over TCP or a Unix socket: raw TPM commands on the data channel, and swtpm's control channel
 * (TCP port+1 or the ctrl socket) for power-on (CMD_INIT), locality and shutdown.
 * @module
 */
import { connect, type Socket } from "node:net";
import { ExchangeQueue } from "./_exchange.ts";
import { TssError } from "./errors.ts";
import { timeoutFor } from "./timeouts.ts";
import { MAX_RESPONSE_SIZE, responseSize, type SendOptions, type Transport, type TransportOptions } from "./transport.ts";

/** Where an swtpm listens. */
export type SocketAddress = { host: string; port: number } | { path: string };

/** swtpm control-channel commands (swtpm's tpm_ioctl.h). */
export const SWTPM_CTRL = {
  GET_CAPABILITY: 1,
  INIT: 2,
  SHUTDOWN: 3,
  GET_TPMESTABLISHED: 4,
  SET_LOCALITY: 5,
  HASH_START: 6,
  HASH_DATA: 7,
  HASH_END: 8,
  CANCEL_TPM_CMD: 9,
  STORE_VOLATILE: 10,
  RESET_TPMESTABLISHED: 11,
  GET_STATEBLOB: 12,
  SET_STATEBLOB: 13,
  STOP: 14,
  GET_CONFIG: 15,
  SET_DATAFD: 16,
  SET_BUFFERSIZE: 17,
  GET_INFO: 18,
} as const;

function describe(a: SocketAddress): string {
  return "path" in a ? `swtpm:path=${a.path}` : `swtpm:host=${a.host},port=${a.port}`;
}

function open(a: SocketAddress, timeoutMs: number, what: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = "path" in a ? connect({ path: a.path }) : connect({ host: a.host, port: a.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new TssError("TSS_TIMEOUT", `${what}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.setNoDelay?.(true);
      resolve(s);
    });
    s.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = e.code === "ECONNREFUSED" || e.code === "ENOENT" ? "TSS_TPM_ABSENT" : "TSS_IO";
      reject(new TssError(code, `${what}: ${code === "TSS_TPM_ABSENT" ? "no TPM listening" : "cannot connect"} (${e.code ?? e.message})`, { cause: e }));
    });
  });
}

function describeSize(buf: Uint8Array, len: number): string {
  const n = responseSize(buf, len);
  return n < 0 ? "truncated header" : `${n} bytes`;
}

/** The total length of a TPM response once its header is in: NaN when the header is impossible. */
export function tpmResponseLength(buf: Uint8Array, len: number): number {
  const n = responseSize(buf, len);
  return n >= 0 && n < 10 ? NaN : n;
}

/**
 * Reads one framed message from `s`: `expected(buf, len)` tells the total length once known (-1 = not yet).
 * `timeoutMs` Infinity: the caller keeps time.
 */
function readMessage(s: Socket, timeoutMs: number, what: string, expected: (buf: Uint8Array, len: number) => number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let buf = new Uint8Array(4096);
    let len = 0;
    const done = (err: Error | null, v?: Uint8Array) => {
      clearTimeout(timer);
      s.off("data", onData);
      s.off("error", onError);
      s.off("close", onClose);
      if (err) reject(err);
      else resolve(v!);
    };
    const onData = (chunk: Uint8Array) => {
      if (len + chunk.length > buf.length) {
        const nb = new Uint8Array(Math.max(buf.length * 2, len + chunk.length));
        nb.set(buf.subarray(0, len));
        buf = nb;
      }
      buf.set(chunk, len);
      len += chunk.length;
      const want = expected(buf, len);
      if (want > MAX_RESPONSE_SIZE || Number.isNaN(want)) {
        s.destroy();
        done(new TssError("TSS_IO", `${what}: response header declares an impossible size (${describeSize(buf, len)})`));
      } else if (want >= 0 && len >= want) {
        if (len > want) {
          s.destroy();
          done(new TssError("TSS_IO", `${what}: ${len - want} bytes more than the response declared`));
        } else done(null, buf.slice(0, want));
      }
    };
    const onError = (e: Error) => done(new TssError("TSS_IO", `${what}: ${e.message}`, { cause: e }));
    const onClose = () => done(new TssError("TSS_IO", `${what}: connection closed after ${len} bytes of the response`));
    const timer =
      timeoutMs === Infinity
        ? undefined
        : setTimeout(() => {
            s.destroy();
            done(new TssError("TSS_TIMEOUT", `${what}: no response within ${timeoutMs} ms`));
          }, timeoutMs);
    s.on("data", onData);
    s.once("error", onError);
    s.once("close", onClose);
  });
}

/**
 * A transport to swtpm's data channel, plus its control channel. The answer of a command that timed out
 * or was aborted is read and discarded before the next command is written. After a broken connection, or
 * when that late answer does not come within the next command's timeout, it drops the connection, counts
 * up {@link SwtpmTransport.epoch} and connects again on the next command (swtpm has no resource manager:
 * loaded objects and sessions survive a reconnection).
 */
export class SwtpmTransport implements Transport {
  readonly description: string;
  readonly #data: SocketAddress;
  readonly #ctrl: SocketAddress;
  readonly #options: TransportOptions;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #queue: ExchangeQueue;
  #socket: Socket | undefined;
  #closed = false;
  #epoch = 0;

  /**
   * @param data data channel address
   * @param ctrl control channel address (TCP: port+1; Unix: the ctrl socket path)
   */
  constructor(data: SocketAddress, ctrl: SocketAddress, options: TransportOptions = {}) {
    this.#data = data;
    this.#ctrl = ctrl;
    this.description = describe(data);
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#queue = new ExchangeQueue(this.description, { wedged: () => this.#drop() });
  }

  /** How many times the data connection was dropped after a timeout or failure (see {@link Transport.epoch}). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Sends one TPM command on the data channel. */
  send(command: Uint8Array, options: SendOptions = {}): Promise<Uint8Array> {
    return this.#queue.run(
      async () => {
        if (this.#closed) throw new TssError("TSS_CLOSED", `${this.description}: transport is closed`);
        if (!this.#socket || this.#socket.destroyed) {
          if (this.#socket) this.#epoch++;
          this.#socket = await open(this.#data, this.#connectTimeoutMs, this.description);
        }
        const socket = this.#socket;
        const reading = readMessage(socket, Infinity, this.description, tpmResponseLength);
        socket.write(command);
        try {
          return await reading;
        } catch (e) {
          if (socket === this.#socket) this.#drop();
          throw e;
        }
      },
      timeoutFor(command, this.#options, options.timeoutMs),
      options.signal,
    );
  }

  #drop(): void {
    if (!this.#socket) return;
    this.#socket.destroy();
    this.#socket = undefined;
    this.#epoch++;
  }

  /**
   * Sends one control-channel command (a fresh connection each time, as tpm2-tss does) and returns the
   * 32-bit result code followed by any payload. `responseLength` is the expected total response size.
   */
  async control(cmd: number, payload: Uint8Array = new Uint8Array(), responseLength = 4): Promise<Uint8Array> {
    const what = `${this.description} control channel`;
    const s = await open(this.#ctrl, this.#connectTimeoutMs, what);
    try {
      const msg = new Uint8Array(4 + payload.length);
      new DataView(msg.buffer).setUint32(0, cmd);
      msg.set(payload, 4);
      const reading = readMessage(s, this.#timeoutMs, what, (_b, len) => (len >= 4 ? responseLength : -1));
      s.write(msg);
      const res = await reading;
      const result = new DataView(res.buffer, res.byteOffset).getUint32(0);
      if (result !== 0) throw new TssError("TSS_IO", `${what}: command ${cmd} failed with result 0x${result.toString(16)}`);
      return res;
    } finally {
      s.destroy();
    }
  }

  /** Powers the TPM on (CMD_INIT). The TPM then needs TPM2_Startup. */
  async powerOn(): Promise<void> {
    await this.control(SWTPM_CTRL.INIT, new Uint8Array(4));
  }

  /** Sets the locality of the next commands (CMD_SET_LOCALITY). */
  async setLocality(locality: number): Promise<void> {
    await this.control(SWTPM_CTRL.SET_LOCALITY, new Uint8Array([locality]));
  }

  /** Closes the data connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#socket?.destroy();
    this.#socket = undefined;
  }
}
