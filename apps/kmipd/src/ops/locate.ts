/**
 * Locate: the caller's objects whose attributes match every attribute given (Name, Object Type,
 * Cryptographic Algorithm/Length, State, Object Group, custom attributes …), newest first, with Maximum
 * Items and Offset Items.
 * @module
 */
import { child, int, item, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { parseAttributes, sameAttributeValue } from "../attributes.ts";
import type { Handler } from "../context.ts";
import { fromStored, STATE } from "../objects.ts";
import { OperationError } from "../errors.ts";

function matchGroup(have: Ttlv[], want: { value: Ttlv }[]): boolean {
  if (want.length === 2 && want[0].value.type === TTLV_TYPE.DateTime && want[1].value.type === TTLV_TYPE.DateTime) {
    const lo = want[0].value.value as bigint;
    const hi = want[1].value.value as bigint;
    return have.some((h) => h.type === TTLV_TYPE.DateTime && h.value >= (lo < hi ? lo : hi) && h.value <= (lo < hi ? hi : lo));
  }
  return want.every((w) => have.some((h) => sameAttributeValue(h, w.value)));
}

/** Locate. */
export const locate: Handler = async (ctx, payload) => {
  const wanted = parseAttributes(payload);
  const max = int(payload, "MaximumItems");
  const offset = int(payload, "OffsetItems") ?? 0;
  if ((max !== undefined && max < 0) || offset < 0) throw new OperationError("InvalidField", "MaximumItems and OffsetItems must not be negative");
  const name = wanted.find((a) => a.name === "Name");
  const nameValue = name && child(name.value, "NameValue");
  // Filters by attribute; a date attribute given twice is a range [first, second] (KMIP 1.4 §4.9, 2.1 §6.1.27).
  const groups: (typeof wanted)[] = [];
  for (const w of wanted) {
    const g = groups.find((x) => x[0].name === w.name);
    if (g) g.push(w);
    else groups.push([w]);
  }
  const candidates = await ctx.store.list(ctx.identity, nameValue?.type === TTLV_TYPE.TextString ? { name: nameValue.value } : {});
  // A destroyed object keeps its metadata but is no longer a key anyone can use: Locate leaves it out unless
  // the client asks for objects by State (as the OASIS SKFF-M cases expect of a Destroy followed by a Locate).
  const byState = wanted.some((w) => w.name === "State");
  const matches: string[] = [];
  for (const s of candidates.reverse()) {
    if (!byState && (s.state === STATE.Destroyed || s.state === STATE.DestroyedCompromised)) continue;
    if (
      wanted.some((w) => w.name === "ObjectType") &&
      !wanted.every((w) => w.name !== "ObjectType" || (w.value.type === TTLV_TYPE.Enumeration && w.value.value === s.objectType))
    )
      continue;
    const o = fromStored(ctx, s, false);
    if (
      groups.every((g) =>
        matchGroup(
          o.attrs.filter((a) => a.name === g[0].name).map((a) => a.value),
          g,
        ),
      )
    )
      matches.push(o.id);
  }
  const page = matches.slice(offset, max === undefined ? undefined : offset + max);
  const v = ctx.version;
  // Located Items tells a paging client how many there are in all; it is sent when the client pages.
  const withCount = (v.major >= 2 || v.minor >= 3) && (max !== undefined || offset > 0);
  return [withCount && item("LocatedItems", matches.length), ...page.map((id) => item("UniqueIdentifier", id))].filter((x): x is Ttlv => !!x);
};
