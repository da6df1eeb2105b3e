/**
 * A rate limiter per key (host, provider): token buckets with an injected clock, in bounded memory.
 * @module
 */
import { KeyProviderConfigError } from "./errors.ts";

/** Options of {@link tokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate). */
  ratePerSecond: number;
  /** Bucket size: how many calls may come at once after a quiet spell. */
  burst: number;
  /** Keys tracked at most (default 10 000); see {@link tokenBucket}. */
  maxKeys?: number;
}

/** The answer of {@link TokenBucket.take}. */
export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Token buckets, one per key. */
export interface TokenBucket {
  /** Takes a token from `key`'s bucket at time `now` (ms, e.g. `Date.now()`); when empty, says when to retry (whole seconds, ≥ 1). */
  take(key: string, now: number): TakeResult;
  /** Keys currently tracked. */
  readonly size: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Makes token buckets of `burst` tokens refilled at `ratePerSecond`. A key's bucket is forgotten once it would be
 * full again (it behaves the same as a new one); past `maxKeys`, such buckets are dropped first, then the least
 * recently used down to 90 % of `maxKeys` (which only lets those keys start again with a full bucket).
 * @throws KeyProviderConfigError for a rate or burst that is not positive, or a bad maxKeys
 * @example const perHost = tokenBucket({ ratePerSecond: 20, burst: 40 }); if (!perHost.take(host, Date.now()).ok) …
 */
export function tokenBucket(options: TokenBucketOptions): TokenBucket {
  const { ratePerSecond: rate, burst, maxKeys = 10_000 } = options;
  if (!Number.isFinite(rate) || rate <= 0) throw new KeyProviderConfigError("ratePerSecond", `${String(rate)} is not a positive number`);
  if (!Number.isFinite(burst) || burst < 1) throw new KeyProviderConfigError("burst", `${String(burst)} is not a number of at least 1`);
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new KeyProviderConfigError("maxKeys", `${String(maxKeys)} is not a positive integer`);
  // Map order is recency order: a key is re-inserted on each take.
  const buckets = new Map<string, Bucket>();
  const refill = (b: Bucket, now: number) => Math.min(burst, b.tokens + (Math.max(0, now - b.at) * rate) / 1000);

  function evict(now: number): void {
    for (const [k, b] of buckets) if (refill(b, now) >= burst) buckets.delete(k);
    // Down to 90 %, so that a flood of new keys does not pay for a sweep on every call.
    const target = Math.max(1, Math.floor(maxKeys * 0.9));
    for (const k of buckets.keys()) {
      if (buckets.size <= target) break;
      buckets.delete(k);
    }
  }

  return {
    take(key: string, now: number): TakeResult {
      const old = buckets.get(key);
      const b: Bucket = old ? { tokens: refill(old, now), at: Math.max(old.at, now) } : { tokens: burst, at: now };
      buckets.delete(key);
      let result: TakeResult;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        result = { ok: true };
      } else {
        result = { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / rate)) };
      }
      buckets.set(key, b);
      if (buckets.size > maxKeys) evict(now);
      return result;
    },
    get size() {
      return buckets.size;
    },
  };
}
