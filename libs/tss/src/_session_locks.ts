/**
 * Per-session mutual exclusion. A session's nonces roll with every command that uses it: the next
 * command may be authorized only after the previous one's response was verified and nonceTPM taken
 * from it. Commands through different sessions (or none) still run concurrently.
 * @module
 */
import { CommandAbortedError } from "./errors.ts";

/** Locks keyed by session handle. */
export class SessionLocks {
  readonly #tails = new Map<number, Promise<void>>();

  /**
   * Waits until every one of `handles` is free, takes them, and returns the function that frees them.
   * Handles are taken in ascending order, so two commands sharing two sessions cannot deadlock.
   */
  async acquire(handles: Iterable<number>, signal?: AbortSignal): Promise<() => void> {
    const keys = [...new Set(handles)].sort((a, b) => a - b);
    const releases: (() => void)[] = [];
    const releaseAll = () => releases.splice(0).forEach((r) => r());
    try {
      for (const k of keys) releases.push(await this.#take(k, signal));
    } catch (e) {
      releaseAll();
      throw e;
    }
    return releaseAll;
  }

  async #take(key: number, signal: AbortSignal | undefined): Promise<() => void> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let free!: () => void;
    const mine = new Promise<void>((r) => (free = r));
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    const release = () => {
      free();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    if (!signal) {
      await before;
      return release;
    }
    let onAbort: () => void = () => undefined;
    try {
      await Promise.race([
        before,
        new Promise<never>((_, reject) => {
          onAbort = () =>
            reject(new CommandAbortedError(`command aborted while waiting for session 0x${key.toString(16)}`, undefined, { cause: signal.reason }));
          if (signal.aborted) onAbort();
          signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
    } catch (e) {
      // Give the turn up; the commands queued behind still wait for `before` through `tail`, so the entry stays.
      free();
      throw e;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    return release;
  }
}
