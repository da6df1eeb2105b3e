/**
 * The KMIP JSON encoding of TTLV items (KMIP Additional Message Encodings v1.0 §4.1 "JSON Encoding", the
 * JSON Profile that KMIP 1.3+ and 2.x reference): every item is an object `{ "tag", "type", "value" }`.
 *
 * - `tag`: the normalized tag name (`"ObjectType"`), or `"0x42xxxx"`/`"0x54xxxx"` for tags the registry does
 *   not know (§4.1.2).
 * - `type`: the normalized type name (`"Integer"`, `"DateTimeExtended"`…), omitted for a Structure (§4.1.4).
 * - `value` (§4.1.5): Structure → array of items; Integer → number, or for mask tags (and an AttributeValue
 *   whose attribute is a mask) the bit names joined by `|` ("Encrypt|Decrypt", unknown bits as hex);
 *   LongInteger/BigInteger → number when its magnitude is below 2^52, else a `"0x…"` two's complement hex string
 *   (16 digits for LongInteger, a multiple of 16 for BigInteger); Enumeration → member name (for an
 *   AttributeValue: of the enumeration of the sibling AttributeName's attribute) or `"0x"` + 8 hex digits;
 *   Boolean → `true`/`false`; TextString → string; ByteString → hex without prefix; DateTime → ISO 8601 in
 *   UTC (`"2008-03-14T11:56:40Z"`); DateTimeExtended → ISO 8601 with microseconds
 *   (`"2008-03-14T11:56:40.000001Z"`); Interval → number.
 *
 * {@link fromJson} also takes the spec's alternatives: `"0x…"` hex for Integer, LongInteger, BigInteger,
 * Enumeration, Boolean, DateTime, DateTimeExtended and Interval; ISO 8601 times with any UTC offset; mask
 * names separated by `|` or spaces, mixed with hex. As a leniency it takes JSON numbers for Enumerations.
 * Anything else fails with a {@link KmipDecodeError} whose tag text names the item and its JSON path
 * (`Operation (JSON $.value[1].value[0])`) and whose offset is 0.
 * @example
 * ```ts
 * toJson({ tag: 0x420057, type: 0x05, value: 2 }); // { tag: "ObjectType", type: "Enumeration", value: "SymmetricKey" }
 * fromJson({ tag: "CryptographicUsageMask", type: "Integer", value: "Encrypt|Decrypt" }); // value 12
 * ```
 * @module
 */
import { KmipDecodeError } from "./errors.ts";
import {
  attributeTagName,
  enumName,
  enumValue,
  hasEnumValue,
  isKnownTag,
  isMask,
  maskText,
  maskValue,
  tagEnumeration,
  tagName,
  tagOf,
  type KmipVersion,
} from "./registry.ts";
import { TTLV_TYPE, TTLV_TYPE_NAME, type DecodeLimits, type Ttlv, type TtlvType } from "./ttlv.ts";

/** One item in the KMIP JSON encoding. */
export interface JsonTtlv {
  /** Tag name, or `"0x42xxxx"` for tags the registry does not know. */
  tag: string;
  /** Type name; omitted for a Structure. */
  type?: string;
  /** The value, rendered as described in the module documentation. */
  value: JsonTtlv[] | number | string | boolean;
}

/** Options of {@link toJson} and {@link fromJson} (`maxDepth` and `maxItems` bound fromJson only). */
export interface JsonOptions extends Pick<DecodeLimits, "maxDepth" | "maxItems"> {
  /**
   * The protocol version whose enumeration names to use; by default the ProtocolVersion in the message's
   * RequestHeader/ResponseHeader when there is one, else the KMIP 1.x names.
   */
  version?: KmipVersion;
}

/**
 * Renders an item in the KMIP JSON encoding.
 * @example toJson(item("CryptographicUsageMask", "Encrypt Decrypt")) // { tag: "CryptographicUsageMask", type: "Integer", value: "Encrypt|Decrypt" }
 */
export function toJson(item: Ttlv, options: JsonOptions = {}): JsonTtlv {
  return render(item, options.version ?? messageVersion(item), undefined);
}

function render(item: Ttlv, version: KmipVersion | undefined, attrTag: number | undefined): JsonTtlv {
  const tag = tagName(item.tag);
  const type = TTLV_TYPE_NAME[item.type];
  switch (item.type) {
    case 0x01: {
      const value: JsonTtlv[] = [];
      let attr: number | undefined;
      for (const c of item.value) {
        value.push(render(c, version, attr));
        if (c.tag === ATTRIBUTE_NAME && c.type === 0x07) attr = attributeTag(c.value);
      }
      return { tag, value };
    }
    case 0x02: {
      const text = maskWords(contextTag(item.tag, attrTag), item.value);
      return { tag, type, value: text ? text.replaceAll(" ", "|") : item.value };
    }
    case 0x05:
      return { tag, type, value: VALUE_TEXT.enumText(contextTag(item.tag, attrTag), item.value, version) };
    case 0x03:
      return { tag, type, value: jsonSafe(item.value) ? Number(item.value) : VALUE_TEXT.fixedHex(item.value, 8) };
    case 0x04:
      return { tag, type, value: jsonSafe(item.value) ? Number(item.value) : "0x" + VALUE_TEXT.bigIntHex(item.value) };
    case 0x06:
      return { tag, type, value: item.value };
    case 0x07:
      return { tag, type, value: item.value };
    case 0x08:
      return { tag, type, value: VALUE_TEXT.hex(item.value) };
    case 0x09:
      return { tag, type, value: VALUE_TEXT.formatDateTime(item.value) };
    case 0x0b:
      return { tag, type, value: VALUE_TEXT.formatDateTimeExtended(item.value) };
    case 0x0a:
      return { tag, type, value: item.value };
  }
}

/** Whether a JSON number holds `v` exactly for any reader: |v| < 2^52, as the JSON profile asks (§4.1.5). */
function jsonSafe(v: bigint): boolean {
  return v > -(2n ** 52n) && v < 2n ** 52n;
}

/**
 * Reads an item from the KMIP JSON encoding (a parsed JSON value, e.g. from `JSON.parse`). Throws
 * {@link KmipDecodeError} for anything that is not a valid item, and nothing else, whatever the input.
 * Nesting is limited like binary decoding (`maxDepth` 32, `maxItems` 100 000 by default).
 */
export function fromJson(j: unknown, options: JsonOptions = {}): Ttlv {
  const st: ReadState = { items: 0, maxItems: options.maxItems ?? 100_000, maxDepth: options.maxDepth ?? 32, version: options.version };
  try {
    if (st.version === undefined) st.version = jsonMessageVersion(j);
    return read(st, j, "$", 0, undefined);
  } catch (e) {
    if (e instanceof KmipDecodeError) throw e;
    // Only hostile objects (getters, proxies) can get here; they are still bad input.
    throw new KmipDecodeError("(JSON $)", 0, `unreadable JSON value: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

interface ReadState {
  items: number;
  maxItems: number;
  maxDepth: number;
  version: KmipVersion | undefined;
}

const TYPE_BY_NAME: ReadonlyMap<string, TtlvType> = new Map(Object.entries(TTLV_TYPE));
const KEYS = new Set(["tag", "type", "value"]);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function read(st: ReadState, j: unknown, path: string, depth: number, attrTag: number | undefined): Ttlv {
  let where = `(JSON ${path})`;
  const fail = (why: string): never => {
    throw new KmipDecodeError(where, 0, why);
  };
  if (!isRecord(j)) return fail(`an item must be an object with "tag", "type" and "value", not ${describe(j)}`);
  for (const k of Object.keys(j)) if (!KEYS.has(k)) fail(`unexpected member "${k}" (an item has only "tag", "type" and "value")`);
  if (++st.items > st.maxItems) fail(`more than ${st.maxItems} items`);
  if (typeof j.tag !== "string") return fail(`"tag" must be a string, not ${describe(j.tag)}`);
  const tag = VALUE_TEXT.parseTag(j.tag);
  if (typeof tag === "string") return fail(tag);
  where = `${tagName(tag)} (JSON ${path})`;
  let type: TtlvType = TTLV_TYPE.Structure;
  if (j.type !== undefined) {
    if (typeof j.type !== "string") return fail(`"type" must be a string, not ${describe(j.type)}`);
    const t = TYPE_BY_NAME.get(j.type);
    if (t === undefined) return fail(`"${j.type}" is not a TTLV type name`);
    type = t;
  }
  if (!("value" in j)) return fail(`"value" is missing`);
  const v = j.value;
  const ctx = contextTag(tag, attrTag);
  const bad = (expected: string): never => fail(`a ${TTLV_TYPE_NAME[type]} value must be ${expected}, not ${describe(v)}`);
  const textValue = (text: string): Ttlv => {
    const r = VALUE_TEXT.parseText(tag, type, text, ctx, st.version, "|");
    return typeof r === "string" ? fail(r) : r;
  };
  switch (type) {
    case 0x01: {
      if (!Array.isArray(v)) return bad("an array of items");
      if (depth >= st.maxDepth) fail(`structures nested deeper than ${st.maxDepth}`);
      const children: Ttlv[] = [];
      let attr: number | undefined;
      for (let i = 0; i < v.length; i++) {
        const c = read(st, v[i], `${path}.value[${i}]`, depth + 1, attr);
        if (c.tag === ATTRIBUTE_NAME && c.type === 0x07) attr = attributeTag(c.value);
        children.push(c);
      }
      return { tag, type, value: children };
    }
    case 0x02:
      if (typeof v === "number") {
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) fail(`Integer ${v} is not a 32-bit signed integer`);
        return { tag, type, value: v };
      }
      return typeof v === "string" ? textValue(v) : bad("a number, a hex string or mask names");
    case 0x05:
    case 0x0a:
      if (typeof v === "number") {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail(`${TTLV_TYPE_NAME[type]} ${v} is not a 32-bit unsigned value`);
        return { tag, type, value: v };
      }
      return typeof v === "string" ? textValue(v) : bad(type === 0x05 ? "a member name or a hex string" : "a number or a hex string");
    case 0x03:
    case 0x04:
      if (typeof v === "number") {
        if (!Number.isSafeInteger(v)) fail(`${v} is not a safe JSON integer (use a "0x…" hex string)`);
        return { tag, type, value: BigInt(v) };
      }
      return typeof v === "string" ? textValue(v) : bad("a number or a hex string");
    case 0x06:
      if (typeof v === "boolean") return { tag, type, value: v };
      return typeof v === "string" ? textValue(v) : bad("true, false or a hex string");
    case 0x07:
      return typeof v === "string" ? { tag, type, value: v } : bad("a string");
    case 0x08:
    case 0x09:
    case 0x0b:
      return typeof v === "string" ? textValue(v) : bad(type === 0x08 ? "a hex string" : "an ISO 8601 string or a hex string");
    default:
      return fail("unreachable");
  }
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  if (typeof x === "string") return `the string ${JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x)}`;
  if (typeof x === "number" || typeof x === "boolean" || typeof x === "bigint") return `${typeof x} ${String(x)}`;
  return typeof x === "object" ? "an object" : typeof x;
}

/** The ProtocolVersion in a JSON message's header, if it is there and well formed. */
function jsonMessageVersion(j: unknown): KmipVersion | undefined {
  const child = (x: unknown, name: string): Record<string, unknown> | undefined => {
    if (!isRecord(x) || !Array.isArray(x.value)) return undefined;
    const found: unknown = x.value.find((c: unknown) => isRecord(c) && c.tag === name);
    return isRecord(found) ? found : undefined;
  };
  const header = child(j, "RequestHeader") ?? child(j, "ResponseHeader");
  const pv = child(header, "ProtocolVersion");
  const major = child(pv, "ProtocolVersionMajor")?.value;
  const minor = child(pv, "ProtocolVersionMinor")?.value;
  return typeof major === "number" && typeof minor === "number" ? { major, minor } : undefined;
}

// ——— Shared with xml.ts ———

const ATTRIBUTE_NAME = 0x42000a;
const ATTRIBUTE_VALUE = 0x42000b;

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** The tag of the attribute a KMIP 1.x AttributeName text names ("Cryptographic Algorithm" → 0x420028). */
function attributeTag(name: string): number | undefined {
  const n = attributeTagName(name);
  return n === undefined ? undefined : safe(() => tagOf(n));
}

/** The tag whose enumeration or mask applies to an item: the attribute's for an AttributeValue. */
function contextTag(tag: number, attrTag: number | undefined): number {
  return tag === ATTRIBUTE_VALUE && attrTag !== undefined ? attrTag : tag;
}

function maskOf(tag: number): string | undefined {
  const e = tagEnumeration(tag);
  return e !== undefined && isMask(e) ? e : undefined;
}

/** The bit names of a mask Integer ("Encrypt Decrypt"), or undefined when `tag` is no mask or `v` is 0. */
function maskWords(tag: number, v: number): string | undefined {
  const mask = maskOf(tag);
  return mask !== undefined && v !== 0 ? safe(() => maskText(mask, v)) || undefined : undefined;
}

function enumerationOf(tag: number): string | undefined {
  const e = tagEnumeration(tag);
  return e !== undefined && !isMask(e) ? e : undefined;
}

/** The ProtocolVersion in a message's RequestHeader/ResponseHeader. */
function messageVersion(item: Ttlv): KmipVersion | undefined {
  const child = (x: Ttlv | undefined, tag: number): Ttlv | undefined => (x && x.type === 0x01 ? x.value.find((c) => c.tag === tag) : undefined);
  const header = child(item, 0x420077) ?? child(item, 0x42007a);
  const pv = child(header, 0x420069);
  const major = child(pv, 0x42006a);
  const minor = child(pv, 0x42006b);
  return major?.type === 0x02 && minor?.type === 0x02 ? { major: major.value, minor: minor.value } : undefined;
}

const HEX_RE = /^[0-9a-fA-F]*$/;

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function bytesOfHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !HEX_RE.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `v` as `0x` + 2·`bytes` hex digits of its two's complement. */
function fixedHex(v: bigint, bytes: number): string {
  return (
    "0x" +
    BigInt.asUintN(bytes * 8, v)
      .toString(16)
      .padStart(bytes * 2, "0")
  );
}

/** Minimal two's complement of `v`, sign-extended to a multiple of 8 bytes (KMIP 1.4 §9.1.1.4), as hex. */
function bigIntHex(v: bigint): string {
  let bits = 1; // the sign bit
  for (let m = v < 0n ? -v - 1n : v; m > 0n; m >>= 1n) bits++;
  const bytes = Math.max(8, Math.ceil(bits / 64) * 8);
  return BigInt.asUintN(bytes * 8, v)
    .toString(16)
    .padStart(bytes * 2, "0");
}

/** The value of a two's complement hex string (`bytes` digits pairs, sign bit first). */
function fromTwosHex(digits: string): bigint {
  const u = BigInt("0x" + digits);
  return BigInt.asIntN(digits.length * 4, u);
}

// ISO 8601 dates without Date's two-digit-year and range quirks (proleptic Gregorian, H. Hinnant's algorithms).
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const MIN_ISO = -62167219200n; // 0000-01-01T00:00:00Z
const MAX_ISO = 253402300799n; // 9999-12-31T23:59:59Z

function isoSeconds(s: bigint): string {
  const days = Number(s / 86400n) - (s % 86400n < 0n ? 1 : 0);
  const sod = Number(s - BigInt(days) * 86400n);
  const [y, m, d] = civilFromDays(days);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(y, 4)}-${p(m)}-${p(d)}T${p(Math.floor(sod / 3600))}:${p(Math.floor(sod / 60) % 60)}:${p(sod % 60)}`;
}

/** DateTime seconds as ISO 8601 UTC, or `0x` hex outside years 0000–9999. */
function formatDateTime(s: bigint): string {
  return s >= MIN_ISO && s <= MAX_ISO ? isoSeconds(s) + "Z" : fixedHex(s, 8);
}

/** DateTimeExtended microseconds as ISO 8601 UTC with six fraction digits, or `0x` hex outside years 0000–9999. */
function formatDateTimeExtended(us: bigint): string {
  const s = us / 1_000_000n - (us % 1_000_000n < 0n ? 1n : 0n);
  if (s < MIN_ISO || s > MAX_ISO) return fixedHex(us, 8);
  return `${isoSeconds(s)}.${String(us - s * 1_000_000n).padStart(6, "0")}Z`;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,12}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** Microseconds since the epoch of an ISO 8601 date-time with an offset, or a reason why not. */
function parseIso(text: string, extended: boolean): bigint | string {
  const m = ISO_RE.exec(text);
  if (!m) return `"${text}" is not an ISO 8601 date-time with a UTC offset (2001-01-01T10:00:00+10:00)`;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const frac = m[7] ?? "";
  const monthDays = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > monthDays[mo - 1] || h > 23 || mi > 59 || s > 59) return `"${text}" is not a valid date-time`;
  const offset = m[8] ? 0 : (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 3600 + Number(m[11]) * 60);
  if (!m[8] && (Number(m[10]) > 23 || Number(m[11]) > 59)) return `"${text}" has an invalid UTC offset`;
  const keep = extended ? 6 : 0;
  if (/[1-9]/.test(frac.slice(keep))) return `"${text}" is more precise than a ${extended ? "DateTimeExtended (microseconds)" : "DateTime (seconds)"}`;
  const us = BigInt(Number(frac.slice(0, keep).padEnd(keep, "0")) || 0);
  const secs = BigInt(daysFromCivil(y, mo, d)) * 86400n + BigInt(h * 3600 + mi * 60 + s - offset);
  return secs * 1_000_000n + us;
}

/** `0x` + 1…2·`bytes` hex digits, as the unsigned value; undefined when `text` is not that. */
function hexValue(text: string, bytes: number): bigint | undefined {
  if (!/^0[xX][0-9a-fA-F]+$/.test(text) || text.length - 2 > bytes * 2) return undefined;
  return BigInt(text);
}

/** A tag from its name or `0x42xxxx`/`0x54xxxx` hex; a reason when neither. */
function parseTag(text: string): number | string {
  if (/^0[xX][0-9a-fA-F]{6}$/.test(text)) {
    const t = parseInt(text.slice(2), 16);
    return (t & 0xff0000) === 0x420000 || (t & 0xff0000) === 0x540000 ? t : `tag ${text} is outside the KMIP (0x42xxxx) and extension (0x54xxxx) ranges`;
  }
  const t = safe(() => tagOf(text));
  return t ?? `"${text.length > 60 ? text.slice(0, 60) + "…" : text}" is not a KMIP tag name`;
}

/** An Enumeration value as its member name in the enumeration of `tag`, or `0x` + 8 hex digits. */
function enumText(tag: number, v: number, version: KmipVersion | undefined): string {
  const e = enumerationOf(tag);
  if (e !== undefined) {
    const n = safe(() => (hasEnumValue(e, v) ? enumName(e, v, version) : undefined));
    if (n !== undefined) return n;
  }
  return fixedHex(BigInt(v), 4);
}

/**
 * An item of `type` (not Structure) from its value text: the JSON string forms and the XML `value`
 * attribute. `sep` is the mask separator written by the encoding (both `|` and spaces are read).
 * Returns a reason when the text does not fit.
 */
function parseText(tag: number, type: TtlvType, text: string, ctx: number, version: KmipVersion | undefined, sep: string): Ttlv | string {
  const tn = TTLV_TYPE_NAME[type];
  const show = JSON.stringify(text.length > 60 ? text.slice(0, 60) + "…" : text);
  const notA = (what: string) => `${show} is not ${what}`;
  switch (type) {
    case 0x02: {
      const mask = maskOf(ctx);
      const words = mask ? text.split(/[\s|]+/).filter((w) => w.length > 0) : [text];
      if (words.length === 0) return notA(`an Integer or ${mask} names`);
      let v = 0;
      for (const w of words) {
        const hx = hexValue(w, 4);
        if (hx !== undefined) v |= Number(hx);
        else if (/^[+-]?\d{1,10}$/.test(w) && (mask !== undefined || sep === " ")) {
          // Decimal only where a number cannot be written as a JSON number: XML, and mask words.
          const n = Number(w);
          if (mask !== undefined ? n < 0 || n > 0xffffffff : n < -0x80000000 || n > 0x7fffffff) return notA("a 32-bit Integer");
          v |= n;
        } else if (mask !== undefined && /^[A-Za-z][A-Za-z0-9_]*$/.test(w)) {
          const bit = safe(() => maskValue(mask, w));
          if (bit === undefined) return `"${w}" is not a bit of the mask ${mask}`;
          v |= bit;
        } else return notA(mask ? `an Integer or ${mask} names (${["Encrypt", "Decrypt"].join(sep)})` : `an Integer (decimal or 0x hex)`);
      }
      return { tag, type, value: v | 0 };
    }
    case 0x05: {
      const hx = hexValue(text, 4);
      if (hx !== undefined) return { tag, type, value: Number(hx) };
      if (/^\d{1,10}$/.test(text) && Number(text) <= 0xffffffff) return { tag, type, value: Number(text) };
      const e = enumerationOf(ctx);
      if (e === undefined) return `${show} is neither 0x hex nor a name: ${tagName(ctx)} has no known enumeration`;
      const v = safe(() => enumValue(e, text, version));
      if (v === undefined || v < 0 || v > 0xffffffff) return `${show} is not a member of the enumeration ${e}`;
      return { tag, type, value: v };
    }
    case 0x0a: {
      const hx = hexValue(text, 4);
      if (hx !== undefined) return { tag, type, value: Number(hx) };
      if (sep === " " && /^\d{1,10}$/.test(text) && Number(text) <= 0xffffffff) return { tag, type, value: Number(text) };
      return notA(`an Interval (seconds${sep === " " ? ", decimal" : ""} or 0x hex)`);
    }
    case 0x03: {
      const hx = hexValue(text, 8);
      if (hx !== undefined) return { tag, type, value: BigInt.asIntN(64, hx) };
      if (sep === " " && /^[+-]?\d{1,19}$/.test(text)) {
        const v = BigInt(text);
        if (v === BigInt.asIntN(64, v)) return { tag, type, value: v };
      }
      return notA(`a 64-bit LongInteger (${sep === " " ? "decimal or " : ""}0x hex)`);
    }
    case 0x04: {
      const digits = /^0[xX]/.test(text) ? text.slice(2) : sep === " " ? text : undefined;
      if (digits === undefined || digits.length === 0 || digits.length % 2 !== 0 || !HEX_RE.test(digits)) {
        return notA(`a BigInteger (${sep === " " ? "" : "0x"}hex of its two's complement bytes)`);
      }
      return { tag, type, value: fromTwosHex(digits) };
    }
    case 0x06: {
      if (sep === " " && (text === "true" || text === "1")) return { tag, type, value: true };
      if (sep === " " && (text === "false" || text === "0")) return { tag, type, value: false };
      const hx = hexValue(text, 8);
      if (hx === 0n || hx === 1n) return { tag, type, value: hx === 1n };
      return notA(sep === " " ? "a Boolean (true or false)" : "a Boolean hex string (0x0000000000000001 or 0x0000000000000000)");
    }
    case 0x07:
      return { tag, type, value: text };
    case 0x08: {
      const b = bytesOfHex(/^0[xX]/.test(text) ? text.slice(2) : text);
      return b ? { tag, type, value: b } : notA("a ByteString (an even number of hex digits)");
    }
    case 0x09:
    case 0x0b: {
      const hx = hexValue(text, 8);
      if (hx !== undefined) return { tag, type, value: BigInt.asIntN(64, hx) };
      const us = parseIso(text, type === 0x0b);
      if (typeof us === "string") return us;
      const v = type === 0x0b ? us : us / 1_000_000n;
      return v === BigInt.asIntN(64, v) ? { tag, type, value: v } : `${show} is out of the 64-bit ${tn} range`;
    }
    default:
      return `a ${tn} has no value text`;
  }
}

/**
 * Value-text helpers shared by the JSON and XML encodings (xml.ts). Not part of the package API: the
 * package entry point exports only {@link toJson}, {@link fromJson} and their types from this file.
 * @internal
 */
export const VALUE_TEXT = {
  ATTRIBUTE_NAME,
  attributeTag,
  contextTag,
  maskWords,
  enumerationOf,
  messageVersion,
  hex,
  bytesOfHex,
  fixedHex,
  bigIntHex,
  formatDateTime,
  formatDateTimeExtended,
  parseTag,
  enumText,
  parseText,
  isKnownTag,
} as const;
