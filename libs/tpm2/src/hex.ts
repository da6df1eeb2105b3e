/**
 * Hex helpers for the CLI, tests and error messages.
 * @module
 */

/** Lower-case hex of bytes. */
export function toHex(b: Uint8Array): string {
  // node's encoder: the per-byte string building cost attestd several µs per digest on every attestation.
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Bytes of a hex string (optional `0x`, whitespace ignored). Throws a RangeError for odd length or bad digits. */
export function fromHex(h: string): Uint8Array {
  const s = h.replace(/^0x/i, "").replace(/\s+/g, "");
  if (s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new RangeError(`"${h.length > 40 ? h.slice(0, 40) + "…" : h}" is not an even-length hex string`);
  // Checked above: every character is a hex digit, so node's decoder reads all of them.
  return new Uint8Array(Buffer.from(s, "hex"));
}
