/**
 * Random bytes from a pool refilled 4 KiB at a time: one CSPRNG call serves many nonces, instead of one
 * call (and its fixed cost) for every 12-byte nonce. Every byte is handed out once.
 * @module
 */
import { randomFillSync } from "node:crypto";

const POOL = new Uint8Array(4096);
let at = POOL.length;

/** `n` fresh random bytes (a copy; the pool bytes are wiped as they are taken). */
export function randomBytesFromPool(n: number): Uint8Array {
  if (n > POOL.length) return randomFillSync(new Uint8Array(n));
  if (at + n > POOL.length) {
    randomFillSync(POOL);
    at = 0;
  }
  const out = POOL.slice(at, at + n);
  POOL.fill(0, at, at + n);
  at += n;
  return out;
}
