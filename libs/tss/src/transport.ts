/**
 * The transport interface: one method that sends a command and returns its response.
 * @module
 */

/** A TPM transport (TCTI). Implementations serialize commands: one in flight at a time. */
export interface Transport {
  /** Human-readable description, e.g. `swtpm:host=127.0.0.1,port=2321`. */
  readonly description: string;
  /** Sends one command, resolves with the whole response. Rejects with a TssError. */
  send(command: Uint8Array): Promise<Uint8Array>;
  /** Closes the transport; later sends reject with TSS_CLOSED. */
  close(): Promise<void>;
}

/** Options common to all transports. */
export interface TransportOptions {
  /** Milliseconds to wait for a response (default 120 000: key generation on real TPMs is slow). */
  timeoutMs?: number;
  /** Milliseconds to wait for a connection (default 5 000). */
  connectTimeoutMs?: number;
}

/** Largest response accepted (TPM responses are at most a few KiB; MAX_RESPONSE_SIZE is usually 4096). */
export const MAX_RESPONSE_SIZE = 65536;

/** Reads the size field of a (partial) TPM response header, or -1 when fewer than 6 bytes are there. */
export function responseSize(buf: Uint8Array, length: number): number {
  if (length < 6) return -1;
  return ((buf[2] << 24) >>> 0) + (buf[3] << 16) + (buf[4] << 8) + buf[5];
}

/** Runs send operations one at a time. */
export class Serializer {
  #tail: Promise<unknown> = Promise.resolve();
  /** Queues `fn` after every earlier one. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}
