/**
 * Hex helpers for the CLI, tests and error messages.
 * @module
 */

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of a hex string (optional `0x`, whitespace ignored). Throws a RangeError for odd length or bad digits. */
export function fromHex(h: string): Uint8Array {
  const s = h.replace(/^0x/i, "").replace(/\s+/g, "");
  if (s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new RangeError(`"${h.length > 40 ? h.slice(0, 40) + "…" : h}" is not an even-length hex string`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
