/**
 * The TTLV codec (KMIP 1.4 §9.1, KMIP 2.1 §9.1): Tag (3 bytes), Type (1), Length (4), Value padded to a
 * multiple of 8. One generic engine for every item type; decoding is strict and bounded (declared lengths
 * against the bytes left and the type's fixed size, zero padding, structure nesting depth, total size), and
 * a failure is a {@link KmipDecodeError} naming the tag and the byte offset.
 * @module
 */
import { KmipDecodeError, KmipEncodeError } from "./errors.ts";

/** TTLV item types. */
export const TTLV_TYPE = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
  DateTimeExtended: 0x0b,
} as const;

/** A TTLV item type value. */
export type TtlvType = (typeof TTLV_TYPE)[keyof typeof TTLV_TYPE];

/** Type name by type value. */
export const TTLV_TYPE_NAME: Readonly<Record<number, keyof typeof TTLV_TYPE>> = Object.fromEntries(Object.entries(TTLV_TYPE).map(([k, v]) => [v, k])) as Record<
  number,
  keyof typeof TTLV_TYPE
>;

/** One TTLV item. DateTime is seconds since the epoch, DateTimeExtended microseconds (both bigint). */
export type Ttlv =
  | { tag: number; type: 0x01; value: Ttlv[] }
  | { tag: number; type: 0x02 | 0x05 | 0x0a; value: number }
  | { tag: number; type: 0x03 | 0x04 | 0x09 | 0x0b; value: bigint }
  | { tag: number; type: 0x06; value: boolean }
  | { tag: number; type: 0x07; value: string }
  | { tag: number; type: 0x08; value: Uint8Array };

/** Limits applied while decoding. */
export interface DecodeLimits {
  /** Maximum nesting of structures (default 32). */
  maxDepth?: number;
  /** Maximum total message size in bytes (default 16 MiB). */
  maxSize?: number;
  /** Maximum number of items in the message (default 100 000). */
  maxItems?: number;
}

/** Names a tag for messages: `0x420078` plus its registered name when a namer is installed. */
let tagNamer: (tag: number) => string | undefined = () => undefined;

/** Installs the function that names tags in error messages (the registry does this). */
export function setTagNamer(f: (tag: number) => string | undefined): void {
  tagNamer = f;
}

/** `0x420078 RequestMessage`. */
export function tagText(tag: number): string {
  const n = tagNamer(tag);
  return `0x${tag.toString(16).padStart(6, "0")}${n ? " " + n : ""}`;
}

const FIXED: Readonly<Record<number, number>> = { 0x02: 4, 0x03: 8, 0x05: 4, 0x06: 8, 0x09: 8, 0x0a: 4, 0x0b: 8 };

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

function pad8(n: number): number {
  // Not `(n + 7) & ~7`: lengths are 32-bit unsigned and bit operations would wrap them negative.
  return Math.ceil(n / 8) * 8;
}

/**
 * The length of `s` in UTF-8 as TextEncoder writes it (a lone surrogate becomes U+FFFD, 3 bytes), without
 * encoding it.
 */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The encoded size of an item, padding included. */
export function encodedSize(item: Ttlv): number {
  switch (item.type) {
    case 0x01: {
      let n = 0;
      for (const c of item.value) n += encodedSize(c);
      return 8 + n;
    }
    case 0x07:
      return 8 + pad8(utf8Length(item.value));
    case 0x08:
      return 8 + pad8(item.value.length);
    case 0x04:
      return 8 + bigIntBytes(item.value).length;
    default:
      return 16;
  }
}

/**
 * Two's complement big-endian bytes of `v` with the minimal number of leading sign-extended bytes that
 * still leaves the length a multiple of 8 (KMIP 1.4 §9.1.1.4).
 */
function bigIntBytes(v: bigint): Uint8Array {
  const magnitude = v < 0n ? -v - 1n : v;
  let hex = magnitude.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  // A sign byte is needed only when the top bit of the magnitude's first byte is set.
  const needSign = magnitude !== 0n && parseInt(hex.slice(0, 2), 16) >= 0x80;
  let len = hex.length / 2 + (needSign ? 1 : 0);
  len = Math.max(8, pad8(len));
  const out = new Uint8Array(len);
  let x = v < 0n ? (1n << BigInt(len * 8)) + v : v;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function fromBigIntBytes(b: Uint8Array): bigint {
  let x = 0n;
  for (const byte of b) x = (x << 8n) | BigInt(byte);
  if (b.length > 0 && b[0] & 0x80) x -= 1n << BigInt(b.length * 8);
  return x;
}

/** Encodes one item (usually a RequestMessage/ResponseMessage structure). Throws {@link KmipEncodeError}. */
export function encodeTtlv(item: Ttlv): Uint8Array {
  const out = new Uint8Array(encodedSize(item));
  const view = new DataView(out.buffer);
  const end = write(out, view, 0, item);
  if (end !== out.length) throw new KmipEncodeError(tagText(item.tag), "internal size mismatch");
  return out;
}

function encodeFail(tag: number, why: string): never {
  throw new KmipEncodeError(tagText(tag), why);
}

function write(out: Uint8Array, view: DataView, at: number, item: Ttlv): number {
  const tag = item.tag;
  if (!Number.isInteger(item.tag) || item.tag < 0 || item.tag > 0xffffff) throw new KmipEncodeError(String(item.tag), "tag is not a 3-byte value");
  if ((item.tag & 0xff0000) !== 0x420000 && (item.tag & 0xff0000) !== 0x540000) {
    throw new KmipEncodeError(tagText(item.tag), "tag is outside the KMIP (0x42xxxx) and extension (0x54xxxx) ranges");
  }
  out[at] = item.tag >>> 16;
  out[at + 1] = (item.tag >>> 8) & 0xff;
  out[at + 2] = item.tag & 0xff;
  out[at + 3] = item.type;
  const v = at + 8;
  switch (item.type) {
    case 0x01: {
      if (!Array.isArray(item.value)) encodeFail(tag, "Structure value is not an array");
      let p = v;
      for (const c of item.value) p = write(out, view, p, c);
      view.setUint32(at + 4, p - v);
      return p;
    }
    case 0x02:
      if (!Number.isInteger(item.value) || item.value < -0x80000000 || item.value > 0x7fffffff)
        encodeFail(tag, `Integer ${item.value} is not a 32-bit signed integer`);
      view.setUint32(at + 4, 4);
      view.setInt32(v, item.value);
      return v + 8;
    case 0x05:
    case 0x0a:
      if (!Number.isInteger(item.value) || item.value < 0 || item.value > 0xffffffff)
        encodeFail(tag, `${item.type === 5 ? "Enumeration" : "Interval"} ${item.value} is not a 32-bit unsigned value`);
      view.setUint32(at + 4, 4);
      view.setUint32(v, item.value);
      return v + 8;
    case 0x03:
    case 0x09:
    case 0x0b:
      if (typeof item.value !== "bigint" || item.value < -(2n ** 63n) || item.value >= 2n ** 63n)
        encodeFail(tag, `${String(item.value)} is not a 64-bit signed bigint`);
      view.setUint32(at + 4, 8);
      view.setBigInt64(v, item.value);
      return v + 8;
    case 0x04: {
      if (typeof item.value !== "bigint") encodeFail(tag, "BigInteger value is not a bigint");
      const b = bigIntBytes(item.value);
      view.setUint32(at + 4, b.length);
      out.set(b, v);
      return v + b.length;
    }
    case 0x06:
      if (typeof item.value !== "boolean") encodeFail(tag, "Boolean value is not a boolean");
      view.setUint32(at + 4, 8);
      view.setUint32(v + 4, item.value ? 1 : 0);
      return v + 8;
    case 0x07: {
      if (typeof item.value !== "string") encodeFail(tag, "TextString value is not a string");
      const length = utf8Length(item.value);
      // Straight into the output: the size pass measured the same length, so it fits.
      utf8.encodeInto(item.value, out.subarray(v, v + length));
      view.setUint32(at + 4, length);
      return v + pad8(length);
    }
    case 0x08:
      if (!(item.value instanceof Uint8Array)) encodeFail(tag, "ByteString value is not a Uint8Array");
      view.setUint32(at + 4, item.value.length);
      out.set(item.value, v);
      return v + pad8(item.value.length);
    default:
      return encodeFail(tag, `type 0x${(item as { type: number }).type.toString(16)} is not a TTLV type`);
  }
}

/** The length of the first TTLV item in `buf` (header + padded value), or -1 if fewer than 8 bytes are there. */
export function ttlvMessageLength(buf: Uint8Array, length = buf.length): number {
  if (length < 8) return -1;
  const len = ((buf[4] << 24) >>> 0) + (buf[5] << 16) + (buf[6] << 8) + buf[7];
  return 8 + (buf[3] === 0x01 ? len : pad8(len));
}

/**
 * Decodes exactly one item filling `bytes`. Throws {@link KmipDecodeError} for anything malformed: wrong
 * fixed lengths, lengths beyond the data, non-zero padding, invalid UTF-8, booleans other than 0/1,
 * structures whose children overrun them, nesting deeper than `maxDepth`, more than `maxItems` items.
 */
export function decodeTtlv(bytes: Uint8Array, limits: DecodeLimits = {}): Ttlv {
  const maxSize = limits.maxSize ?? 16 * 1024 * 1024;
  if (bytes.length > maxSize) throw new KmipDecodeError("(message)", 0, `message of ${bytes.length} bytes exceeds the limit of ${maxSize}`);
  const st = {
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    bytes,
    items: 0,
    maxItems: limits.maxItems ?? 100_000,
    maxDepth: limits.maxDepth ?? 32,
  };
  const [item, end] = read(st, 0, bytes.length, 0);
  if (end !== bytes.length) throw new KmipDecodeError(tagText(item.tag), end, `${bytes.length - end} bytes after the end of the message`);
  return item;
}

interface ReadState {
  view: DataView;
  bytes: Uint8Array;
  items: number;
  maxItems: number;
  maxDepth: number;
}

function read(st: ReadState, at: number, limit: number, depth: number): [Ttlv, number] {
  if (limit - at < 8) throw new KmipDecodeError("(header)", at, `item header needs 8 bytes, ${limit - at} remaining`);
  const b = st.bytes;
  const tag = (b[at] << 16) | (b[at + 1] << 8) | b[at + 2];
  const type = b[at + 3];
  const len = st.view.getUint32(at + 4);
  const fail = (why: string): never => {
    throw new KmipDecodeError(tagText(tag), at, why);
  };
  if (++st.items > st.maxItems) fail(`more than ${st.maxItems} items`);
  if ((tag & 0xff0000) !== 0x420000 && (tag & 0xff0000) !== 0x540000) fail("tag is outside the KMIP (0x42xxxx) and extension (0x54xxxx) ranges");
  const fixed = FIXED[type];
  if (fixed !== undefined && len !== fixed) fail(`${TTLV_TYPE_NAME[type]} length is ${len}, must be ${fixed}`);
  const padded = type === 0x01 ? len : pad8(len);
  const v = at + 8;
  if (padded > limit - v) fail(`length ${len} exceeds the ${limit - v} bytes remaining`);
  const end = v + padded;
  const zeroPad = (from: number) => {
    for (let i = from; i < end; i++) if (b[i] !== 0) fail(`padding byte at ${i} is not zero`);
  };
  switch (type) {
    case 0x01: {
      if (depth >= st.maxDepth) fail(`structures nested deeper than ${st.maxDepth}`);
      const children: Ttlv[] = [];
      let p = v;
      while (p < end) {
        const [c, next] = read(st, p, end, depth + 1);
        children.push(c);
        p = next;
      }
      return [{ tag, type, value: children }, end];
    }
    case 0x02:
      zeroPad(v + 4);
      return [{ tag, type, value: st.view.getInt32(v) }, end];
    case 0x05:
    case 0x0a:
      zeroPad(v + 4);
      return [{ tag, type, value: st.view.getUint32(v) }, end];
    case 0x03:
    case 0x09:
    case 0x0b:
      return [{ tag, type, value: st.view.getBigInt64(v) }, end];
    case 0x04:
      if (len === 0 || len % 8 !== 0) fail(`BigInteger length ${len} is not a positive multiple of 8`);
      return [{ tag, type, value: fromBigIntBytes(b.subarray(v, v + len)) }, end];
    case 0x06: {
      const x = st.view.getBigUint64(v);
      if (x > 1n) fail(`Boolean value ${x} is neither 0 nor 1`);
      return [{ tag, type, value: x === 1n }, end];
    }
    case 0x07: {
      zeroPad(v + len);
      let s: string;
      try {
        s = utf8Strict.decode(b.subarray(v, v + len));
      } catch {
        return fail("TextString is not valid UTF-8");
      }
      return [{ tag, type, value: s }, end];
    }
    case 0x08:
      zeroPad(v + len);
      return [{ tag, type, value: new Uint8Array(b.subarray(v, v + len)) }, end];
    default:
      return fail(`type 0x${type.toString(16).padStart(2, "0")} is not a TTLV type`);
  }
}
