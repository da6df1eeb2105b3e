/**
 * Locate: the caller's objects whose attributes match every attribute given (Name, Object Type,
 * Cryptographic Algorithm/Length, State, Object Group, custom attributes …), newest first, with Maximum
 * Items and Offset Items.
 * @module
 */
import { child, int, item, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { parseAttributes } from "../attributes.ts";
import type { Handler } from "../context.ts";
import { fromStored } from "../objects.ts";
import { OperationError } from "../errors.ts";

function canonical(t: Ttlv): string {
  return JSON.stringify(t, (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
}

/** Locate. */
export const locate: Handler = async (ctx, payload) => {
  const wanted = parseAttributes(payload);
  const max = int(payload, "MaximumItems");
  const offset = int(payload, "OffsetItems") ?? 0;
  if ((max !== undefined && max < 0) || offset < 0) throw new OperationError("InvalidField", "MaximumItems and OffsetItems must not be negative");
  const name = wanted.find((a) => a.name === "Name");
  const nameValue = name && child(name.value, "NameValue");
  const candidates = await ctx.store.list(ctx.identity, nameValue?.type === TTLV_TYPE.TextString ? { name: nameValue.value } : {});
  const matches: string[] = [];
  for (const s of candidates.reverse()) {
    if (wanted.some((w) => w.name === "ObjectType") && !wanted.every((w) => w.name !== "ObjectType" || (w.value.type === TTLV_TYPE.Enumeration && w.value.value === s.objectType))) continue;
    const o = fromStored(ctx, { ...s, material: null });
    const ok = wanted.every((w) => o.attrs.some((a) => a.name === w.name && canonical({ ...a.value }) === canonical({ ...w.value })));
    if (ok) matches.push(o.id);
  }
  const page = matches.slice(offset, max === undefined ? undefined : offset + max);
  const v = ctx.version;
  const withCount = v.major >= 2 || v.minor >= 3;
  return [withCount && item("LocatedItems", matches.length), ...page.map((id) => item("UniqueIdentifier", id))].filter((x): x is Ttlv => !!x);
};
