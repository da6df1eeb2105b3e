/**
 * A small cache of pure functions of bytes (private; the same as @tessera/eventlog's). The key is the SHA-256 of
 * the bytes, so a hit is always the result for the same content, never another input's; the size is bounded, the
 * oldest entry going first.
 * @module
 */
import { hash } from "node:crypto";

/** The key of some bytes: their SHA-256 (base64) and length. */
export function contentKey(bytes: Uint8Array): string {
  return `${hash("sha256", bytes, "base64")}:${bytes.length}`;
}

/** Results of a pure function of bytes, by content, at most `max` of them. */
export class ContentCache<V> {
  readonly #max: number;
  readonly #entries = new Map<string, V>();

  /** @param max the most entries kept (at least 1) */
  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  /** How many entries are held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The result for `bytes`: the cached one, else `compute()` (which must depend only on `bytes`), kept. */
  get(bytes: Uint8Array, compute: () => V): V {
    const key = contentKey(bytes);
    if (this.#entries.has(key)) return this.#entries.get(key) as V;
    const value = compute();
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, value);
    return value;
  }
}
