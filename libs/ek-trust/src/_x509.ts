/**
 * @peculiar/x509, loaded after @tessera/pki: pki's entry installs the metadata shim @peculiar/x509 needs and
 * sets its WebCrypto provider, so importing pki first is what configures the copy used here (the same package
 * instance: one @peculiar/x509 in the workspace).
 * @module
 */
import "@tessera/pki";
import * as x509 from "@peculiar/x509";

export { x509 };

/**
 * The bytes of the first DER object in `bytes` (EK certificates read from NV are padded after their DER);
 * `bytes` itself when it does not start with a readable DER SEQUENCE header.
 */
export function trimDer(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 2 || bytes[0] !== 0x30) return bytes;
  const first = bytes[1] as number;
  if (first < 0x80) return 2 + first <= bytes.length ? bytes.subarray(0, 2 + first) : bytes;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || bytes.length < 2 + n) return bytes;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (bytes[2 + i] as number);
  return 2 + n + length <= bytes.length ? bytes.subarray(0, 2 + n + length) : bytes;
}

/** Whether `bytes` looks like PEM text (leading whitespace allowed) rather than DER. */
export function looksLikePem(bytes: Uint8Array): boolean {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, Math.min(bytes.length, 4096)));
  return head.includes("-----BEGIN ");
}

/** Byte equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
