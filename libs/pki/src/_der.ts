/**
 * A small, lenient DER/BER reader for the few structures read byte by byte here (TBS fields,
 * SAN directory names, subject directory attributes). It accepts what real TPM certificates
 * contain (non-minimal lengths, negative integers, strings of any type) and reports anything it
 * cannot read with the structure's name and the byte offset.
 *
 * @module
 */
import { PkiError } from "./errors.ts";

/** One tag-length-value element. Offsets are absolute in the buffer being read. */
export interface Tlv {
  /** The identifier octet (single-octet tags only; that covers everything in X.509). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

/** ASN.1 universal tags used here. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  visibleString: 0x1a,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

function fail(what: string, offset: number, reason: string): never {
  throw new PkiError("PKI_PARSE", `Cannot decode ${what} at byte ${offset}: ${reason}`);
}

/** Reads the element at `offset`, which must end by `limit`. */
export function readTlv(bytes: Uint8Array, offset: number, limit: number, what: string): Tlv {
  if (offset + 2 > limit) fail(what, offset, `need 2 header bytes, ${Math.max(0, limit - offset)} remaining`);
  const tag = bytes[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) fail(what, offset, `multi-byte tag 0x${tag.toString(16)} is not supported`);
  const first = bytes[offset + 1] ?? 0;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else if (first === 0x80) {
    fail(what, offset, "indefinite length (BER) is not supported");
  } else {
    const count = first & 0x7f;
    if (count > 4) fail(what, offset, `length of ${count} bytes is too long`);
    if (offset + 2 + count > limit) fail(what, offset, "truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) fail(what, offset, `length ${length} exceeds ${limit - contentStart} remaining`);
  return { tag, start: offset, contentStart, end };
}

/** Reads `tlv` as the only element of `bytes` (trailing bytes are tolerated). */
export function readRoot(bytes: Uint8Array, what: string, expectedTag?: number): Tlv {
  const tlv = readTlv(bytes, 0, bytes.length, what);
  if (expectedTag !== undefined) expectTag(tlv, expectedTag, what);
  return tlv;
}

/** The elements inside a constructed element. */
export function children(bytes: Uint8Array, parent: Tlv, what: string): Tlv[] {
  const items: Tlv[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const tlv = readTlv(bytes, offset, parent.end, what);
    items.push(tlv);
    offset = tlv.end;
  }
  return items;
}

/** Throws PKI_PARSE unless `tlv` has the tag `expected`. */
export function expectTag(tlv: Tlv | undefined, expected: number, what: string): asserts tlv is Tlv {
  if (tlv === undefined) fail(what, -1, `missing element (expected tag 0x${expected.toString(16)})`);
  if (tlv.tag !== expected) fail(what, tlv.start, `tag 0x${tlv.tag.toString(16)}, expected 0x${expected.toString(16)}`);
}

/** The content octets of `tlv`. */
export function content(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.contentStart, tlv.end);
}

/** The whole encoding (header and content) of `tlv`, as a fresh copy. */
export function encoding(bytes: Uint8Array, tlv: Tlv): Uint8Array<ArrayBuffer> {
  return bytes.slice(tlv.start, tlv.end);
}

/** Decodes an OBJECT IDENTIFIER element to dotted form. */
export function decodeOid(bytes: Uint8Array, tlv: Tlv, what: string): string {
  expectTag(tlv, TAG.oid, what);
  const parts: number[] = [];
  let value = 0;
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    const b = bytes[i] ?? 0;
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else {
        parts.push(value);
      }
      value = 0;
    }
  }
  if (parts.length === 0 || (bytes[tlv.end - 1] ?? 0) & 0x80) fail(what, tlv.start, "malformed OBJECT IDENTIFIER");
  return parts.join(".");
}

/**
 * Decodes a small INTEGER (up to 48 bits) to a number. `unsigned` reads the bytes as unsigned,
 * for fields that are never negative but that some encoders write without DER's sign byte
 * (0x8a for 138).
 */
export function decodeSmallInteger(bytes: Uint8Array, tlv: Tlv, what: string, unsigned = false): number {
  expectTag(tlv, TAG.integer, what);
  const length = tlv.end - tlv.contentStart;
  if (length === 0 || length > 6) fail(what, tlv.start, `INTEGER of ${length} bytes`);
  let value = 0;
  for (let i = tlv.contentStart; i < tlv.end; i++) value = value * 256 + (bytes[i] ?? 0);
  return !unsigned && (bytes[tlv.contentStart] ?? 0) & 0x80 ? value - 2 ** (8 * length) : value;
}

/**
 * Decodes any ASN.1 string type to text. Values that are not strings come back as `#` and
 * their hex encoding (as RFC 4514 writes them), so an odd vendor encoding never fails a parse.
 */
export function decodeString(bytes: Uint8Array, tlv: Tlv): string {
  const data = content(bytes, tlv);
  switch (tlv.tag) {
    case TAG.utf8String:
      return new TextDecoder("utf-8").decode(data);
    case TAG.printableString:
    case TAG.ia5String:
    case TAG.visibleString:
    case TAG.t61String:
      return String.fromCharCode(...data);
    case TAG.bmpString:
      return new TextDecoder("utf-16be").decode(data);
    case TAG.universalString: {
      let text = "";
      for (let i = 0; i + 3 < data.length; i += 4) {
        text += String.fromCodePoint((((data[i] ?? 0) << 24) | ((data[i + 1] ?? 0) << 16) | ((data[i + 2] ?? 0) << 8) | (data[i + 3] ?? 0)) >>> 0);
      }
      return text;
    }
    default:
      return "#" + Array.from(encoding(bytes, tlv), (b) => b.toString(16).padStart(2, "0")).join("");
  }
}
