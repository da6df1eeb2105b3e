/**
 * Attributes in both KMIP shapes. Internally an object's attributes are a list of 2.x-style items (the
 * item's tag is the attribute's tag; vendor attributes are VendorAttribute structures). `parseAttributes`
 * reads 1.x TemplateAttribute/Attribute (name, index, value) and 2.x Attributes; `attributeItems` writes
 * either shape for the client's protocol version.
 * @module
 */
import {
  attributeName,
  attributeTagName,
  child,
  children,
  encodeTtlv,
  item,
  struct,
  tagName,
  tagOf,
  text,
  type KmipVersion,
  type Ttlv,
  TTLV_TYPE,
} from "@tessera/kmip";
import { OperationError } from "./errors.ts";

/** One attribute: its tag name (or `x-…`/`y-…` custom name) and value item (tag = attribute tag). */
export interface Attr {
  name: string;
  value: Ttlv;
}

// KMIP 2.x carries vendor (custom) attributes as Attribute structures with a Vendor Identification.
const VENDOR = "Attribute";

/** Custom (vendor) attribute names: 1.x `x-` client / `y-` server prefixes. */
export function isCustomName(name: string): boolean {
  return name.startsWith("x-") || name.startsWith("y-");
}

function fromOneX(a: Ttlv): Attr {
  const name = text(a, "AttributeName");
  if (!name) throw new OperationError("InvalidField", "Attribute has no AttributeName");
  const v = child(a, "AttributeValue");
  if (isCustomName(name)) {
    if (!v) throw new OperationError("InvalidField", `custom attribute ${name} has no value`);
    return { name, value: v };
  }
  const tn = attributeTagName(name);
  if (!tn) throw new OperationError("InvalidField", `"${name}" is not a KMIP attribute name`);
  if (!v) throw new OperationError("InvalidField", `attribute "${name}" has no AttributeValue`);
  return { name: tn, value: { ...v, tag: tagOf(tn) } as Ttlv };
}

/**
 * The internal name of a 2.x vendor attribute, from its Vendor Identification and Attribute Name (an Attribute
 * or an Attribute Reference structure): `x` + `attribute1` → `x-attribute1`.
 */
export function vendorAttributeName(node: Ttlv): string {
  const name = text(node, "AttributeName");
  if (!name) throw new OperationError("InvalidField", "a vendor attribute needs an AttributeName");
  const vendor = text(node, "VendorIdentification") ?? "x";
  return name.startsWith(`${vendor}-`) || isCustomName(name) ? name : `${vendor}-${name}`;
}

function fromTwoX(a: Ttlv): Attr {
  if (a.tag === tagOf(VENDOR)) {
    const v = child(a, "AttributeValue");
    if (!v) throw new OperationError("InvalidField", "a vendor Attribute needs AttributeName and AttributeValue");
    return { name: vendorAttributeName(a), value: v };
  }
  return { name: tagName(a.tag), value: a };
}

/**
 * Reads attributes from a request payload: 1.x TemplateAttribute / Attribute items and 2.x Attributes
 * (also CommonAttributes, PrivateKeyAttributes, PublicKeyAttributes when `which` names them).
 */
export function parseAttributes(
  payload: Ttlv | undefined,
  which: "Attributes" | "CommonAttributes" | "PrivateKeyAttributes" | "PublicKeyAttributes" = "Attributes",
): Attr[] {
  const out: Attr[] = [];
  const oneXContainer = {
    Attributes: "TemplateAttribute",
    CommonAttributes: "CommonTemplateAttribute",
    PrivateKeyAttributes: "PrivateKeyTemplateAttribute",
    PublicKeyAttributes: "PublicKeyTemplateAttribute",
  }[which];
  for (const t of children(payload, oneXContainer)) for (const a of children(t, "Attribute")) out.push(fromOneX(a));
  if (which === "Attributes") for (const a of children(payload, "Attribute")) out.push(fromOneX(a));
  for (const s of children(payload, which)) for (const a of s.type === TTLV_TYPE.Structure ? s.value : []) out.push(fromTwoX(a));
  return out;
}

/** Reads a single attribute given as 1.x Attribute or 2.x (NewAttribute/CurrentAttribute/Attribute wrapper). */
export function parseOneAttribute(node: Ttlv | undefined): Attr | undefined {
  if (!node) return undefined;
  if (node.tag === tagOf("Attribute") && child(node, "AttributeName")) return fromOneX(node);
  const inner = node.type === TTLV_TYPE.Structure ? node.value[0] : undefined;
  return inner ? fromTwoX(inner) : undefined;
}

/** The 1.x attribute name of an attribute (custom names as they are). */
export function displayName(name: string): string {
  return isCustomName(name) ? name : (attributeName(name) ?? name);
}

/** Writes attributes for a client of `version`: 1.x Attribute structures, or 2.x items (inside Attributes by the caller). */
export function attributeItems(attrs: Attr[], version: KmipVersion): Ttlv[] {
  if (version.major >= 2) {
    return attrs.map((a) =>
      isCustomName(a.name)
        ? struct(VENDOR, [
            item("VendorIdentification", a.name.slice(0, 1)),
            item("AttributeName", a.name.slice(2)),
            { ...a.value, tag: tagOf("AttributeValue") } as Ttlv,
          ])
        : a.value,
    );
  }
  const index = new Map<string, number>();
  return attrs.map((a) => {
    const i = index.get(a.name) ?? 0;
    index.set(a.name, i + 1);
    return struct("Attribute", [
      item("AttributeName", displayName(a.name)),
      i > 0 && item("AttributeIndex", i),
      { ...a.value, tag: tagOf("AttributeValue") } as Ttlv,
    ]);
  });
}

/** Encodes attributes for storage (2.x form inside an Attributes structure). */
export function storedAttributes(attrs: Attr[]): Ttlv {
  return struct("Attributes", attributeItems(attrs, { major: 2, minor: 1 }));
}

/** Decodes stored attributes. */
export function loadAttributes(node: Ttlv): Attr[] {
  return (node.type === TTLV_TYPE.Structure ? node.value : []).map(fromTwoX);
}

/** Whether two attribute values are the same value (type, content and any nested fields; their own tags aside). */
export function sameAttributeValue(a: Ttlv, b: Ttlv): boolean {
  const tag = tagOf("AttributeValue");
  return Buffer.from(encodeTtlv({ ...a, tag } as Ttlv)).equals(encodeTtlv({ ...b, tag } as Ttlv));
}
