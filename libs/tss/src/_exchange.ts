/**
 * The command/response discipline shared by the device and socket transports: one command in flight,
 * a timeout per command, and an AbortSignal. A command aborted after it was written is still answered
 * by the TPM; that late answer is read and discarded before the next command is written, so that no
 * command ever receives the previous one's response.
 * @module
 */
import { CommandAbortedError, TssError } from "./errors.ts";
import { Serializer } from "./transport.ts";

/** One transport's queue of exchanges. */
export class ExchangeQueue {
  readonly #what: string;
  readonly #queue = new Serializer();
  /** The exchange of an aborted command, still to be answered. */
  #orphan: Promise<unknown> | undefined;

  /** @param what the transport's description, for messages */
  constructor(what: string) {
    this.#what = what;
  }

  /**
   * Runs `exchange` (write the command, read its whole response) after every earlier one and after any
   * aborted command's late answer. `broken` is called when the exchange timed out or failed: the caller
   * drops its descriptor or connection and reopens on the next command.
   */
  run(exchange: () => Promise<Uint8Array>, timeoutMs: number, signal: AbortSignal | undefined, broken: (reason: unknown) => void): Promise<Uint8Array> {
    let sent = false;
    const job = this.#queue.run(async () => {
      if (signal?.aborted) throw new CommandAbortedError(`${this.#what}: command aborted before it was sent`, undefined, { cause: signal.reason });
      if (this.#orphan) {
        const orphan = this.#orphan;
        this.#orphan = undefined;
        await orphan;
      }
      if (signal?.aborted) throw new CommandAbortedError(`${this.#what}: command aborted before it was sent`, undefined, { cause: signal.reason });
      sent = true;
      const answered = this.#timed(exchange(), timeoutMs, broken);
      if (!signal) return answered;
      let onAbort: () => void = () => undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => {
          // The TPM runs the command anyway: the next exchange waits for (and discards) its answer.
          this.#orphan = answered.catch(() => undefined);
          reject(new CommandAbortedError(`${this.#what}: command aborted after it was sent; its answer is discarded`, answered, { cause: signal.reason }));
        };
        signal.addEventListener("abort", onAbort, { once: true });
      });
      try {
        return await Promise.race([answered, aborted]);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    });
    if (!signal) return job;
    // Aborted while still queued: answer at once; the job sees the signal and sends nothing.
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        if (!sent) reject(new CommandAbortedError(`${this.#what}: command aborted before it was sent`, undefined, { cause: signal.reason }));
      };
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      job.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  async #timed(exchange: Promise<Uint8Array>, timeoutMs: number, broken: (reason: unknown) => void): Promise<Uint8Array> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TssError("TSS_TIMEOUT", `${this.#what}: no response within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([exchange, timeout]);
    } catch (e) {
      exchange.catch(() => undefined);
      broken(e);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}
