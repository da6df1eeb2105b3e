/**
 * Owner names, format 1 → 2. kmipd ≤ 0.1 named a client by its certificate subject's fields joined with commas,
 * unescaped (`CN=bob,O=Example`): a CN holding `bob,O=Example` gave the same string. Format 2 is the subject's
 * RFC 4514 string (@tessera/pki `distinguishedName`), with RDNs in reverse order and special characters escaped.
 *
 * At start, a store still in format 1 is rewritten once, in one transaction: every owner and every grant
 * (the `grants` column and the `x-tessera-grant` attribute values) that reads unambiguously as a list of fields
 * (known field names, each once, values without `,` `+` `=` `\`) becomes the RFC 4514 string of the same
 * fields. The others cannot be told apart from a forgery: an owner becomes {@link UNMAPPED_OWNER_PREFIX} and
 * the old string (no client identity has that form, so nobody reaches the object; an operator may give it an
 * owner in the database), a grant is dropped; each is logged. A name with a multi-valued RDN, which format 1
 * wrote as separate fields, maps to separate RDNs.
 * @module
 */
import { decodeTtlv, encodeTtlv, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { parseDistinguishedName } from "@tessera/pki";
import { type Attr, loadAttributes, storedAttributes } from "../attributes.ts";
import type { Store, StoredObject } from "./store.ts";

/** The owner format this kmipd writes. */
export const OWNER_FORMAT = 2;

/** What an owner that could not be mapped is renamed to: this prefix, then the old string. */
export const UNMAPPED_OWNER_PREFIX = "unmapped-legacy-owner:";

/** The attribute holding grants (objects.ts GRANT; repeated here to keep the store free of the operations). */
const GRANT = "x-tessera-grant";

/** Format 1 field names (OpenSSL short names as node printed them) → RFC 4514 type (short name or OID). */
const LEGACY_TYPES: Record<string, string> = {
  CN: "CN",
  O: "O",
  OU: "OU",
  C: "C",
  ST: "ST",
  L: "L",
  street: "STREET",
  DC: "DC",
  UID: "UID",
  emailAddress: "1.2.840.113549.1.9.1",
  serialNumber: "2.5.4.5",
  title: "2.5.4.12",
  SN: "2.5.4.4",
  GN: "2.5.4.42",
  dnQualifier: "2.5.4.46",
};

function escape(v: string): string {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0")}`;
    else if ('"<>;'.includes(c) || ((c === "#" || c === " ") && i === 0) || (c === " " && i === v.length - 1)) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/** The RFC 4514 identity a format 1 identity stands for, or undefined when it is ambiguous. */
export function legacyIdentity(old: string): string | undefined {
  if (old.length === 0) return undefined;
  const fields: string[] = [];
  const seen = new Set<string>();
  for (const piece of old.split(",")) {
    const eq = piece.indexOf("=");
    if (eq <= 0) return undefined;
    const key = piece.slice(0, eq);
    const value = piece.slice(eq + 1);
    const type = Object.hasOwn(LEGACY_TYPES, key) ? LEGACY_TYPES[key] : undefined;
    // A repeated field was written once with its values joined by `+`; a value with `+`, `=` or `\` (or empty)
    // may as well be the remains of another field.
    if (!type || seen.has(key) || value.length === 0 || /[+=\\]/.test(value)) return undefined;
    seen.add(key);
    fields.push(`${type}=${escape(value)}`);
  }
  try {
    return parseDistinguishedName(fields.reverse().join(",")).rfc4514;
  } catch {
    return undefined;
  }
}

type Log = (msg: string, fields?: Record<string, unknown>) => void;

/** The object with owner and grants in format 2, or undefined when nothing changes. */
export function migrateObject(o: StoredObject, log: Log): StoredObject | undefined {
  const owner = legacyIdentity(o.owner) ?? `${UNMAPPED_OWNER_PREFIX}${o.owner}`;
  if (owner.startsWith(UNMAPPED_OWNER_PREFIX))
    log("owner name is ambiguous; the object is left without a reachable owner", { object: o.id, owner: o.owner, now: owner });
  const map = (g: string) => {
    const n = legacyIdentity(g);
    if (n === undefined) log("grant name is ambiguous; grant dropped", { object: o.id, grant: g });
    return n;
  };
  const grants = [...new Set(o.grants.map(map).filter((g): g is string => g !== undefined))];
  let attrs: Attr[];
  try {
    attrs = loadAttributes(decodeTtlv(o.attributes));
  } catch (e) {
    log("stored attributes unreadable; grants in them left as they were", { object: o.id, error: (e as Error).message });
    attrs = [];
  }
  let changedAttrs = false;
  const kept = attrs.flatMap((a) => {
    if (a.name !== GRANT || a.value.type !== TTLV_TYPE.TextString) return [a];
    const n = legacyIdentity(a.value.value);
    changedAttrs = true;
    return n === undefined ? [] : [{ name: a.name, value: { ...a.value, value: n } as Ttlv }];
  });
  const attributes = changedAttrs ? encodeTtlv(storedAttributes(kept)) : o.attributes;
  if (owner === o.owner && !changedAttrs && grants.length === o.grants.length && grants.every((g, i) => g === o.grants[i])) return undefined;
  return { ...o, owner, grants, attributes };
}

/** Brings `store` to {@link OWNER_FORMAT}, logging what it changed. */
export async function migrateOwners(store: Store, log: Log): Promise<void> {
  const changed = await store.migrateOwners(OWNER_FORMAT, (o) => migrateObject(o, log));
  if (changed) log("stored owner and grant names rewritten as RFC 4514 subjects", { objects: changed, format: OWNER_FORMAT });
}
