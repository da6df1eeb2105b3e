/**
 * Random values that sort by creation time: the first 48 bits are the time in milliseconds (big-endian), the rest
 * come from {@link randomBytesFromPool}. Used for the keys of tables that only ever grow at "now" (attempts, nonces,
 * KMIP objects): a new row's index entry lands on the page the previous ones went to, where a random key scatters
 * every insert over the whole index (one more page read and write per insert once the index outgrows the cache).
 *
 * The time prefix is not a secret and carries no authority; what makes the values unguessable is the random rest:
 * 74 bits in a UUID (as RFC 9562 §5.7 specifies), 208 bits in a 32-byte nonce.
 * @module
 */
import { randomBytesFromPool } from "./random_bytes_from_pool.ts";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The largest time a 48-bit prefix holds (year 10889). */
const MAX_MS = 2 ** 48 - 1;

/** The 6 bytes of the time prefix. */
export const TIME_PREFIX_BYTES = 6;

function checkedTime(nowMs: number): number {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs > MAX_MS) {
    throw new RangeError(`a time-ordered value needs a time in whole milliseconds from 0 to 2^48-1, not ${nowMs}`);
  }
  return nowMs;
}

/**
 * `length` bytes: `nowMs` as 6 big-endian bytes, then `length - 6` fresh random bytes.
 *
 * @throws RangeError if `length` is under 7 (no random part) or `nowMs` is not a whole number of ms in [0, 2^48).
 */
export function timeOrderedBytes(length: number, nowMs: number = Date.now()): Uint8Array {
  if (!Number.isSafeInteger(length) || length <= TIME_PREFIX_BYTES) {
    throw new RangeError(`a time-ordered value needs more than ${TIME_PREFIX_BYTES} bytes, not ${length}`);
  }
  let t = checkedTime(nowMs);
  const b = randomBytesFromPool(length);
  for (let i = TIME_PREFIX_BYTES - 1; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  return b;
}

/** The creation time (ms) of a value from {@link timeOrderedBytes} or {@link uuidV7}'s bytes. */
export function timeOfOrdered(bytes: Uint8Array): number {
  if (bytes.length < TIME_PREFIX_BYTES) throw new RangeError(`a time-ordered value has at least ${TIME_PREFIX_BYTES} bytes, not ${bytes.length}`);
  let t = 0;
  for (let i = 0; i < TIME_PREFIX_BYTES; i++) t = t * 256 + bytes[i];
  return t;
}

/**
 * A UUID version 7 (RFC 9562 §5.7) in its lower-case string form: the time in milliseconds, the version and variant
 * bits, and 74 random bits.
 *
 * @throws RangeError if `nowMs` is not a whole number of ms in [0, 2^48).
 */
export function uuidV7(nowMs: number = Date.now()): string {
  const b = timeOrderedBytes(16, nowMs);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i]];
  }
  return s;
}
