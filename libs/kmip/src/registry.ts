/**
 * The KMIP registry, generated once from the one table in `registry_table.ts`: tag ↔ name, the type of a
 * tag, enumerations and masks by tag, and KMIP 1.x attribute names ↔ attribute tags.
 * @module
 */
import { KmipRegistryError } from "./errors.ts";
import { ATTRIBUTE_NAMES, ENUMERATIONS, MASKS, TAGS, type TtlvTypeName } from "./registry_table.ts";
import { setTagNamer, TTLV_TYPE, type TtlvType } from "./ttlv.ts";

interface TagInfo {
  name: string;
  tag: number;
  type: TtlvType | undefined;
  since: string;
  enumeration?: string;
}

const byName = new Map<string, TagInfo>();
const byTag = new Map<number, TagInfo>();
for (const [name, tag, type, since, enumeration] of TAGS) {
  const info: TagInfo = { name, tag, type: type === "*" ? undefined : TTLV_TYPE[type as TtlvTypeName], since, enumeration };
  byName.set(name, info);
  byTag.set(tag, info);
}
setTagNamer((t) => byTag.get(t)?.name);

/** Version-aware enumeration member tables: name → value and value → name. */
interface EnumTable {
  byName: Map<string, { value: number; since?: string }[]>;
  byValue: Map<number, { name: string; since?: string }[]>;
}
const enums = new Map<string, EnumTable>();
for (const [enumName, members] of Object.entries(ENUMERATIONS)) {
  const t: EnumTable = { byName: new Map(), byValue: new Map() };
  for (const [name, value, since] of members) {
    t.byName.set(name, [...(t.byName.get(name) ?? []), { value, since }]);
    t.byValue.set(value, [...(t.byValue.get(value) ?? []), { name, since }]);
  }
  enums.set(enumName, t);
}

const attrByName = new Map(ATTRIBUTE_NAMES.map(([text, tagName]) => [text, tagName]));
const attrByTagName = new Map(ATTRIBUTE_NAMES.map(([text, tagName]) => [tagName, text]));

/** A KMIP protocol version as `major.minor`, used to pick version-specific enumeration values. */
export type KmipVersion = { major: number; minor: number };

function versionAtLeast(since: string | undefined, v: KmipVersion | undefined): boolean {
  if (!since || !v) return true;
  const [maj, min] = since.split(".").map(Number);
  return v.major > maj || (v.major === maj && v.minor >= min);
}

function pick<T extends { since?: string }>(list: T[], v: KmipVersion | undefined): T {
  // The newest definition that the version has; without a version, the oldest (1.x) one.
  const ok = list.filter((x) => versionAtLeast(x.since, v));
  const sorted = (ok.length ? ok : list).slice().sort((a, b) => (a.since ?? "0").localeCompare(b.since ?? "0"));
  return v ? sorted[sorted.length - 1] : sorted[0];
}

/** The tag number of a tag name. Throws {@link KmipRegistryError} for unknown names. */
export function tagOf(name: string): number {
  const t = byName.get(name);
  if (!t) throw new KmipRegistryError(`unknown KMIP tag name "${name}"`);
  return t.tag;
}

/** The name of a tag, or its hex form when unknown (extensions). */
export function tagName(tag: number): string {
  return byTag.get(tag)?.name ?? `0x${tag.toString(16).padStart(6, "0")}`;
}

/** Whether a tag is registered. */
export function isKnownTag(tag: number): boolean {
  return byTag.has(tag);
}

/** The registered TTLV type of a tag (undefined when it varies, as AttributeValue's). */
export function tagType(tag: number): TtlvType | undefined {
  return byTag.get(tag)?.type;
}

/** The enumeration or mask name of a tag's values, if any. */
export function tagEnumeration(tag: number): string | undefined {
  return byTag.get(tag)?.enumeration;
}

/** Whether `name` is a mask (bit set) rather than an enumeration. */
export function isMask(name: string): boolean {
  return name in MASKS;
}

function enumTable(enumeration: string): EnumTable {
  const t = enums.get(enumeration);
  if (!t) throw new KmipRegistryError(`unknown KMIP enumeration "${enumeration}"`);
  return t;
}

/** The value of an enumeration member, e.g. enumValue("ObjectType", "SymmetricKey") = 2. Accepts `0x…` hex. */
export function enumValue(enumeration: string, member: string, version?: KmipVersion): number {
  if (/^0x[0-9a-f]+$/i.test(member)) {
    const v = parseInt(member, 16);
    if (v > 0xffffffff) throw new KmipRegistryError(`${member} does not fit the 32 bits of the enumeration ${enumeration}`);
    return v;
  }
  const list = enumTable(enumeration).byName.get(member);
  if (!list) throw new KmipRegistryError(`"${member}" is not a member of the KMIP enumeration ${enumeration}`);
  return pick(list, version).value;
}

/** The name of an enumeration value, or `0x…` when the value is not registered (vendor extensions). */
export function enumName(enumeration: string, value: number, version?: KmipVersion): string {
  const list = enumTable(enumeration).byValue.get(value);
  return list ? pick(list, version).name : `0x${value.toString(16).padStart(8, "0")}`;
}

/** The first protocol version that defines an enumeration member ("1.0" when the table gives none). */
export function enumMemberSince(enumeration: string, member: string): string {
  const list = enumTable(enumeration).byName.get(member);
  if (!list) throw new KmipRegistryError(`"${member}" is not a member of the KMIP enumeration ${enumeration}`);
  return list.map((x) => x.since ?? "1.0").sort()[0];
}

/** Whether an enumeration has a member with this value. */
export function hasEnumValue(enumeration: string, value: number): boolean {
  return enumTable(enumeration).byValue.has(value);
}

/** A mask value from its bit names separated by spaces or `|` ("Encrypt Decrypt"); numbers and hex allowed. */
export function maskValue(mask: string, text: string): number {
  const bits = MASKS[mask];
  if (!bits) throw new KmipRegistryError(`unknown KMIP mask "${mask}"`);
  let v = 0;
  for (const word of text.split(/[\s|]+/).filter((w) => w.length > 0)) {
    if (/^(0x[0-9a-f]+|\d+)$/i.test(word)) {
      const n = Number(word);
      if (n > 0xffffffff) throw new KmipRegistryError(`${word} does not fit the 32 bits of the mask ${mask}`);
      v |= n;
    } else {
      const bit = bits.find(([n]) => n === word);
      if (!bit) throw new KmipRegistryError(`"${word}" is not a bit of the KMIP mask ${mask}`);
      v |= bit[1];
    }
  }
  return v >>> 0;
}

/** The bit names of a mask value, in registry order, e.g. "Encrypt Decrypt"; unknown bits as hex. */
export function maskText(mask: string, value: number): string {
  const bits = MASKS[mask];
  if (!bits) throw new KmipRegistryError(`unknown KMIP mask "${mask}"`);
  const words: string[] = [];
  let rest = value >>> 0;
  for (const [n, b] of bits) {
    if ((value & b) === b && b !== 0) {
      words.push(n);
      rest &= ~b;
    }
  }
  if (rest) words.push(`0x${(rest >>> 0).toString(16)}`);
  return words.join(" ");
}

/** The attribute tag name of a KMIP 1.x attribute name ("Cryptographic Algorithm" → "CryptographicAlgorithm"). */
export function attributeTagName(attributeName: string): string | undefined {
  return attrByName.get(attributeName);
}

/** The KMIP 1.x attribute name of an attribute tag name ("CryptographicAlgorithm" → "Cryptographic Algorithm"). */
export function attributeName(tagName: string): string | undefined {
  return attrByTagName.get(tagName);
}
