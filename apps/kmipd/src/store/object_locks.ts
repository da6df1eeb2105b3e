/**
 * Object locks: a request that changes an object holds it from the read to the durable write, so that two
 * requests changing one object at the same moment cannot both start from the same state and lose one change (or
 * spend a usage limit twice). {@link KeyedLock} orders the requests of one thread; each store adds what orders
 * its other threads and processes (SQLite: a word of shared memory; PostgreSQL: an advisory lock).
 * @module
 */

/** An object stayed locked by other requests for longer than a request may wait. */
export class ObjectBusyError extends Error {
  readonly id: string;
  /** @param id the object; @param waitedMs how long the request waited */
  constructor(id: string, waitedMs: number) {
    super(`object ${id} is being changed by other requests (waited ${waitedMs} ms); try again`);
    this.name = "ObjectBusyError";
    this.id = id;
  }
}

/** Releases a lock; calling it again does nothing. */
export type Release = () => void;

/**
 * Mutual exclusion per key among the callers of one thread: first come, first served, each waiting at most the
 * time it asks for. The lock passes straight from one holder to the next waiter.
 */
export class KeyedLock {
  /** Held keys, each with its waiters in order. */
  readonly #held = new Map<string, (() => void)[]>();

  /** Takes `key`, waiting at most `timeoutMs` for the holders before it (then rejects with ObjectBusyError). */
  async acquire(key: string, timeoutMs: number): Promise<Release> {
    const waiters = this.#held.get(key);
    if (!waiters) {
      this.#held.set(key, []);
      return this.#releaser(key);
    }
    await new Promise<void>((resolve, reject) => {
      const granted = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = waiters.indexOf(granted);
        if (i >= 0) waiters.splice(i, 1);
        reject(new ObjectBusyError(key, timeoutMs));
      }, timeoutMs);
      waiters.push(granted);
    });
    return this.#releaser(key);
  }

  /** Whether `key` is held. */
  isHeld(key: string): boolean {
    return this.#held.has(key);
  }

  #releaser(key: string): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const waiters = this.#held.get(key)!;
      const next = waiters.shift();
      if (next) next();
      else this.#held.delete(key);
    };
  }
}
