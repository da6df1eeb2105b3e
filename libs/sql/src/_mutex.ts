/**
 * A FIFO promise mutex (private to @tessera/sql).
 * @module
 */

/** A FIFO mutex: `lock()` resolves with the release function once every earlier holder released. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** Waits for the lock; call the returned function exactly once to release it. */
  lock(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const before = this.#tail;
    this.#tail = before.then(() => held);
    return before.then(() => release);
  }

  /** Runs `fn` holding the lock. */
  async with<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.lock();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
