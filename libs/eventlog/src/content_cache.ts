/**
 * A small cache of pure functions of bytes (eventlog, host-image and appraisal use it). The key is the SHA-256 of the bytes (with a tag naming what
 * was computed from them), so a hit is always the result for the same content, never another input's. It is
 * bounded twice: in entries, and in the bytes of the inputs it holds results for (a result is no bigger than a
 * small multiple of its input), the oldest entry going first; an input larger than the whole byte bound is
 * computed and not kept. Every host of one image logs the same certificates and signature databases, so decoding
 * them once serves every appraisal.
 * @module
 */
import { hash } from "node:crypto";

/** The key of some bytes: their SHA-256 (base64) and length. */
export function contentKey(bytes: Uint8Array): string {
  return `${hash("sha256", bytes, "base64")}:${bytes.length}`;
}

/** Results of a pure function of bytes, by content, at most `maxEntries` of them for at most `maxBytes` of input. */
export class ContentCache<V> {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #entries = new Map<string, { value: V; weight: number }>();
  #bytes = 0;

  /**
   * @param maxEntries the most entries kept (at least 1)
   * @param maxBytes the most input bytes whose results are kept (default 4 MiB)
   */
  constructor(maxEntries: number, maxBytes = 4 * 1024 * 1024) {
    this.#maxEntries = Math.max(1, Math.floor(maxEntries));
    this.#maxBytes = Math.max(0, Math.floor(maxBytes));
  }

  /** How many entries are held. */
  get size(): number {
    return this.#entries.size;
  }

  /** How many input bytes the held entries stand for. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The result for `bytes`: the cached one, else `compute()` (which must depend only on `bytes` and `tag`), kept.
   * A `compute` that throws keeps nothing.
   */
  get(bytes: Uint8Array, compute: () => V, tag = ""): V {
    const key = `${tag}/${contentKey(bytes)}`;
    const hit = this.#entries.get(key);
    if (hit !== undefined) return hit.value;
    const value = compute();
    const weight = bytes.length;
    if (weight > this.#maxBytes) return value;
    while (this.#entries.size > 0 && (this.#entries.size >= this.#maxEntries || this.#bytes + weight > this.#maxBytes)) {
      const [oldest, e] = this.#entries.entries().next().value as [string, { weight: number }];
      this.#entries.delete(oldest);
      this.#bytes -= e.weight;
    }
    this.#entries.set(key, { value, weight });
    this.#bytes += weight;
    return value;
  }
}
