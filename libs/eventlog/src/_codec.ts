/**
 * The one generic little-endian marshaller of this lib (private). Event-log and UEFI structures are declared
 * once as schema values built from the combinators below and coded by `read`/`write` here, as libs/tpm2 does
 * for the big-endian TPM structures. Reads are bounded: every length is checked against the bytes that remain
 * (and against the field's maximum) before anything is allocated; a failure is a {@link DecodeFault} carrying
 * the field path, the byte offset and a stable error code, which the public entry points turn into an
 * `EventLogError` (or, for event data, a `raw` decoding with the reason).
 * @module
 */
import { EventLogEncodeError, type EventLogErrorCode } from "./errors.ts";

/** Reading position over a byte buffer; `end` bounds reads (a sized region narrows it). */
export interface Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos: number;
  end: number;
}

/** A growable output buffer. */
export interface Writer {
  buf: Uint8Array;
  view: DataView;
  pos: number;
}

/** The fields of the struct being coded so far (for lengths, counts and selectors held by earlier fields). */
export type Siblings = Readonly<Record<string, unknown>>;

/** A schema value: reads and writes one little-endian type. Methods (not properties) keep it bivariant. */
export interface Codec<T> {
  /** The specification's name for the type, e.g. `UEFI_VARIABLE_DATA`. */
  readonly name: string;
  /** Reads one value at `r.pos`, advancing it. Throws a {@link DecodeFault} on bad input. */
  read(r: Reader, siblings: Siblings): T;
  /** Appends one value. Throws EventLogEncodeError when the value does not fit. */
  write(w: Writer, v: T, siblings: Siblings): void;
}

/** A length or count field whose written value is derived from the field it measures (optional in values). */
export interface Derived<T> extends Codec<T> {
  /** Marks the field as derived on write. */
  readonly derived: true;
  /** The value to write, computed from the sibling fields (so later fields can see it). */
  derive(siblings: Siblings): T;
}

/** The TypeScript type a schema value codes. */
export type Infer<C> = C extends Codec<infer T> ? T : never;

type AnyCodec = Codec<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Internal decode failure: turned into an EventLogError (with structure and event index) by the entry points. */
export class DecodeFault {
  /** Absolute byte offset in the reader's buffer. */
  readonly offset: number;
  /** What was wrong. */
  readonly reason: string;
  /** Stable error code. */
  readonly code: EventLogErrorCode;
  /** Field path, outermost first (`digests`, `[1]`, `digest`). */
  readonly path: string[] = [];
  /** @param offset byte offset @param reason what was wrong @param code error code */
  constructor(offset: number, reason: string, code: EventLogErrorCode) {
    this.offset = offset;
    this.reason = reason;
    this.code = code;
  }
  /** `digests[1].digest` */
  get field(): string {
    return this.path.map((f, i) => (i === 0 || f.startsWith("[") ? f : "." + f)).join("");
  }
}

/** Raises a malformed-input fault at the reader's position. */
export function malformed(r: Reader, reason: string, at = r.pos): never {
  throw new DecodeFault(at, reason, "EVENTLOG_MALFORMED");
}

/** Raises an over-limit fault at the reader's position. */
export function oversized(r: Reader, reason: string, at = r.pos): never {
  throw new DecodeFault(at, reason, "EVENTLOG_OVERSIZED");
}

/**
 * Checks that `n` bytes remain. Running off the end of the input is a truncation; running off the end of a
 * sized region inside it means the structure disagrees with its own sizes (malformed).
 */
export function need(r: Reader, n: number, what: string): void {
  if (r.end - r.pos >= n) return;
  const reason = `${what} needs ${n} bytes, ${Math.max(0, r.end - r.pos)} remaining`;
  throw new DecodeFault(r.pos, reason, r.end === r.buf.length ? "EVENTLOG_TRUNCATED" : "EVENTLOG_MALFORMED");
}

/** Takes the next `n` bytes (a copy), after checking they are there. */
function take(r: Reader, n: number, what: string): Uint8Array {
  need(r, n, what);
  const v = r.buf.slice(r.pos, r.pos + n);
  r.pos += n;
  return v;
}

function ensure(w: Writer, n: number): void {
  if (w.pos + n <= w.buf.length) return;
  let size = Math.max(64, w.buf.length * 2);
  while (size < w.pos + n) size *= 2;
  const buf = new Uint8Array(size);
  buf.set(w.buf.subarray(0, w.pos));
  w.buf = buf;
  w.view = new DataView(buf.buffer);
}

function encodeError(name: string, reason: string): EventLogEncodeError {
  return new EventLogEncodeError(name, reason);
}

function uint(name: string, size: 1 | 2 | 4): Codec<number> {
  const max = 2 ** (8 * size) - 1;
  return {
    name,
    read(r) {
      need(r, size, name);
      const v = size === 1 ? r.buf[r.pos] : size === 2 ? r.view.getUint16(r.pos, true) : r.view.getUint32(r.pos, true);
      r.pos += size;
      return v;
    },
    write(w, v) {
      if (!Number.isInteger(v) || v < 0 || v > max) throw encodeError(name, `${String(v)} is not an integer in 0..${max}`);
      ensure(w, size);
      if (size === 1) w.buf[w.pos] = v;
      else if (size === 2) w.view.setUint16(w.pos, v, true);
      else w.view.setUint32(w.pos, v, true);
      w.pos += size;
    },
  };
}

/** UINT8. */
export const u8: Codec<number> = uint("UINT8", 1);
/** Little-endian UINT16 (CHAR16, TPM_ALG_ID in event logs, device path node lengths). */
export const u16: Codec<number> = uint("UINT16", 2);
/** Little-endian UINT32 (PCR index, event type, sizes, counts). */
export const u32: Codec<number> = uint("UINT32", 4);

/** Little-endian UINT64 as a bigint (EFI_PHYSICAL_ADDRESS, UINTN on 64-bit firmware). */
export const u64: Codec<bigint> = {
  name: "UINT64",
  read(r) {
    need(r, 8, "UINT64");
    const v = r.view.getBigUint64(r.pos, true);
    r.pos += 8;
    return v;
  },
  write(w, v) {
    if (typeof v !== "bigint" || v < 0n || v > 0xffffffffffffffffn) throw encodeError("UINT64", `${String(v)} is not a bigint in range`);
    ensure(w, 8);
    w.view.setBigUint64(w.pos, v, true);
    w.pos += 8;
  },
};

/** Little-endian UINT32 read as a bigint (UINTN on 32-bit firmware, for structures that are UINT64 elsewhere). */
export const u32n: Codec<bigint> = {
  name: "UINT32",
  read(r) {
    return BigInt(u32.read(r, {}));
  },
  write(w, v) {
    if (typeof v !== "bigint" || v < 0n || v > 0xffffffffn) throw encodeError("UINT32", `${String(v)} is not a bigint in 0..2^32-1`);
    u32.write(w, Number(v), {});
  },
};

/** A little-endian UINT64 (or UINT32 for 32-bit UINTN) that holds a length or count, read as a number. */
export function lengthInt(bits: 32 | 64): Codec<number> {
  const name = bits === 64 ? "UINT64" : "UINT32";
  return {
    name,
    read(r) {
      if (bits === 32) return u32.read(r, {});
      const at = r.pos;
      const v = u64.read(r, {});
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) oversized(r, `length ${v} is not a plausible size`, at);
      return Number(v);
    },
    write(w, v) {
      if (bits === 32) u32.write(w, v, {});
      else u64.write(w, BigInt(v), {});
    },
  };
}

/** A fixed-length byte array. */
export function bytes(name: string, length: number): Codec<Uint8Array> {
  return {
    name,
    read(r) {
      return take(r, length, name);
    },
    write(w, v) {
      if (!(v instanceof Uint8Array) || v.length !== length)
        throw encodeError(name, `must be ${length} bytes, got ${v instanceof Uint8Array ? v.length : typeof v}`);
      writeRaw(w, v);
    },
  };
}

function writeRaw(w: Writer, v: Uint8Array): void {
  ensure(w, v.length);
  w.buf.set(v, w.pos);
  w.pos += v.length;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** An EFI_GUID (UINT32, UINT16, UINT16 little-endian, then 8 bytes), as its canonical lower-case string. */
export const guid: Codec<string> = {
  name: "EFI_GUID",
  read(r) {
    need(r, 16, "EFI_GUID");
    const b = r.buf;
    const p = r.pos;
    const h = (i: number) => HEX_BYTE[b[p + i]];
    const s = `${h(3)}${h(2)}${h(1)}${h(0)}-${h(5)}${h(4)}-${h(7)}${h(6)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
    r.pos += 16;
    return s;
  },
  write(w, v) {
    writeRaw(w, guidBytes(v));
  },
};

/** The 16 wire bytes of a GUID string (8-4-4-4-12, any case). Throws EventLogEncodeError when malformed. */
export function guidBytes(g: string): Uint8Array {
  if (typeof g !== "string" || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(g)) {
    throw encodeError("EFI_GUID", `"${String(g)}" is not a GUID of the form 8-4-4-4-12`);
  }
  const hex = g.replace(/-/g, "");
  const x = (i: number) => parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return new Uint8Array([x(3), x(2), x(1), x(0), x(5), x(4), x(7), x(6), x(8), x(9), x(10), x(11), x(12), x(13), x(14), x(15)]);
}

/** A fixed-size ASCII signature (e.g. "Spec ID Event03\0"), kept with its NULs so it writes back byte for byte. */
export function ascii(name: string, length: number): Codec<string> {
  return {
    name,
    read(r) {
      need(r, length, name);
      let s = "";
      for (let i = 0; i < length; i++) s += String.fromCharCode(r.buf[r.pos + i]);
      r.pos += length;
      return s;
    },
    write(w, v) {
      if (typeof v !== "string" || v.length !== length || /[^\x00-\xff]/.test(v)) throw encodeError(name, `must be ${length} 8-bit characters`);
      ensure(w, length);
      for (let i = 0; i < length; i++) w.buf[w.pos + i] = v.charCodeAt(i);
      w.pos += length;
    },
  };
}

/** Bytes preceded by their own length (`lengthCodec`), at most `max`. */
export function sized(name: string, lengthCodec: Codec<number>, max: number): Codec<Uint8Array> {
  return {
    name,
    read(r, s) {
      const at = r.pos;
      const n = lengthCodec.read(r, s);
      if (n > max) oversized(r, `size ${n} exceeds the maximum of ${max}`, at);
      return take(r, n, name);
    },
    write(w, v, s) {
      if (!(v instanceof Uint8Array)) throw encodeError(name, "value is not a Uint8Array");
      if (v.length > max) throw encodeError(name, `${v.length} bytes exceed the maximum of ${max}`);
      lengthCodec.write(w, v.length, s);
      writeRaw(w, v);
    },
  };
}

/** How an array field finds its length: the name of an earlier integer field, or a function of the earlier fields. */
export type LengthFrom = string | ((siblings: Siblings) => number);

function lengthOf(r: Reader, from: LengthFrom, s: Siblings, max: number, what: string): number {
  const n = typeof from === "string" ? s[from] : from(s);
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) malformed(r, `${what} has an invalid length ${String(n)}`);
  if (n > max) oversized(r, `${what} length ${n} exceeds the maximum of ${max}`);
  return n;
}

function expectLength(name: string, from: LengthFrom, s: Siblings, actual: number): void {
  if (typeof from !== "string") {
    const want = from(s);
    if (want !== actual) throw encodeError(name, `length ${actual} does not match the ${want} its header gives`);
  }
}

/**
 * A length or count field that measures `target` (a later sibling): read as an integer; on write, computed from
 * the target's length (`length / unit + adjust`), so values may omit it.
 */
export function countOf(target: string, int: Codec<number>, options: { unit?: number; adjust?: number } = {}): Derived<number> {
  const unit = options.unit ?? 1;
  const adjust = options.adjust ?? 0;
  const derive = (s: Siblings): number => {
    const t = s[target] as { length?: unknown } | undefined;
    if (typeof t?.length !== "number") throw encodeError(int.name, `${target} has no length`);
    return t.length / unit + adjust;
  };
  return {
    name: int.name,
    derived: true,
    derive,
    read: (r, s) => int.read(r, s),
    write: (w, _v, s) => int.write(w, derive(s), s),
  };
}

/** Bytes whose length (times `unit`) an earlier field gives, at most `max` bytes. */
export function bytesOf(name: string, from: LengthFrom, max: number, unit = 1): Codec<Uint8Array> {
  return {
    name,
    read(r, s) {
      return take(r, lengthOf(r, from, s, Math.floor(max / unit), name) * unit, name);
    },
    write(w, v, s) {
      if (!(v instanceof Uint8Array)) throw encodeError(name, "value is not a Uint8Array");
      if (v.length > max) throw encodeError(name, `${v.length} bytes exceed the maximum of ${max}`);
      expectLength(name, from, s, v.length / unit);
      writeRaw(w, v);
    },
  };
}

/** CHAR16 code units as a string (lossless: each UTF-16 unit is one JavaScript char). */
export function ucs2Units(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b[i] | (b[i + 1] << 8));
  return s;
}

/** The CHAR16 little-endian bytes of a string (one unit per JavaScript char). */
export function ucs2Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >> 8;
  }
  return out;
}

/** CHAR16[n] where an earlier field gives n, as a string (at most `max` characters). */
export function ucs2Of(name: string, from: LengthFrom, max: number): Codec<string> {
  const raw = bytesOf(name, from, max * 2, 2);
  return {
    name,
    read: (r, s) => ucs2Units(raw.read(r, s)),
    write(w, v, s) {
      if (typeof v !== "string") throw encodeError(name, "value is not a string");
      raw.write(w, ucs2Bytes(v), s);
    },
  };
}

/** A NUL-terminated CHAR16 string (the terminator is consumed, not returned), at most `max` characters. */
export function ucs2z(name: string, max: number): Codec<string> {
  return {
    name,
    read(r) {
      const start = r.pos;
      for (let i = 0; i <= max; i++) {
        need(r, 2, `${name} terminator`);
        if (r.view.getUint16(r.pos, true) === 0) {
          const s = ucs2Units(r.buf.subarray(start, r.pos));
          r.pos += 2;
          return s;
        }
        r.pos += 2;
      }
      return oversized(r, `${name} has no terminator within ${max} characters`, start);
    },
    write(w, v) {
      if (typeof v !== "string" || v.length > max || v.includes("\0")) throw encodeError(name, "must be a string without NULs");
      writeRaw(w, ucs2Bytes(v + "\0"));
    },
  };
}

/** All bytes that remain within the current bound (at most `max`). */
export function rest(name: string, max: number): Codec<Uint8Array> {
  return {
    name,
    read(r) {
      const n = r.end - r.pos;
      if (n > max) oversized(r, `${n} bytes exceed the maximum of ${max}`);
      const v = r.buf.slice(r.pos, r.end);
      r.pos = r.end;
      return v;
    },
    write(w, v) {
      if (!(v instanceof Uint8Array)) throw encodeError(name, "value is not a Uint8Array");
      writeRaw(w, v);
    },
  };
}

function readItems<T>(r: Reader, item: Codec<T>, count: number, s: Siblings): T[] {
  const out: T[] = [];
  for (let i = 0; i < count; i++) {
    try {
      out.push(item.read(r, s));
    } catch (e) {
      if (e instanceof DecodeFault) e.path.unshift(`[${i}]`);
      throw e;
    }
  }
  return out;
}

function writeItems<T>(w: Writer, name: string, item: Codec<T>, v: T[], s: Siblings): void {
  if (!Array.isArray(v)) throw encodeError(name, "value is not an array");
  v.forEach((x, i) => {
    try {
      item.write(w, x, s);
    } catch (e) {
      if (e instanceof EventLogEncodeError) e.within(name, `[${i}]`);
      throw e;
    }
  });
}

/** A list preceded by its count (`countCodec`), at most `max` items (checked before any item is read). */
export function counted<T>(name: string, countCodec: Codec<number>, item: Codec<T>, max: number, code: EventLogErrorCode = "EVENTLOG_OVERSIZED"): Codec<T[]> {
  return {
    name,
    read(r, s) {
      const at = r.pos;
      const n = countCodec.read(r, s);
      if (n > max) throw new DecodeFault(at, `count ${n} exceeds the maximum of ${max}`, code);
      return readItems(r, item, n, s);
    },
    write(w, v, s) {
      if (Array.isArray(v) && v.length > max) throw encodeError(name, `${v.length} items exceed the maximum of ${max}`);
      countCodec.write(w, Array.isArray(v) ? v.length : 0, s);
      writeItems(w, name, item, v, s);
    },
  };
}

/** A list whose count an earlier field gives (at most `max`). */
export function listOf<T>(name: string, item: Codec<T>, from: LengthFrom, max: number): Codec<T[]> {
  return {
    name,
    read: (r, s) => readItems(r, item, lengthOf(r, from, s, max, name), s),
    write(w, v, s) {
      if (Array.isArray(v)) expectLength(name, from, s, v.length);
      writeItems(w, name, item, v, s);
    },
  };
}

/** Items repeated until the current bound ends (at most `max`). */
export function listToEnd<T>(name: string, item: Codec<T>, max: number): Codec<T[]> {
  return {
    name,
    read(r, s) {
      const out: T[] = [];
      while (r.pos < r.end) {
        if (out.length >= max) oversized(r, `more than ${max} items`);
        const before = r.pos;
        try {
          out.push(item.read(r, s));
        } catch (e) {
          if (e instanceof DecodeFault) e.path.unshift(`[${out.length}]`);
          throw e;
        }
        if (r.pos === before) malformed(r, `${item.name} consumed no bytes`);
      }
      return out;
    },
    write: (w, v, s) => writeItems(w, name, item, v, s),
  };
}

/** A field whose codec earlier fields choose (a union keyed by a selector, a list sized by arithmetic on a header). */
export function dependent<T>(name: string, choose: (siblings: Siblings, fail: (reason: string) => never) => Codec<T>): Codec<T> {
  const fail = (reason: string): never => {
    throw encodeError(name, reason);
  };
  return {
    name,
    read(r, s) {
      return choose(s, (reason) => malformed(r, reason)).read(r, s);
    },
    write(w, v, s) {
      choose(s, fail).write(w, v, s);
    },
  };
}

/** A region of exactly `length` bytes (given by an earlier field) that `inner` must fill. */
export function region<T>(name: string, from: LengthFrom, inner: Codec<T>, max: number): Codec<T> {
  return {
    name,
    read(r, s) {
      const n = lengthOf(r, from, s, max, name);
      need(r, n, name);
      const outer = r.end;
      r.end = r.pos + n;
      const v = inner.read(r, s);
      if (r.pos !== r.end) malformed(r, `${r.end - r.pos} bytes left inside ${name}`);
      r.end = outer;
      return v;
    },
    write(w, v, s) {
      const at = w.pos;
      inner.write(w, v, s);
      expectLength(name, from, s, w.pos - at);
    },
  };
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The value type of a struct with fields F: derived length fields are optional. */
export type StructOf<F extends Record<string, AnyCodec>> = Simplify<
  { -readonly [K in keyof F as F[K] extends { derived: true } ? never : K]: Infer<F[K]> } & {
    -readonly [K in keyof F as F[K] extends { derived: true } ? K : never]?: Infer<F[K]>;
  }
>;

/** A structure: fields in declaration order; each field sees the fields before it. */
export function struct<F extends Record<string, AnyCodec>>(name: string, fields: F): Codec<StructOf<F>> {
  const entries = Object.entries(fields);
  return {
    name,
    read(r) {
      const out: Record<string, unknown> = {};
      for (const [key, f] of entries) {
        try {
          out[key] = f.read(r, out);
        } catch (e) {
          if (e instanceof DecodeFault) e.path.unshift(key);
          throw e;
        }
      }
      return out as StructOf<F>;
    },
    write(w, v) {
      if (typeof v !== "object" || v === null) throw encodeError(name, "value is not an object");
      // A copy, so that derived lengths written earlier are visible to the fields that depend on them.
      const obj: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      for (const [key, f] of entries) {
        try {
          if ((f as Partial<Derived<unknown>>).derived) obj[key] = (f as Derived<unknown>).derive(obj);
          f.write(w, obj[key], obj);
        } catch (e) {
          if (e instanceof EventLogEncodeError) e.within(name, key);
          throw e;
        }
      }
    },
  };
}

/** A reader over `bytes` from `offset` to `end`. */
export function reader(bytes: Uint8Array, offset = 0, end = bytes.length): Reader {
  return { buf: bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), pos: offset, end };
}

/** A new writer with `capacity` bytes reserved. */
export function writer(capacity = 256): Writer {
  const buf = new Uint8Array(capacity);
  return { buf, view: new DataView(buf.buffer), pos: 0 };
}

/** The bytes written so far (a copy). */
export function written(w: Writer): Uint8Array {
  return w.buf.slice(0, w.pos);
}

/** Marshals one value into new bytes. Throws EventLogEncodeError. */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  const w = writer();
  codec.write(w, value, {});
  return written(w);
}

/**
 * Unmarshals one value that must fill `bytes` exactly (unless `allowTrailing`). Throws a {@link DecodeFault}
 * whose path starts with the field inside `codec`.
 */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array, allowTrailing = false): T {
  const r = reader(bytes);
  const v = codec.read(r, {});
  if (!allowTrailing && r.pos !== r.end) malformed(r, `${r.end - r.pos} trailing bytes after ${codec.name}`);
  return v;
}
