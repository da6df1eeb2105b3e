/**
 * Managed objects in memory: attributes, state, key material (plain while in memory, wrapped at rest),
 * ownership checks, and the lifecycle's dates.
 * @module
 */
import { createSecretKey, hash, type KeyObject } from "node:crypto";
import { child, decodeTtlv, encodeTtlv, enumValue, item, struct, tagOf, text, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { type Attr, loadAttributes, storedAttributes } from "./attributes.ts";
import type { OpContext } from "./context.ts";
import { OperationError } from "./errors.ts";
import { parseDistinguishedName } from "@tessera/pki";
import { uuidV7 } from "@tessera/service";
import type { StoredObject } from "./store/store.ts";

/** State values (KMIP State enumeration). */
export const STATE = { PreActive: 1, Active: 2, Deactivated: 3, Compromised: 4, Destroyed: 5, DestroyedCompromised: 6 } as const;
/** ObjectType values (KMIP 1.x/2.x numbering). */
export const OBJECT_TYPE = {
  Certificate: 1,
  SymmetricKey: 2,
  PublicKey: 3,
  PrivateKey: 4,
  SplitKey: 5,
  Template: 6,
  SecretData: 7,
  OpaqueObject: 8,
  PGPKey: 9,
} as const;

/** Object types whose value is a Key Block (they carry a Key Format Type). */
const KEY_OBJECTS: ReadonlySet<number> = new Set([
  OBJECT_TYPE.SymmetricKey,
  OBJECT_TYPE.PublicKey,
  OBJECT_TYPE.PrivateKey,
  OBJECT_TYPE.SplitKey,
  OBJECT_TYPE.SecretData,
  OBJECT_TYPE.PGPKey,
]);

/** A managed object being worked on. */
export interface ManagedObject {
  id: string;
  owner: string;
  objectType: number;
  state: number;
  attrs: Attr[];
  /** Plain key material (symmetric key bytes, secret data, PKCS#8/SPKI DER, certificate DER); null once destroyed. */
  material: Uint8Array | null;
}

/** The first value of an attribute. */
export function attr(o: ManagedObject, name: string): Ttlv | undefined {
  return o.attrs.find((a) => a.name === name)?.value;
}

/** All values of an attribute. */
export function attrs(o: ManagedObject, name: string): Ttlv[] {
  return o.attrs.filter((a) => a.name === name).map((a) => a.value);
}

/** Sets a single-valued attribute (replacing any value). */
export function setAttr(o: ManagedObject, name: string, value: Ttlv): void {
  const i = o.attrs.findIndex((a) => a.name === name);
  if (i >= 0) o.attrs[i] = { name, value };
  else o.attrs.push({ name, value });
}

/** Removes an attribute's values. */
export function deleteAttr(o: ManagedObject, name: string): void {
  o.attrs = o.attrs.filter((a) => a.name !== name);
}

/** A numeric attribute value (Integer/Enumeration), if present. */
export function attrNumber(o: ManagedObject, name: string): number | undefined {
  const v = attr(o, name);
  return v && (v.type === TTLV_TYPE.Integer || v.type === TTLV_TYPE.Enumeration) ? v.value : undefined;
}

function seconds(d: Date): bigint {
  return BigInt(Math.floor(d.getTime() / 1000));
}

/** The SHA-256 Digest attribute of key material. */
export function digestAttr(material: Uint8Array, keyFormat: string): Ttlv {
  return item("Digest", [
    item("HashingAlgorithm", "SHA_256"),
    item("DigestValue", new Uint8Array(hash("sha256", material, "buffer"))),
    item("KeyFormatType", keyFormat),
  ]);
}

/**
 * The attributes the server keeps on every object: identity, type, state, the lifecycle's dates and reasons, and
 * the digest. A client never sets them, and a Re-key does not carry them over.
 */
export const SERVER_SET: ReadonlySet<string> = new Set([
  "UniqueIdentifier",
  "ObjectType",
  "State",
  "InitialDate",
  "LastChangeDate",
  "Digest",
  "DestroyDate",
  "CompromiseDate",
  "CompromiseOccurrenceDate",
  "RevocationReason",
  // Kept (hidden) on a key a client registered wrapped: how, for Get with Key Wrap Type As Registered.
  "KeyWrappingData",
]);

/** A new object owned by the caller, with the server-set attributes (id, type, state, dates, digest). */
export function newObject(ctx: OpContext, objectType: number, clientAttrs: Attr[], material: Uint8Array, keyFormat: string): ManagedObject {
  const now = ctx.now();
  const id = uuidV7(now.getTime());
  const o: ManagedObject = { id, owner: ctx.identity, objectType, state: STATE.PreActive, attrs: [], material };
  for (const a of clientAttrs) {
    if (SERVER_SET.has(a.name)) {
      throw new OperationError("AttributeReadOnly", `${a.name} is set by the server`);
    }
  }
  o.attrs.push({ name: "UniqueIdentifier", value: item("UniqueIdentifier", id) });
  o.attrs.push({ name: "ObjectType", value: item("ObjectType", objectType) });
  // The Key Format Type is the format the server holds the value in, whatever a client's attributes say.
  o.attrs.push(...clientAttrs.filter((a) => a.name !== "KeyFormatType"));
  const activation = clientAttrs.find((a) => a.name === "ActivationDate")?.value;
  if (activation && activation.type === TTLV_TYPE.DateTime && activation.value <= seconds(now)) o.state = STATE.Active;
  o.attrs.push({ name: "State", value: item("State", o.state) });
  // Always Sensitive / Never Extractable (2.x) record what Sensitive / Extractable were when the object was made.
  const sensitive = clientAttrs.find((a) => a.name === "Sensitive")?.value;
  if (sensitive?.type === TTLV_TYPE.Boolean) o.attrs.push({ name: "AlwaysSensitive", value: item("AlwaysSensitive", sensitive.value) });
  const extractable = clientAttrs.find((a) => a.name === "Extractable")?.value;
  if (extractable?.type === TTLV_TYPE.Boolean) o.attrs.push({ name: "NeverExtractable", value: item("NeverExtractable", !extractable.value) });
  o.attrs.push({ name: "InitialDate", value: item("InitialDate", now) });
  o.attrs.push({ name: "LastChangeDate", value: item("LastChangeDate", now) });
  // Original Creation Date (KMIP 1.2+): when the object first came to be. A client registering an object made
  // elsewhere may say when that was; otherwise it is now, the same as the Initial Date.
  if (!clientAttrs.some((a) => a.name === "OriginalCreationDate")) o.attrs.push({ name: "OriginalCreationDate", value: item("OriginalCreationDate", now) });
  if (objectType !== OBJECT_TYPE.Certificate) o.attrs.push({ name: "Digest", value: digestAttr(material, keyFormat) });
  // Key Format Type is an attribute of keys and secret data (KMIP 2.x): the format the value was made or registered in.
  if (KEY_OBJECTS.has(objectType)) o.attrs.push({ name: "KeyFormatType", value: item("KeyFormatType", keyFormat) });
  return o;
}

/** Sets State (and the matching attribute) and the LastChangeDate. */
export function setState(ctx: OpContext, o: ManagedObject, state: number): void {
  o.state = state;
  setAttr(o, "State", item("State", state));
  touch(ctx, o);
}

/** Updates LastChangeDate. */
export function touch(ctx: OpContext, o: ManagedObject): void {
  setAttr(o, "LastChangeDate", item("LastChangeDate", ctx.now()));
}

/** Names for the Locate index. */
function names(o: ManagedObject): string[] {
  return attrs(o, "Name")
    .map((n) => text(n, "NameValue"))
    .filter((n): n is string => n !== undefined);
}

function toStored(ctx: OpContext, o: ManagedObject): StoredObject {
  return {
    id: o.id,
    owner: o.owner,
    objectType: o.objectType,
    state: o.state,
    attributes: encodeTtlv(storedAttributes(o.attrs)),
    material: o.material ? ctx.keyring.wrap(o.id, o.material) : null,
    names: names(o),
    grants: grantsOf(o),
  };
}

/** Stores a new object (durable before the response is sent). */
export async function insertObject(ctx: OpContext, o: ManagedObject): Promise<void> {
  await ctx.store.insert(toStored(ctx, o));
  ctx.objectIds.push(o.id);
  ctx.undo.push(() => ctx.store.delete(o.id));
}

/** The stored form each loaded object came from, to undo changes to it. */
const loadedFrom = new WeakMap<ManagedObject, StoredObject>();

/** Stores changes to an object. */
export async function saveObject(ctx: OpContext, o: ManagedObject): Promise<void> {
  await ctx.store.update(toStored(ctx, o));
  const before = loadedFrom.get(o);
  if (before) ctx.undo.push(() => ctx.store.update(before));
}

/** Whether the caller may see and use a stored object. */
export function mayAccess(identity: string, s: StoredObject): boolean {
  return s.owner === identity || s.grants.includes(identity);
}

// Decoded attributes per stored object. The SQLite store hands out the same frozen object until it changes,
// so repeated reads of a hot key decode its attributes once; handlers get their own copy of the list.
const decoded = new WeakMap<StoredObject, Attr[]>();

// Unwrapped key material per stored object, and the KeyObject made from it, for the same frozen objects: a hot
// key is unwrapped once, and OpenSSL gets a prepared key (importing raw key bytes costs more than an AES-GCM
// of 4 KiB). They live in memory only, as long as the store keeps that version of the object.
const plain = new WeakMap<StoredObject, { material: Uint8Array; key?: KeyObject }>();

function unwrapped(ctx: OpContext, s: StoredObject): Uint8Array {
  const hit = plain.get(s);
  // Each caller gets its own copy: a handler may change or wipe what it was given.
  if (hit) return hit.material.slice();
  const material = ctx.keyring.unwrap(s.id, s.material!);
  if (Object.isFrozen(s)) plain.set(s, { material: material.slice() });
  return material;
}

/**
 * The secret key of a symmetric object as a KeyObject for node:crypto, made once per stored version of the
 * object while its material is the one loaded.
 */
export function secretKeyOf(o: ManagedObject): KeyObject {
  if (!o.material) throw new OperationError("CryptographicFailure", `object ${o.id} has no key material`);
  const s = loadedFrom.get(o);
  const hit = s ? plain.get(s) : undefined;
  if (hit && Buffer.from(hit.material.buffer, hit.material.byteOffset, hit.material.byteLength).equals(o.material)) {
    hit.key ??= createSecretKey(hit.material);
    return hit.key;
  }
  return createSecretKey(o.material);
}

/** A copy of `o` holding `material` in its place, still known as loaded from the same stored object. */
export function withMaterial(o: ManagedObject, material: Uint8Array): ManagedObject {
  const copy = { ...o, material };
  const s = loadedFrom.get(o);
  if (s) loadedFrom.set(copy, s);
  return copy;
}

/**
 * Materializes a stored object, unwrapping its key material unless `withKey` is false (Locate reads only the
 * attributes: a hot object's decoded attributes are reused, and no key is unwrapped for it).
 */
export function fromStored(ctx: OpContext, s: StoredObject, withKey = true): ManagedObject {
  let attrs = decoded.get(s);
  if (!attrs) {
    attrs = loadAttributes(decodeTtlv(s.attributes));
    if (Object.isFrozen(s)) decoded.set(s, attrs);
  }
  const o: ManagedObject = {
    id: s.id,
    owner: s.owner,
    objectType: s.objectType,
    state: s.state,
    attrs: [...attrs],
    material: s.material && withKey ? unwrapped(ctx, s) : null,
  };
  loadedFrom.set(o, s);
  advanceByDates(ctx, o);
  return o;
}

/**
 * The lifecycle also moves with time: a Pre-Active object whose Activation Date has come is Active, and an
 * Active one whose Deactivation Date has passed is Deactivated (KMIP 1.4 §3.22, 2.1 §3.19).
 */
function advanceByDates(ctx: OpContext, o: ManagedObject): void {
  const now = BigInt(Math.floor(ctx.now().getTime() / 1000));
  const date = (n: string) => {
    const v = attr(o, n);
    return v?.type === TTLV_TYPE.DateTime ? v.value : undefined;
  };
  const activation = date("ActivationDate");
  if (o.state === STATE.PreActive && activation !== undefined && activation <= now) {
    o.state = STATE.Active;
    setAttr(o, "State", item("State", o.state));
  }
  const deactivation = date("DeactivationDate");
  if (o.state === STATE.Active && deactivation !== undefined && deactivation <= now) {
    o.state = STATE.Deactivated;
    setAttr(o, "State", item("State", o.state));
  }
}

/**
 * The Unique Identifier a request names, or the batch's ID placeholder when it names none (KMIP 2.x may
 * also name the placeholder with the UniqueIdentifier enumeration).
 */
export function requestedId(ctx: OpContext, payload: Ttlv | undefined): string {
  const u = child(payload, "UniqueIdentifier");
  if (u && u.type === TTLV_TYPE.TextString) return u.value;
  if (u && u.type !== TTLV_TYPE.Enumeration) throw new OperationError("InvalidField", "UniqueIdentifier must be a text string");
  if (u && u.value !== enumValue("UniqueIdentifier", "IDPlaceholder") && ctx.idPlaceholder === undefined) {
    throw new OperationError("InvalidField", "only the ID placeholder is supported as an enumerated UniqueIdentifier");
  }
  if (ctx.idPlaceholder === undefined) throw new OperationError("InvalidField", "no UniqueIdentifier and no ID placeholder in this batch");
  return ctx.idPlaceholder;
}

/**
 * Sharing: the owner of an object lets other identities see and use it (Get, Get Attributes, Locate, the
 * cryptographic operations) by giving it a custom attribute {@link GRANT} whose values are their certificate
 * subjects as RFC 4514 strings (`CN=bob,O=Example`, the last RDN first, special characters escaped); in KMIP 2.x, a vendor attribute of Vendor Identification `x`
 * named `tessera-grant`. Only the owner changes it, and only the owner changes the object's lifecycle, attributes
 * and key (see {@link loadOwnObject}).
 */
export const GRANT = "x-tessera-grant";

/** The identities an object is shared with, from its {@link GRANT} values. */
function grantsOf(o: ManagedObject): string[] {
  return [
    ...new Set(
      attrs(o, GRANT).flatMap((v) => {
        if (v.type !== TTLV_TYPE.TextString) return [];
        const g = canonicalIdentity(v.value);
        return g !== o.owner ? [g] : [];
      }),
    ),
  ];
}

/** A subject as kmipd names identities (RFC 4514, as {@link distinguishedName} writes it); other text as it is. */
function canonicalIdentity(s: string): string {
  try {
    return parseDistinguishedName(s).rfc4514;
  } catch {
    return s;
  }
}

/**
 * Loads the object a request names for an operation only its owner may do (lifecycle, attributes, re-key): an
 * identity it is only shared with gets Permission Denied.
 */
export async function loadOwnObject(ctx: OpContext, payload: Ttlv | undefined): Promise<ManagedObject> {
  const o = await loadObjectForUpdate(ctx, payload);
  if (o.owner !== ctx.identity) throw new OperationError("PermissionDenied", `object ${o.id} is shared with ${ctx.identity}, who may use it but not change it`);
  return o;
}

/**
 * Loads the object a request names. An object the caller neither owns nor was granted answers ItemNotFound,
 * exactly like one that does not exist: other clients cannot even learn that it exists.
 */
export async function loadObject(ctx: OpContext, payload: Ttlv | undefined): Promise<ManagedObject> {
  const id = requestedId(ctx, payload);
  const s = await ctx.store.get(id);
  if (!s || !mayAccess(ctx.identity, s)) throw new OperationError("ObjectNotFound", `no object ${id}`);
  return fromStored(ctx, s);
}

/**
 * Loads the object a request names to change it: the request holds the object (ctx.lock) from before this read
 * until it has been answered, so no other request changes it in between. Access is checked before the object is
 * held, so a caller cannot learn from waiting that an object it may not see exists.
 */
export async function loadObjectForUpdate(ctx: OpContext, payload: Ttlv | undefined): Promise<ManagedObject> {
  const id = (await loadObject(ctx, payload)).id;
  await ctx.lock(id);
  return loadObject(ctx, payload);
}

/** The UniqueIdentifier response item. */
export function idItem(o: ManagedObject | string): Ttlv {
  return item("UniqueIdentifier", typeof o === "string" ? o : o.id);
}

/** A structure item helper re-exported for handlers. */
export { struct, tagOf };
