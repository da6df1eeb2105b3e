/**
 * The transport interface: one method that sends a command and returns its response.
 * @module
 */

import type { CommandClass } from "./timeouts.ts";

/** Per-command options of {@link Transport.send}. */
export interface SendOptions {
  /**
   * Aborts the command: while it waits its turn it is never sent; once sent, the caller is answered at
   * once with a CommandAbortedError and the TPM's late answer is kept from the next command.
   */
  signal?: AbortSignal;
  /** Milliseconds to wait for this command's answer (overrides the transport's per-class timeouts). */
  timeoutMs?: number;
}

/** A TPM transport (TCTI). Implementations serialize commands: one in flight at a time. */
export interface Transport {
  /** Human-readable description, e.g. `swtpm:host=127.0.0.1,port=2321`. */
  readonly description: string;
  /**
   * How many times the transport dropped its device descriptor or connection after a timeout or a
   * failure (it reopens on the next command). Transient objects and sessions loaded before may be gone
   * (always so behind a resource manager such as /dev/tpmrm0). Absent: the transport never reopens.
   */
  readonly epoch?: number;
  /** Sends one command, resolves with the whole response. Rejects with a TssError. */
  send(command: Uint8Array, options?: SendOptions): Promise<Uint8Array>;
  /** Closes the transport; later sends reject with TSS_CLOSED. */
  close(): Promise<void>;
}

/** Options common to all transports. */
export interface TransportOptions {
  /**
   * Milliseconds to wait for any response, whatever the command. Unset (the default), the per-class
   * `timeouts` apply.
   */
  timeoutMs?: number;
  /**
   * Milliseconds to wait for a response, by command class (see `commandClass`). Defaults
   * (`DEFAULT_TIMEOUTS`): short 10 000 (GetCapability, GetRandom, PCR_Read, ReadPublic, FlushContext…),
   * standard 60 000, long 300 000 (CreatePrimary, Create, CreateLoaded, SelfTest, Startup: RSA key
   * generation on real TPMs takes tens of seconds).
   */
  timeouts?: Partial<Record<CommandClass, number>>;
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
