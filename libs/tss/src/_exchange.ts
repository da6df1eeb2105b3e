/**
 * The command/response discipline shared by the device and socket transports: one command in flight,
 * a timeout per command, and an AbortSignal. A command that was written and then aborted or timed out
 * is still answered by the TPM: that late answer is read and discarded before the next command is
 * written, so that no command ever receives the previous one's response. When the late answer does not
 * come within one more timeout period, the descriptor/connection is declared wedged: the transport
 * drops it and opens a new one.
 * @module
 */
import { CommandAbortedError, CommandTimeoutError, TssError } from "./errors.ts";
import { Serializer } from "./transport.ts";

/** What a transport does when its descriptor/connection can no longer be trusted. */
export interface ExchangeHooks {
  /** A late answer never came: drop the descriptor; the next command reopens. */
  wedged(): void;
}

function sleep(ms: number, unref = false): { done: Promise<"timeout">; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
    // Waiting for a late answer alone does not keep the process alive.
    if (unref) timer.unref();
  });
  return { done, cancel: () => clearTimeout(timer) };
}

/** One transport's queue of exchanges. */
export class ExchangeQueue {
  readonly #what: string;
  readonly #hooks: ExchangeHooks;
  readonly #queue = new Serializer();
  /** Settles when an aborted or timed-out command's late answer came, or was given up on (wedged). */
  #orphan: Promise<void> | undefined;

  /** @param what the transport's description, for messages @param hooks what to do with a broken descriptor */
  constructor(what: string, hooks: ExchangeHooks) {
    this.#what = what;
    this.#hooks = hooks;
  }

  /** Whether an aborted or timed-out command's late answer is still awaited. */
  get awaitingLateAnswer(): boolean {
    return this.#orphan !== undefined;
  }

  #notSent(signal: AbortSignal): CommandAbortedError {
    return new CommandAbortedError(`${this.#what}: command aborted before it was sent`, undefined, { cause: signal.reason });
  }

  /**
   * Runs `exchange` (write the command, read its whole response) after every earlier one and after any
   * earlier command's late answer.
   */
  run(exchange: () => Promise<Uint8Array>, timeoutMs: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    let sent = false;
    const job = this.#queue.run(async () => {
      if (signal?.aborted) throw this.#notSent(signal);
      await this.#drain();
      if (signal?.aborted) throw this.#notSent(signal);
      sent = true;
      const answered = exchange();
      const timer = sleep(timeoutMs);
      let onAbort: () => void = () => undefined;
      const aborted = new Promise<"aborted">((resolve) => {
        onAbort = () => resolve("aborted");
        if (signal?.aborted) onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      try {
        const first = await Promise.race([answered, timer.done, aborted]);
        if (first instanceof Uint8Array) return first;
        // The TPM runs the command anyway: the next exchange waits for (and discards) its answer.
        const late = this.#late(answered, timeoutMs);
        if (first === "timeout") throw new CommandTimeoutError(`${this.#what}: no response within ${timeoutMs} ms`, late);
        throw new CommandAbortedError(`${this.#what}: command aborted after it was sent; its answer is discarded`, late, { cause: signal?.reason });
      } finally {
        timer.cancel();
        signal?.removeEventListener("abort", onAbort);
      }
    });
    if (!signal) return job;
    // Aborted while still queued: answer at once; the job sees the signal and sends nothing.
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        if (!sent) reject(this.#notSent(signal));
      };
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      job.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /**
   * The late answer of a command given up on, within one more `timeoutMs`; without it, the descriptor is
   * wedged. The next exchange waits for this first.
   */
  #late(answered: Promise<Uint8Array>, timeoutMs: number): Promise<Uint8Array> {
    const timer = sleep(timeoutMs, true);
    const late = Promise.race([answered, timer.done]).then((r) => {
      if (r === "timeout") throw new TssError("TSS_TIMEOUT", `${this.#what}: the late answer did not come within ${timeoutMs} ms more; reopening`);
      return r;
    });
    this.#orphan = late.then(
      () => timer.cancel(),
      () => this.#hooks.wedged(),
    );
    return late;
  }

  async #drain(): Promise<void> {
    const orphan = this.#orphan;
    if (!orphan) return;
    await orphan;
    if (this.#orphan === orphan) this.#orphan = undefined;
  }
}
