/**
 * Building and reading TTLV trees by tag name, with types taken from the registry: the one way the
 * message layer, the server and the client construct and take apart KMIP items.
 * @example
 * ```ts
 * const payload = struct("RequestPayload", [item("UniqueIdentifier", "42"), item("ObjectType", "SymmetricKey")]);
 * text(payload, "UniqueIdentifier"); // "42"
 * ```
 * @module
 */
import { KmipEncodeError, KmipRegistryError } from "./errors.ts";
import { enumName, enumValue, isMask, maskValue, tagEnumeration, tagName, tagOf, tagType, type KmipVersion } from "./registry.ts";
import { TTLV_TYPE, TTLV_TYPE_NAME, type Ttlv, type TtlvType } from "./ttlv.ts";

/** Values accepted by {@link item}: the natural JS value for the tag's type. */
export type ItemValue = Ttlv[] | number | bigint | boolean | string | Uint8Array | Date;

/** A Structure item. */
export function struct(name: string | number, children: (Ttlv | undefined | null | false)[]): Ttlv {
  const tag = typeof name === "number" ? name : tagOf(name);
  return { tag, type: TTLV_TYPE.Structure, value: children.filter((c): c is Ttlv => !!c) };
}

/**
 * An item whose type comes from the registry (pass `type` for tags whose type varies, e.g. AttributeValue).
 * Enumerations take a member name or a number; mask Integers take bit names ("Encrypt Decrypt") or a number;
 * DateTime takes a Date or seconds as bigint.
 */
export function item(name: string | number, value: ItemValue, type?: TtlvType, version?: KmipVersion): Ttlv {
  const tag = typeof name === "number" ? name : tagOf(name);
  const t = type ?? tagType(tag) ?? inferType(value);
  if (t === undefined) throw new KmipEncodeError(tagName(tag), "the type of this tag varies: give it explicitly");
  const fail = (): never => {
    throw new KmipEncodeError(tagName(tag), `${typeof value} is not a value for a ${TTLV_TYPE_NAME[t]}`);
  };
  switch (t) {
    case TTLV_TYPE.Structure:
      return Array.isArray(value) ? { tag, type: t, value } : fail();
    case TTLV_TYPE.Enumeration: {
      if (typeof value === "number") return { tag, type: t, value };
      const e = tagEnumeration(tag);
      if (typeof value !== "string" || !e) return fail();
      return { tag, type: t, value: enumValue(e, value, version) };
    }
    case TTLV_TYPE.Integer: {
      if (typeof value === "number") return { tag, type: t, value: value | 0 };
      const e = tagEnumeration(tag);
      if (typeof value === "string" && e && isMask(e)) return { tag, type: t, value: maskValue(e, value) | 0 };
      return fail();
    }
    case TTLV_TYPE.Interval:
      return typeof value === "number" ? { tag, type: t, value } : fail();
    case TTLV_TYPE.LongInteger:
    case TTLV_TYPE.BigInteger:
    case TTLV_TYPE.DateTimeExtended:
      return typeof value === "bigint" ? { tag, type: t, value } : typeof value === "number" ? { tag, type: t, value: BigInt(value) } : fail();
    case TTLV_TYPE.DateTime:
      if (value instanceof Date) return { tag, type: t, value: BigInt(Math.floor(value.getTime() / 1000)) };
      return typeof value === "bigint" ? { tag, type: t, value } : fail();
    case TTLV_TYPE.Boolean:
      return typeof value === "boolean" ? { tag, type: t, value } : fail();
    case TTLV_TYPE.TextString:
      return typeof value === "string" ? { tag, type: t, value } : fail();
    case TTLV_TYPE.ByteString:
      return value instanceof Uint8Array ? { tag, type: t, value } : fail();
    default:
      return fail();
  }
}

/** The type a tag of varying type (UniqueIdentifier, AttributeValue) takes from a JS value, where unambiguous. */
function inferType(value: ItemValue): TtlvType | undefined {
  if (typeof value === "string") return TTLV_TYPE.TextString;
  if (value instanceof Uint8Array) return TTLV_TYPE.ByteString;
  if (typeof value === "boolean") return TTLV_TYPE.Boolean;
  if (Array.isArray(value)) return TTLV_TYPE.Structure;
  if (value instanceof Date) return TTLV_TYPE.DateTime;
  return undefined;
}

/** A field that is missing or has the wrong type. `reason` is the KMIP ResultReason a server should answer. */
export class KmipFieldError extends Error {
  /** Stable code. */
  readonly code = "KMIP_FIELD";
  /** KMIP ResultReason name to answer with. */
  readonly reason: "InvalidField" | "InvalidMessage" | "MissingData";
  /** @param reason ResultReason @param message what is wrong, naming the field */
  constructor(reason: "InvalidField" | "InvalidMessage" | "MissingData", message: string) {
    super(message);
    this.name = "KmipFieldError";
    this.reason = reason;
  }
}

/** The children of a structure (empty for other items). */
export function childrenOf(node: Ttlv | undefined): Ttlv[] {
  return node?.type === TTLV_TYPE.Structure ? node.value : [];
}

/** The first child with tag `name`, if any. */
export function child(node: Ttlv | undefined, name: string | number): Ttlv | undefined {
  const tag = typeof name === "number" ? name : tagOf(name);
  for (const c of childrenOf(node)) if (c.tag === tag) return c;
  return undefined;
}

/** All children with tag `name`. */
export function children(node: Ttlv | undefined, name: string | number): Ttlv[] {
  const tag = typeof name === "number" ? name : tagOf(name);
  return childrenOf(node).filter((c) => c.tag === tag);
}

function typed<T>(node: Ttlv | undefined, name: string, type: TtlvType, required: boolean): T | undefined {
  const c = child(node, name);
  if (!c) {
    if (required) throw new KmipFieldError("InvalidField", `${tagName(node?.tag ?? 0)} has no ${name}`);
    return undefined;
  }
  if (c.type !== type) throw new KmipFieldError("InvalidField", `${name} is a ${TTLV_TYPE_NAME[c.type]}, expected ${TTLV_TYPE_NAME[type]}`);
  return c.value as T;
}

/** A TextString child (undefined when absent; KmipFieldError when of another type). */
export function text(node: Ttlv | undefined, name: string): string | undefined {
  return typed<string>(node, name, TTLV_TYPE.TextString, false);
}
/** A required TextString child. */
export function textRequired(node: Ttlv | undefined, name: string): string {
  return typed<string>(node, name, TTLV_TYPE.TextString, true)!;
}
/** An Integer child. */
export function int(node: Ttlv | undefined, name: string): number | undefined {
  return typed<number>(node, name, TTLV_TYPE.Integer, false);
}
/** An Enumeration child's value. */
export function enumeration(node: Ttlv | undefined, name: string): number | undefined {
  return typed<number>(node, name, TTLV_TYPE.Enumeration, false);
}
/** A required Enumeration child's value. */
export function enumerationRequired(node: Ttlv | undefined, name: string): number {
  return typed<number>(node, name, TTLV_TYPE.Enumeration, true)!;
}
/** A ByteString child. */
export function bytes(node: Ttlv | undefined, name: string): Uint8Array | undefined {
  return typed<Uint8Array>(node, name, TTLV_TYPE.ByteString, false);
}
/** A Boolean child. */
export function bool(node: Ttlv | undefined, name: string): boolean | undefined {
  return typed<boolean>(node, name, TTLV_TYPE.Boolean, false);
}
/** A DateTime child (seconds). */
export function dateTime(node: Ttlv | undefined, name: string): bigint | undefined {
  return typed<bigint>(node, name, TTLV_TYPE.DateTime, false);
}
/** A LongInteger child. */
export function long(node: Ttlv | undefined, name: string): bigint | undefined {
  return typed<bigint>(node, name, TTLV_TYPE.LongInteger, false);
}
/** The member name of an enumeration item, via the tag's enumeration. */
export function enumText(node: Ttlv, version?: KmipVersion): string {
  const e = tagEnumeration(node.tag);
  if (!e || node.type !== TTLV_TYPE.Enumeration) throw new KmipRegistryError(`${tagName(node.tag)} is not an enumeration`);
  return enumName(e, node.value, version);
}
