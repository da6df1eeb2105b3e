/**
 * Get (optionally in another key format, or wrapped by another managed key), Get Attributes and Get
 * Attribute List.
 * @module
 */
import { attributeTagName, child, children, enumeration, enumName, item, struct, tagName, tagOf, type KmipVersion, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { type Attr, attributeItems, displayName, vendorAttributeName } from "../attributes.ts";
import type { Handler } from "../context.ts";
import { OperationError } from "../errors.ts";
import { keyBlock, keyValue, nativeFormat, objectItem, symmetricKeyBytes } from "../key_block.ts";
import { readWrapping, wrapKeyValue } from "../key_wrapping.ts";
import { attr, GRANT, idItem, loadObject, loadObjectForUpdate, type ManagedObject, OBJECT_TYPE, saveObject, setAttr, STATE } from "../objects.ts";

/** Attributes kept for the server's own use and never listed. */
const INTERNAL = new Set(["SecretDataType", "OpaqueDataType", "KeyWrappingData"]);

/** Attributes a client of an older protocol version does not know, with the version that defined them. */
const SINCE: Readonly<Record<string, KmipVersion>> = {
  OriginalCreationDate: { major: 1, minor: 2 },
  RandomNumberGenerator: { major: 1, minor: 3 },
  // Key Format Type is a field of the Key Block in 1.x and an attribute only from 2.0.
  KeyFormatType: { major: 2, minor: 0 },
  AlwaysSensitive: { major: 2, minor: 0 },
  NeverExtractable: { major: 2, minor: 0 },
};

/**
 * Attributes a 1.x client gets from Get Attributes only when it names them. Widely used 1.x clients (PyKMIP)
 * fail the whole response on attribute values they cannot decode, and these two, which the server sets on
 * every new object, are among them; Get Attribute List still names them, so a client can ask for them.
 */
const NAMED_ONLY_1X = new Set(["OriginalCreationDate", "RandomNumberGenerator"]);

function known(name: string, v: KmipVersion): boolean {
  const since = SINCE[name];
  return !since || v.major > since.major || (v.major === since.major && v.minor >= since.minor);
}

function convertFormat(o: ManagedObject, want: string): Uint8Array {
  const have = nativeFormat(o);
  if (want === have) return o.material!;
  if (o.objectType === OBJECT_TYPE.SymmetricKey && want === "Raw") return symmetricKeyBytes(o);
  if (o.objectType === OBJECT_TYPE.SecretData && (want === "Raw" || want === "Opaque")) return o.material!;
  throw new OperationError("KeyFormatTypeNotSupported", `${enumName("ObjectType", o.objectType)} is available as ${have}, not ${want}`);
}

/** Get: the object, its key block in the native or requested format, optionally wrapped. */
export const get: Handler = async (ctx, payload) => {
  const o = await loadObject(ctx, payload);
  if (!o.material || o.state === STATE.Destroyed || o.state === STATE.DestroyedCompromised) {
    throw new OperationError(ctx.version.major >= 2 ? "ObjectDestroyed" : "ItemNotFound", `object ${o.id} is destroyed`);
  }
  const spec0 = child(payload, "KeyWrappingSpecification");
  const flag = (name: string) => {
    const v = attr(o, name);
    return v?.type === TTLV_TYPE.Boolean ? v.value : undefined;
  };
  // KMIP 2.x: a Sensitive object's value leaves the server only wrapped; a non-Extractable one never does.
  if (flag("Extractable") === false) throw new OperationError("NotExtractable", `object ${o.id} is not extractable`);
  if (flag("Sensitive") === true && !spec0) throw new OperationError("Sensitive", `object ${o.id} is sensitive: get it wrapped`);
  // Fresh turns false once the key value has been handed out.
  if (flag("Fresh") === true) {
    const held = await loadObjectForUpdate(ctx, payload);
    if (attr(held, "Fresh")?.value === true) {
      setAttr(held, "Fresh", item("Fresh", false));
      await saveObject(ctx, held);
    }
  }
  const requested = enumeration(payload, "KeyFormatType");
  const format = requested === undefined ? nativeFormat(o) : enumName("KeyFormatType", requested);
  let block: Ttlv | undefined;
  if (o.objectType !== OBJECT_TYPE.Certificate && o.objectType !== OBJECT_TYPE.OpaqueObject) {
    const clear = keyValue(format, convertFormat(o, format));
    // Wrapped as the client asks, or (Key Wrap Type As Registered) as it was when a client registered it wrapped.
    const spec = child(payload, "KeyWrappingSpecification");
    const wrapType = enumeration(payload, "KeyWrapType");
    const registered = wrapType !== undefined && enumName("KeyWrapType", wrapType) === "AsRegistered" ? attr(o, "KeyWrappingData") : undefined;
    const how = spec ? readWrapping(spec) : registered ? readWrapping(registered) : undefined;
    if (how) {
      const w = await wrapKeyValue(ctx, clear, how);
      block = keyBlock(o, format, w.keyValue, w.wrappingData);
    } else {
      block = keyBlock(o, format, clear);
    }
  }
  return [item("ObjectType", o.objectType), idItem(o), objectItem(o, block)];
};

function requestedNames(payload: Ttlv | undefined): string[] {
  const names: string[] = [];
  for (const n of children(payload, "AttributeName")) {
    if (n.type !== TTLV_TYPE.TextString) throw new OperationError("InvalidField", "AttributeName must be text");
    const tn = n.value.startsWith("x-") || n.value.startsWith("y-") ? n.value : attributeTagName(n.value);
    if (!tn) throw new OperationError("InvalidField", `"${n.value}" is not a KMIP attribute name`);
    names.push(tn);
  }
  for (const r of children(payload, "AttributeReference")) {
    if (r.type === TTLV_TYPE.Enumeration) names.push(tagName(r.value));
    else names.push(vendorAttributeName(r));
  }
  return names;
}

/** The attributes a caller sees: whom the object is shared with only its owner does. */
function visible(o: ManagedObject, v: KmipVersion, identity: string): Attr[] {
  return o.attrs.filter((a) => !INTERNAL.has(a.name) && known(a.name, v) && (a.name !== GRANT || o.owner === identity));
}

/** Get Attributes: the named attributes (all when none are named), in the order asked; absent ones are left out. */
export const getAttributes: Handler = async (ctx, payload) => {
  const o = await loadObject(ctx, payload);
  const names = requestedNames(payload);
  const all = visible(o, ctx.version, ctx.identity);
  const chosen =
    names.length === 0 ? all.filter((a) => ctx.version.major >= 2 || !NAMED_ONLY_1X.has(a.name)) : names.flatMap((n) => all.filter((a) => a.name === n));
  const items = attributeItems(chosen, ctx.version);
  return [idItem(o), ...(ctx.version.major >= 2 ? [struct("Attributes", items)] : items)];
};

/** Get Attribute List: the names (1.x) or references (2.x) of the object's attributes. */
export const getAttributeList: Handler = async (ctx, payload) => {
  const o = await loadObject(ctx, payload);
  const names = [...new Set(visible(o, ctx.version, ctx.identity).map((a) => a.name))];
  if (ctx.version.major >= 2) {
    return [
      idItem(o),
      ...names.map((n) =>
        n.startsWith("x-") || n.startsWith("y-")
          ? struct("AttributeReference", [item("VendorIdentification", n.slice(0, 1)), item("AttributeName", n.slice(2))])
          : item("AttributeReference", tagOf(n), TTLV_TYPE.Enumeration),
      ),
    ];
  }
  return [idItem(o), ...names.map((n) => item("AttributeName", displayName(n)))];
};
