/**
 * Changing attributes: Add / Modify / Delete Attribute (KMIP 1.x shapes and 2.x shapes) and Set / Adjust
 * Attribute (2.x). Server-managed attributes are read-only.
 * @module
 */
import { attributeTagName, child, enumeration, enumName, int, tagName, text, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { type Attr, attributeItems, isCustomName, parseOneAttribute, sameAttributeValue, vendorAttributeName } from "../attributes.ts";
import type { Handler } from "../context.ts";
import { OperationError } from "../errors.ts";
import { idItem, loadOwnObject, type ManagedObject, saveObject, SERVER_SET, STATE, touch } from "../objects.ts";
import { CERTIFICATE_ATTRIBUTE_NAMES } from "../certificate_attributes.ts";

/** Attributes only the server sets: those of every object, and those fixed by the object's value. */
const READ_ONLY = new Set([
  ...SERVER_SET,
  "CryptographicAlgorithm",
  "CryptographicLength",
  "Fresh",
  "AlwaysSensitive",
  "NeverExtractable",
  "KeyValuePresent",
  "OriginalCreationDate",
  "KeyFormatType",
  "OpaqueDataType",
  "SecretDataType",
  ...CERTIFICATE_ATTRIBUTE_NAMES,
]);
/** Dates a client may set only while the object is Pre-Active (KMIP: Activation Date, Process/Protect Start). */
const PRE_ACTIVE_ONLY = new Set(["ActivationDate", "ProcessStartDate", "ProtectStartDate"]);
/** Attributes that may hold several values. */
const MULTI = new Set(["Name", "Link", "ObjectGroup", "ApplicationSpecificInformation", "AlternativeName", "KeyValueLocation"]);

/** Names are unique among an owner's live objects: a second object may not take one in use. */
async function uniqueName(ctx: Parameters<Handler>[0], o: ManagedObject, a: Attr): Promise<void> {
  if (a.name !== "Name") return;
  const nv = child(a.value, "NameValue");
  if (nv?.type !== TTLV_TYPE.TextString) return;
  // The name is held too, until the request is answered: two requests giving it to two objects at once cannot
  // both find it free.
  await ctx.lock(`name\u0000${ctx.identity}\u0000${nv.value}`);
  const sameHere = o.attrs.some((x) => x.name === "Name" && text(x.value, "NameValue") === nv.value);
  const others = (await ctx.store.list(ctx.identity, { name: nv.value })).filter(
    (x) => x.id !== o.id && x.state !== STATE.Destroyed && x.state !== STATE.DestroyedCompromised,
  );
  if (sameHere || others.length > 0) throw new OperationError("NonUniqueNameAttribute", `the name "${nv.value}" is already in use`);
}

function writable(a: Attr, o: ManagedObject): void {
  if (READ_ONLY.has(a.name)) throw new OperationError("AttributeReadOnly", `${a.name} cannot be changed by a client`);
  if (PRE_ACTIVE_ONLY.has(a.name) && o.state !== STATE.PreActive) {
    throw new OperationError("WrongKeyLifecycleState", `${a.name} can only be changed while the object is PreActive`);
  }
}

/**
 * The response: the object's id and, to a 1.x client, the attribute added, changed or deleted, with its Attribute
 * Index among the values of its name (`index`; by default where `changed` now is).
 */
function respond(ctx: Parameters<Handler>[0], o: ManagedObject, changed?: Attr, index?: number): Ttlv[] {
  if (ctx.version.major >= 2 || !changed) return [idItem(o)];
  const i = index ?? o.attrs.filter((x) => x.name === changed.name).indexOf(changed);
  // attributeItems numbers the values of one name in order: the last of i + 1 copies carries index i.
  return [
    idItem(o),
    attributeItems(
      Array.from({ length: i + 1 }, () => changed),
      ctx.version,
    ).at(-1)!,
  ];
}

/** Add Attribute: a new value of a multi-valued attribute, or a single-valued one not yet set. */
export const addAttribute: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  const a = parseOneAttribute(child(payload, "Attribute") ?? child(payload, "NewAttribute"));
  if (!a) throw new OperationError("InvalidField", "Add Attribute needs an Attribute");
  writable(a, o);
  await uniqueName(ctx, o, a);
  if (!MULTI.has(a.name) && !isCustomName(a.name) && o.attrs.some((x) => x.name === a.name)) {
    throw new OperationError("AttributeSingleValued", `${a.name} is single-valued and already set`);
  }
  o.attrs.push(a);
  touch(ctx, o);
  await saveObject(ctx, o);
  return respond(ctx, o, a);
};

/** Set Attribute (2.x): sets a single-valued attribute, replacing any value. */
export const setAttribute: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  const a = parseOneAttribute(child(payload, "NewAttribute"));
  if (!a) throw new OperationError("InvalidField", "Set Attribute needs a NewAttribute");
  writable(a, o);
  await uniqueName(ctx, o, a);
  if (MULTI.has(a.name)) throw new OperationError("AttributeSingleValued", `${a.name} is multi-valued: use Add Attribute`);
  o.attrs = o.attrs.filter((x) => x.name !== a.name);
  o.attrs.push(a);
  touch(ctx, o);
  await saveObject(ctx, o);
  return respond(ctx, o);
};

/** Modify Attribute: 1.x by name and index; 2.x by CurrentAttribute/NewAttribute. */
export const modifyAttribute: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  const oneX = child(payload, "Attribute");
  let target: Attr | undefined;
  let index = 0;
  let current: Attr | undefined;
  if (oneX) {
    target = parseOneAttribute(oneX);
    index = int(oneX, "AttributeIndex") ?? 0;
  } else {
    target = parseOneAttribute(child(payload, "NewAttribute"));
    current = parseOneAttribute(child(payload, "CurrentAttribute"));
  }
  if (!target) throw new OperationError("InvalidField", "Modify Attribute needs the new attribute value");
  writable(target, o);
  await uniqueName(ctx, o, target);
  const positions = o.attrs.flatMap((x, i) => (x.name === target.name ? [i] : []));
  if (positions.length === 0) throw new OperationError("AttributeNotFound", `${target.name} is not set`);
  let at: number | undefined;
  if (current) at = positions.find((i) => sameAttributeValue(o.attrs[i].value, current.value));
  else at = positions[index];
  if (at === undefined) throw new OperationError(current ? "AttributeNotFound" : "IndexOutOfBounds", `${target.name} has no such value`);
  o.attrs[at] = target;
  touch(ctx, o);
  await saveObject(ctx, o);
  return respond(ctx, o, target);
};

/** Delete Attribute: 1.x by name and index; 2.x by CurrentAttribute or AttributeReference. */
export const deleteAttribute: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  const nameText = text(payload, "AttributeName");
  const current = parseOneAttribute(child(payload, "CurrentAttribute"));
  const ref = child(payload, "AttributeReference");
  let name: string | undefined = nameText && (isCustomName(nameText) ? nameText : attributeTagName(nameText));
  if (current) name = current.name;
  if (ref && ref.type === TTLV_TYPE.Enumeration) name = tagName(ref.value);
  else if (ref && ref.type === TTLV_TYPE.Structure) name = vendorAttributeName(ref);
  if (!name) throw new OperationError("InvalidField", "Delete Attribute needs the attribute to delete");
  if (READ_ONLY.has(name)) throw new OperationError("AttributeReadOnly", `${name} cannot be deleted`);
  const positions = o.attrs.flatMap((x, i) => (x.name === name ? [i] : []));
  let at: number | undefined;
  if (current) at = positions.find((i) => sameAttributeValue(o.attrs[i].value, current.value));
  else at = positions[int(payload, "AttributeIndex") ?? 0];
  if (at === undefined) throw new OperationError("AttributeNotFound", `${name} is not set`);
  const [removed] = o.attrs.splice(at, 1);
  touch(ctx, o);
  await saveObject(ctx, o);
  return respond(ctx, o, removed, positions.indexOf(at));
};

/** Adjust Attribute (2.x): Increment, Decrement or Negate a numeric or date attribute by the Adjustment Value. */
export const adjustAttribute: Handler = async (ctx, payload) => {
  const o = await loadOwnObject(ctx, payload);
  const ref = child(payload, "AttributeReference");
  if (!ref || ref.type !== TTLV_TYPE.Enumeration) throw new OperationError("InvalidField", "Adjust Attribute needs an AttributeReference");
  const name = tagName(ref.value);
  const type = enumeration(payload, "AdjustmentType");
  if (type === undefined) throw new OperationError("InvalidField", "Adjust Attribute needs an AdjustmentType");
  const how = enumName("AdjustmentType", type);
  const by = child(payload, "AdjustmentValue");
  const at = o.attrs.findIndex((a) => a.name === name);
  if (at < 0) throw new OperationError("AttributeNotFound", `${name} is not set`);
  const cur = o.attrs[at].value;
  writable({ name, value: cur }, o);
  let next: Ttlv;
  if (cur.type === TTLV_TYPE.Integer || cur.type === TTLV_TYPE.Interval) {
    const d = by && (by.type === TTLV_TYPE.Integer || by.type === TTLV_TYPE.Interval) ? by.value : how === "Negate" ? 0 : 1;
    const v = how === "Increment" ? cur.value + d : how === "Decrement" ? cur.value - d : -cur.value;
    next = { ...cur, value: v };
  } else if (cur.type === TTLV_TYPE.LongInteger || cur.type === TTLV_TYPE.DateTime) {
    const d =
      by && (by.type === TTLV_TYPE.LongInteger || by.type === TTLV_TYPE.DateTime) ? by.value : by && by.type === TTLV_TYPE.Interval ? BigInt(by.value) : 1n;
    const v = how === "Increment" ? cur.value + d : how === "Decrement" ? cur.value - d : -cur.value;
    next = { ...cur, value: v };
  } else {
    throw new OperationError("InvalidField", `${name} is not numeric and cannot be adjusted`);
  }
  o.attrs[at] = { name, value: next };
  touch(ctx, o);
  await saveObject(ctx, o);
  return [idItem(o)];
};
