/**
 * The one generic TPM 2.0 marshaller. Structures are declared once as schema values built from
 * the combinators below (after go-tpm's reflective `tpm2` package); `marshal` and `unmarshal`
 * walk them. Unmarshalling is bounds-checked: every length is checked against the bytes that
 * remain and against the structure's own maximum before anything is allocated, and a failure
 * is a {@link TpmDecodeError} naming the structure, the field path and the byte offset.
 *
 * @example
 * ```ts
 * const TPMS_CLOCK_INFO = struct("TPMS_CLOCK_INFO", { clock: u64, resetCount: u32, restartCount: u32, safe: u8 });
 * type TpmsClockInfo = Infer<typeof TPMS_CLOCK_INFO>;
 * const bytes = marshal(TPMS_CLOCK_INFO, { clock: 1n, resetCount: 0, restartCount: 0, safe: 1 });
 * unmarshal(TPMS_CLOCK_INFO, bytes).clock; // 1n
 * ```
 * @module
 */
import { fieldPath, TpmDecodeError, TpmEncodeError } from "./errors.ts";

/** Reading position over a byte buffer. `end` bounds reads (a TPM2B narrows it to its own size). */
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

/** A schema value: knows how to read and write one TPM type. Methods (not properties) keep it bivariant. */
export interface Codec<T> {
  /** The specification's name for the type, e.g. `TPM2B_DIGEST`. */
  readonly name: string;
  /** Reads one value at `r.pos`, advancing it. Throws a decode fault (internal) on bad input. */
  read(r: Reader): T;
  /** Appends one value. Throws {@link TpmEncodeError} when the value does not fit. */
  write(w: Writer, v: T): void;
}

/** A struct field whose codec is chosen by the value of an earlier sibling field (a TPMU keyed by a selector). */
export interface UnionField<T> {
  readonly kind: "union";
  /** Name of the sibling field holding the selector, e.g. `type` for TPMT_PUBLIC.parameters. */
  readonly selector: string;
  /** Name of the union type, e.g. `TPMU_PUBLIC_PARMS`. */
  readonly name: string;
  /** Codec for each selector value. */
  readonly arms: Readonly<Record<number, Codec<T>>>;
}

/** The TypeScript type a schema value codes. */
export type Infer<C> = C extends Codec<infer T> ? T : C extends UnionField<infer T> ? T : never;

type AnyCodec = Codec<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyField = AnyCodec | UnionField<any>;

/** Internal: thrown while decoding, turned into a TpmDecodeError with the full path by {@link unmarshal}. */
class DecodeFault {
  readonly offset: number;
  readonly reason: string;
  readonly path: string[] = [];
  constructor(offset: number, reason: string) {
    this.offset = offset;
    this.reason = reason;
  }
}

function fault(r: Reader, reason: string): never {
  throw new DecodeFault(r.pos, reason);
}

function need(r: Reader, n: number, what: string): void {
  if (r.end - r.pos < n) fault(r, `${what} needs ${n} bytes, ${Math.max(0, r.end - r.pos)} remaining`);
}

function ensure(w: Writer, n: number): void {
  if (w.pos + n <= w.buf.length) return;
  // At least 64 bytes: doubling alone never grows an empty buffer (a writer over new Uint8Array(0), or one whose
  // memory was transferred away, looped here for ever).
  let size = Math.max(w.buf.length * 2, 64);
  while (size < w.pos + n) size *= 2;
  const buf = new Uint8Array(size);
  buf.set(w.buf.subarray(0, w.pos));
  w.buf = buf;
  w.view = new DataView(buf.buffer);
}

/** A fresh Uint8Array copy (Buffer#slice would share memory with a Buffer input). */
function copy(b: Uint8Array, from: number, to: number): Uint8Array {
  // A plain Uint8Array's slice is one allocation; a Buffer's (or another subclass's) would not be a plain copy.
  return b.constructor === Uint8Array ? b.slice(from, to) : new Uint8Array(b.subarray(from, to));
}

/** A plain Uint8Array over the same bytes (no copy). */
function view(b: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + from, to - from);
}

function checkInt(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new TpmEncodeError(name, `${String(v)} is not an integer in 0..${max}`);
}

function uint(name: string, size: 1 | 2 | 4): Codec<number> {
  const max = 2 ** (8 * size) - 1;
  return {
    name,
    read(r) {
      need(r, size, name);
      const v = size === 1 ? r.buf[r.pos] : size === 2 ? r.view.getUint16(r.pos) : r.view.getUint32(r.pos);
      r.pos += size;
      return v;
    },
    write(w, v) {
      checkInt(name, v, max);
      ensure(w, size);
      if (size === 1) w.buf[w.pos] = v;
      else if (size === 2) w.view.setUint16(w.pos, v);
      else w.view.setUint32(w.pos, v);
      w.pos += size;
    },
  };
}

/** Unsigned 8-bit integer (also BYTE, TPMI_YES_NO, TPMA_SESSION, TPMA_LOCALITY). */
export const u8: Codec<number> = uint("UINT8", 1);
/** Unsigned 16-bit big-endian integer (TPM_ALG_ID, TPM_ST, TPM_ECC_CURVE, sizes). */
export const u16: Codec<number> = uint("UINT16", 2);
/** Unsigned 32-bit big-endian integer (handles, TPM_CC, TPM_RC, TPMA_OBJECT, properties). */
export const u32: Codec<number> = uint("UINT32", 4);

/** Signed 32-bit big-endian integer (INT32, e.g. PolicySecret's expiration). */
export const i32: Codec<number> = {
  name: "INT32",
  read(r) {
    need(r, 4, "INT32");
    const v = r.view.getInt32(r.pos);
    r.pos += 4;
    return v;
  },
  write(w, v) {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new TpmEncodeError("INT32", `${v} is out of range`);
    ensure(w, 4);
    w.view.setInt32(w.pos, v);
    w.pos += 4;
  },
};

/** Unsigned 64-bit big-endian integer, as a bigint (clock, firmwareVersion). */
export const u64: Codec<bigint> = {
  name: "UINT64",
  read(r) {
    need(r, 8, "UINT64");
    const v = r.view.getBigUint64(r.pos);
    r.pos += 8;
    return v;
  },
  write(w, v) {
    if (typeof v !== "bigint" || v < 0n || v > 0xffffffffffffffffn) throw new TpmEncodeError("UINT64", `${String(v)} is not a bigint in range`);
    ensure(w, 8);
    w.view.setBigUint64(w.pos, v);
    w.pos += 8;
  },
};

/** An empty arm of a union (TPM_ALG_NULL selectors): codes nothing. */
export const empty: Codec<null> = {
  name: "TPMS_EMPTY",
  read() {
    return null;
  },
  write() {},
};

function writeBytes(w: Writer, name: string, v: Uint8Array, max: number): void {
  if (!(v instanceof Uint8Array)) throw new TpmEncodeError(name, "value is not a Uint8Array");
  if (v.length > max) throw new TpmEncodeError(name, `${v.length} bytes exceed the maximum of ${max}`);
  ensure(w, v.length);
  w.buf.set(v, w.pos);
  w.pos += v.length;
}

/**
 * How a byte field is read: a copy (the default), or with `view` a view of the input's bytes — no allocation of its
 * own, for a value its reader turns into something else at once (a string, a key) and does not keep, or that must
 * stay the input's bytes.
 */
export interface BytesOptions {
  readonly view?: boolean;
}

/** A fixed-length byte array (e.g. a digest inside TPMT_HA, whose length the hash algorithm fixes). */
export function fixed(name: string, length: number, options: BytesOptions = {}): Codec<Uint8Array> {
  const take = options.view ? view : copy;
  return {
    name,
    read(r) {
      need(r, length, name);
      const v = take(r.buf, r.pos, r.pos + length);
      r.pos += length;
      return v;
    },
    write(w, v) {
      if (v?.length !== length) throw new TpmEncodeError(name, `must be ${length} bytes, got ${v?.length}`);
      writeBytes(w, name, v, length);
    },
  };
}

function sizedBytesWith(name: string, max: number, sizeCodec: Codec<number>, sizeBytes: number, options: BytesOptions): Codec<Uint8Array> {
  const take = options.view ? view : copy;
  return {
    name,
    read(r) {
      need(r, sizeBytes, `${name} size`);
      const start = r.pos;
      const size = sizeCodec.read(r);
      if (size > max) {
        r.pos = start;
        fault(r, `size ${size} exceeds the maximum of ${max}`);
      }
      if (size > r.end - r.pos) {
        r.pos = start;
        fault(r, `size ${size} exceeds ${r.end - r.pos - sizeBytes} remaining`);
      }
      const v = take(r.buf, r.pos, r.pos + size);
      r.pos += size;
      return v;
    },
    write(w, v) {
      if (!(v instanceof Uint8Array)) throw new TpmEncodeError(name, "value is not a Uint8Array");
      if (v.length > max) throw new TpmEncodeError(name, `${v.length} bytes exceed the maximum of ${max}`);
      sizeCodec.write(w, v.length);
      writeBytes(w, name, v, max);
    },
  };
}

/** A TPM2B of bytes: UINT16 size then that many bytes, at most `max` (the spec's sizeof the buffer). */
export function sized(name: string, max: number, options: BytesOptions = {}): Codec<Uint8Array> {
  return sizedBytesWith(name, max, u16, 2, options);
}

/** UINT8 size then bytes (TPMS_PCR_SELECT's sizeofSelect/pcrSelect). */
export function sized8(name: string, max: number, options: BytesOptions = {}): Codec<Uint8Array> {
  return sizedBytesWith(name, max, u8, 1, options);
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const UTF8 = new TextEncoder();

/**
 * A string as UINT16 size then that many bytes of UTF-8, at most `max` bytes (not a TPM type: Tessera's own formats
 * built on this codec, such as the envelope, carry names). Reading refuses bytes that are not UTF-8 (a decode fault
 * at the size field); a byte-order mark is kept as a character. Writing encodes straight into the output (ASCII
 * byte by byte, anything else through TextEncoder; a lone surrogate becomes U+FFFD, as TextEncoder does). The last
 * short string each field decoded is kept with its bytes: the same bytes again (a provider's name in every envelope
 * it wraps) give the same string without decoding them.
 */
export function sizedUtf8(name: string, max: number): Codec<string> {
  let lastBytes: Uint8Array = new Uint8Array(0);
  let lastString = "";
  return {
    name,
    read(r) {
      need(r, 2, `${name} size`);
      const start = r.pos;
      const size = r.view.getUint16(start);
      if (size > max) fault(r, `size ${size} exceeds the maximum of ${max}`);
      if (size > r.end - start - 2) fault(r, `size ${size} exceeds ${r.end - start - 2} remaining`);
      const from = start + 2;
      r.pos = from + size;
      if (size === lastBytes.length) {
        const buf = r.buf;
        let i = 0;
        while (i < size && buf[from + i] === lastBytes[i]) i++;
        if (i === size) return lastString;
      }
      let s: string;
      try {
        s = size === 0 ? "" : STRICT_UTF8.decode(r.buf.subarray(from, from + size));
      } catch {
        r.pos = start;
        fault(r, "is not UTF-8");
      }
      if (size <= 64) {
        lastBytes = copy(r.buf, from, from + size); // a copy: the input may be changed after
        lastString = s;
      }
      return s;
    },
    write(w, v) {
      if (typeof v !== "string") throw new TpmEncodeError(name, "value is not a string");
      // ASCII is one byte a code unit (room for exactly that: a writer of the exact size is not grown); anything
      // else at most 3 bytes a UTF-16 code unit.
      ensure(w, 2 + v.length);
      const at = w.pos + 2;
      let n = 0;
      for (; n < v.length; n++) {
        const c = v.charCodeAt(n);
        if (c > 0x7f) break;
        w.buf[at + n] = c;
      }
      if (n < v.length) {
        // Growing copies only what is before w.pos: the whole string is encoded again after it.
        ensure(w, 2 + n + 3 * (v.length - n));
        n = UTF8.encodeInto(v, w.buf.subarray(at)).written;
      }
      if (n > max) throw new TpmEncodeError(name, `${n} bytes of UTF-8 exceed the maximum of ${max}`);
      w.view.setUint16(w.pos, n);
      w.pos = at + n;
    },
  };
}

/**
 * A TPM2B that wraps a structure (TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPM2B_ECC_POINT, TPM2B_NV_PUBLIC):
 * UINT16 size, then the structure, which must fill exactly that size.
 */
export function sizedStruct<T>(name: string, inner: Codec<T>, max = 0xffff): Codec<T> {
  return {
    name,
    read(r) {
      need(r, 2, `${name} size`);
      const start = r.pos;
      const size = u16.read(r);
      if (size > max) {
        r.pos = start;
        fault(r, `size ${size} exceeds the maximum of ${max}`);
      }
      if (size > r.end - r.pos) {
        r.pos = start;
        fault(r, `size ${size} exceeds ${r.end - r.pos - 2} remaining`);
      }
      if (size === 0) {
        r.pos = start;
        fault(r, `size 0: ${name} must not be empty`);
      }
      const outerEnd = r.end;
      r.end = r.pos + size;
      const v = inner.read(r);
      if (r.pos !== r.end) fault(r, `${r.end - r.pos} bytes left inside ${name} after ${inner.name}`);
      r.end = outerEnd;
      return v;
    },
    write(w, v) {
      ensure(w, 2);
      const at = w.pos;
      w.pos += 2;
      inner.write(w, v);
      const size = w.pos - at - 2;
      if (size > max) throw new TpmEncodeError(name, `${size} bytes exceed the maximum of ${max}`);
      w.view.setUint16(at, size);
    },
  };
}

/** A TPML: UINT32 count then that many items, at most `max` (checked before anything is read). */
export function list<T>(name: string, item: Codec<T>, max: number): Codec<T[]> {
  return {
    name,
    read(r) {
      need(r, 4, `${name} count`);
      const count = u32.read(r);
      if (count > max) {
        r.pos -= 4;
        fault(r, `count ${count} exceeds the maximum of ${max}`);
      }
      const out: T[] = [];
      for (let i = 0; i < count; i++) {
        try {
          out.push(item.read(r));
        } catch (e) {
          if (e instanceof DecodeFault) e.path.unshift(`[${i}]`);
          throw e;
        }
      }
      return out;
    },
    write(w, v) {
      if (!Array.isArray(v)) throw new TpmEncodeError(name, "value is not an array");
      if (v.length > max) throw new TpmEncodeError(name, `${v.length} items exceed the maximum of ${max}`);
      u32.write(w, v.length);
      v.forEach((x, i) => {
        try {
          item.write(w, x);
        } catch (e) {
          if (e instanceof TpmEncodeError) e.within(name, `[${i}]`);
          throw e;
        }
      });
    },
  };
}

/** A union field keyed by the earlier sibling field `selector`; an unknown selector value is a decode error. */
export function union<A extends Record<number, AnyCodec>>(name: string, selector: string, arms: A): UnionField<Infer<A[keyof A]>> {
  return { kind: "union", name, selector, arms };
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The value type of a struct with fields F. */
export type StructOf<F extends Record<string, AnyField>> = Simplify<{ -readonly [K in keyof F]: Infer<F[K]> }>;

function hex16(v: unknown): string {
  return typeof v === "number" ? `0x${v.toString(16).padStart(4, "0")}` : String(v);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function isUnion(f: AnyField): f is UnionField<any> {
  return (f as { kind?: string }).kind === "union";
}

/** A struct's field names that a generated reader writes into an object literal as they are. */
const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/;

/**
 * A struct's reader as straight-line code, generated once per struct: each field read at a call site of its own
 * (which only ever calls that field's codec, so V8 can inline it), the value built by one object literal (one
 * shape), the selector of a union read from its local. The loop over the fields that it replaces called every codec
 * from one megamorphic site and grew the object a property at a time: an envelope's header took 0.33 µs in a tight
 * loop but 1.4 µs between AES-GCM calls, which evict the caches such a site depends on. The same reads in the same
 * order, the same errors (a field at fault named by `i`). Undefined for names that are not plain identifiers
 * ({@link loopReader} reads those).
 */
function generatedReader(keys: readonly string[], codecs: readonly AnyField[], unions: readonly boolean[]): ((r: Reader) => unknown) | undefined {
  if (!keys.every((k) => PLAIN_KEY.test(k) && k !== "__proto__")) return undefined;
  const lines: string[] = [];
  keys.forEach((_, i) => {
    lines.push(`i = ${i};`);
    if (unions[i]) {
      const u = codecs[i] as UnionField<unknown>;
      const at = keys.indexOf(u.selector);
      // A selector that is not an earlier field reads as undefined, as the loop's did.
      const sel = at >= 0 && at < i ? `v${at}` : "undefined";
      lines.push(`const a${i} = c${i}.arms[${sel}];`);
      lines.push(`if (!a${i}) fault(r, "selector " + c${i}.selector + "=" + hex16(${sel}) + " is not valid for " + c${i}.name);`);
      lines.push(`const v${i} = a${i}.read(r);`);
    } else {
      lines.push(`const v${i} = c${i}.read(r);`);
    }
  });
  const literal = keys.map((k, i) => `${k}: v${i}`).join(", ");
  const source = `return function read(r) {
  let i = 0;
  try {
    ${lines.join("\n    ")}
    return { ${literal} };
  } catch (e) {
    if (e instanceof DecodeFault) e.path.unshift(keys[i]);
    throw e;
  }
};`;
  // Code made from this module's own template and the schema's field names (checked above), never from input.
  const make = compiled(codecs.length, ["keys", "fault", "hex16", "DecodeFault"], source);
  return make?.(...codecs, keys, fault, hex16, DecodeFault) as ((r: Reader) => unknown) | undefined;
}

/**
 * `source` as the body of a function of the codecs (`c0` … `c{n-1}`) and `names`, or undefined where this process
 * forbids code from strings (`node --disallow-code-generation-from-strings`): the loops are used then.
 */
function compiled(n: number, names: readonly string[], source: string): ((...args: unknown[]) => unknown) | undefined {
  try {
    return new Function(...Array.from({ length: n }, (_, i) => `c${i}`), ...names, source) as (...args: unknown[]) => unknown;
  } catch (e) {
    if (e instanceof EvalError) return undefined;
    throw e;
  }
}

/** A struct's reader as a loop over its fields (any field names). */
function loopReader(keys: readonly string[], codecs: readonly AnyField[], unions: readonly boolean[]): (r: Reader) => unknown {
  return (r) => {
    const out: Record<string, unknown> = {};
    let i = 0;
    try {
      for (; i < codecs.length; i++) {
        const f = codecs[i]!;
        if (unions[i]) {
          const u = f as UnionField<unknown>;
          const sel = out[u.selector] as number;
          const arm = u.arms[sel];
          if (!arm) fault(r, `selector ${u.selector}=${hex16(sel)} is not valid for ${u.name}`);
          out[keys[i]!] = arm.read(r);
        } else {
          out[keys[i]!] = (f as AnyCodec).read(r);
        }
      }
    } catch (e) {
      if (e instanceof DecodeFault) e.path.unshift(keys[i]!);
      throw e;
    }
    return out;
  };
}

/** A struct's writer as straight-line code, generated once per struct (as {@link generatedReader}, and for the same reasons). */
function generatedWriter(
  name: string,
  keys: readonly string[],
  codecs: readonly AnyField[],
  unions: readonly boolean[],
): ((w: Writer, v: unknown) => void) | undefined {
  if (!keys.every((k) => PLAIN_KEY.test(k) && k !== "__proto__")) return undefined;
  const lines: string[] = [];
  keys.forEach((k, i) => {
    lines.push(`i = ${i};`);
    if (unions[i]) {
      const u = codecs[i] as UnionField<unknown>;
      // The selector is a field (struct() checked it), so a plain name too.
      lines.push(`const a${i} = c${i}.arms[v.${u.selector}];`);
      lines.push(`if (!a${i}) throw new TpmEncodeError(c${i}.name, "selector " + c${i}.selector + "=" + hex16(v.${u.selector}) + " is not valid for " + c${i}.name);`);
      lines.push(`a${i}.write(w, v.${k});`);
    } else {
      lines.push(`c${i}.write(w, v.${k});`);
    }
  });
  const source = `return function write(w, v) {
  if (typeof v !== "object" || v === null) throw new TpmEncodeError(name, "value is not an object");
  let i = 0;
  try {
    ${lines.join("\n    ")}
  } catch (e) {
    if (e instanceof TpmEncodeError) e.within(name, keys[i]);
    throw e;
  }
};`;
  // As in generatedReader: this module's template and checked field names only.
  const make = compiled(codecs.length, ["name", "keys", "hex16", "TpmEncodeError"], source);
  return make?.(...codecs, name, keys, hex16, TpmEncodeError) as ((w: Writer, v: unknown) => void) | undefined;
}

/** A struct's writer as a loop over its fields (any field names). */
function loopWriter(name: string, keys: readonly string[], codecs: readonly AnyField[], unions: readonly boolean[]): (w: Writer, v: unknown) => void {
  return (w, v) => {
    if (typeof v !== "object" || v === null) throw new TpmEncodeError(name, "value is not an object");
    const obj = v as Record<string, unknown>;
    let i = 0;
    try {
      for (; i < codecs.length; i++) {
        const f = codecs[i]!;
        if (unions[i]) {
          const u = f as UnionField<unknown>;
          const sel = obj[u.selector] as number;
          const arm = u.arms[sel];
          if (!arm) throw new TpmEncodeError(u.name, `selector ${u.selector}=${hex16(sel)} is not valid for ${u.name}`);
          arm.write(w, obj[keys[i]!]);
        } else {
          (f as AnyCodec).write(w, obj[keys[i]!]);
        }
      }
    } catch (e) {
      if (e instanceof TpmEncodeError) e.within(name, keys[i]!);
      throw e;
    }
  };
}

/** A TPMS/TPMT: fields in declaration order. Union fields pick their arm from an earlier field's value. */
export function struct<F extends Record<string, AnyField>>(name: string, fields: F): Codec<StructOf<F>> {
  const entries = Object.entries(fields);
  for (const [key, f] of entries) {
    if (isUnion(f) && !(f.selector in fields)) throw new Error(`${name}.${key}: selector ${f.selector} is not a field`);
  }
  const keys = entries.map(([key]) => key);
  const codecs = entries.map(([, f]) => f);
  // Which fields are unions, decided once (asking each codec object for `kind` on every read is a megamorphic lookup).
  const unions = codecs.map((f) => isUnion(f));
  const read = (generatedReader(keys, codecs, unions) ?? loopReader(keys, codecs, unions)) as (r: Reader) => StructOf<F>;
  return {
    name,
    read,
    write: (generatedWriter(name, keys, codecs, unions) ?? loopWriter(name, keys, codecs, unions)) as (w: Writer, v: StructOf<F>) => void,
  };
}

/** A type whose wire form is another codec's (an alias with its own spec name, e.g. TPM2B_NONCE = TPM2B_DIGEST). */
export function alias<T>(name: string, of: Codec<T>): Codec<T> {
  return { name, read: (r) => of.read(r), write: (w, v) => of.write(w, v) };
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

/** The writer {@link marshal} reuses (undefined while one is in use), its first size and the largest kept. */
let spare: Writer | undefined;
const SPARE_BYTES = 1024;
const SPARE_MAX_BYTES = 64 * 1024;

/** Marshals `value` with `codec` into new bytes. Throws {@link TpmEncodeError}. */
export function marshal<T>(codec: Codec<T>, value: T): Uint8Array {
  // One writer kept between calls: a new one is a Uint8Array of 256 bytes, which V8 keeps off its heap (over 64
  // bytes: a backing store allocated, tracked and freed by the GC), and that and its DataView cost ~3.5 µs a call,
  // ten times what marshalling a TPMT_PUBLIC costs. Taken while in use, so a marshal() inside a codec's write gets a
  // new one; what was written is wiped after it is copied out (it may be key material).
  const w = spare ?? writer(SPARE_BYTES);
  spare = undefined;
  w.pos = 0;
  try {
    codec.write(w, value);
    return w.buf.slice(0, w.pos);
  } finally {
    w.buf.fill(0, 0, w.pos);
    // A writer grown far past its start is let go (one large value must not hold its memory for good).
    if (w.buf.length <= SPARE_MAX_BYTES) spare = w;
  }
}


/** A reader over `bytes` from `offset` (default 0) to the end. */
export function reader(bytes: Uint8Array, offset = 0): Reader {
  return { buf: bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), pos: offset, end: bytes.length };
}

/**
 * Runs `read` and turns an internal decode fault into a {@link TpmDecodeError} that names `structure`, the field
 * path and the byte offset. Use it around any sequence of codec reads (framing, files).
 */
export function decoding<T>(structure: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DecodeFault) {
      throw new TpmDecodeError(structure, fieldPath(e.path), e.offset, e.reason);
    }
    throw e;
  }
}

/** Options of {@link unmarshal}. */
export interface UnmarshalOptions {
  /** Accept bytes after the structure (default false: trailing bytes are an error). */
  allowTrailing?: boolean;
}

/** Unmarshals one `codec` value from the whole of `bytes`. Throws {@link TpmDecodeError} with structure, field and offset. */
export function unmarshal<T>(codec: Codec<T>, bytes: Uint8Array, options: UnmarshalOptions = {}): T {
  return decoding(codec.name, () => {
    const r = reader(bytes);
    const v = codec.read(r);
    if (!options.allowTrailing && r.pos !== r.end) fault(r, `${r.end - r.pos} trailing bytes after ${codec.name}`);
    return v;
  });
}

/** Unmarshals one value at `offset`; returns it with the offset just after it. */
export function unmarshalAt<T>(codec: Codec<T>, bytes: Uint8Array, offset: number): { value: T; offset: number } {
  return decoding(codec.name, () => {
    const r = reader(bytes, offset);
    const value = codec.read(r);
    return { value, offset: r.pos };
  });
}

/** Internal for sibling modules: raise a decode fault at the reader's position (becomes a TpmDecodeError). */
export function decodeFault(r: Reader, reason: string): never {
  fault(r, reason);
}
