/**
 * What one PCR 7 variable event contributes to an image, by its type and data alone, kept by content (private).
 * @module
 */
import { hash } from "node:crypto";
import { decodeEvent, EFI_GUID, EV, type EventLog, type LogEvent } from "@tessera/eventlog";
import { ContentCache } from "@tessera/eventlog";

/** Lower-case hex of bytes (as @tessera/tpm2's toHex writes it, without building the string a byte at a time). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** The lower-case hex SHA-256 of bytes. */
export function sha256Hex(b: Uint8Array): string {
  return hash("sha256", b, "hex");
}

/** Entries of a signature database: SHA-256 of each certificate, the digest itself for hash entries. */
function databaseEntries(lists: { typeName?: string; signatures: { data: Uint8Array }[] }[]): string[] {
  return lists.flatMap((l) => l.signatures.map((s) => (l.typeName === "x509" ? sha256Hex(s.data) : toHex(s.data))));
}

/** What one PCR 7 variable event contributes to the image, by its type and data alone. */
export type VariableFact =
  | { readonly kind: "authority"; readonly sha256: string }
  | { readonly kind: "secure-boot"; readonly enabled: boolean }
  | { readonly kind: "database"; readonly database: "pk" | "kek" | "db" | "dbx"; readonly entries: readonly string[] }
  | { readonly kind: "none" };

/**
 * PCR 7's variable events by content: every host of an image measures the same PK, KEK, db, dbx and authorities,
 * and decoding their signature lists (hundreds of dbx entries) is most of imageFromEventLog's work. The entries are
 * copied into each image, never shared with the caller.
 */
const VARIABLES = new ContentCache<VariableFact>(256, 8 * 1024 * 1024);

/** The variables cache, for tests. */
export const VARIABLES_CACHE = VARIABLES;

function decodeFact(e: LogEvent, log: EventLog): VariableFact {
  const d = decodeEvent(e, log);
  if (d.kind !== "efi-variable") return { kind: "none" };
  if (e.type === EV.EFI_VARIABLE_AUTHORITY) return { kind: "authority", sha256: sha256Hex(d.signature?.data ?? d.data) };
  if (d.guid === EFI_GUID.GLOBAL_VARIABLE && d.name === "SecureBoot") return { kind: "secure-boot", enabled: d.data.length > 0 && d.data[0] === 1 };
  if (d.guid === EFI_GUID.GLOBAL_VARIABLE && (d.name === "PK" || d.name === "KEK")) {
    return { kind: "database", database: d.name === "PK" ? "pk" : "kek", entries: databaseEntries(d.signatureLists ?? []) };
  }
  if (d.guid === EFI_GUID.IMAGE_SECURITY_DATABASE && (d.name === "db" || d.name === "dbx")) {
    return { kind: "database", database: d.name, entries: databaseEntries(d.signatureLists ?? []) };
  }
  return { kind: "none" };
}

/**
 * The contribution of an EV_EFI_VARIABLE_DRIVER_CONFIG or EV_EFI_VARIABLE_AUTHORITY event. A variable event's
 * decoding depends on its type and data only (the log matters for image events), so they are the key; the caller
 * copies `entries` into its image.
 */
export function variableFact(e: LogEvent, log: EventLog): VariableFact {
  return VARIABLES.get(e.data, () => decodeFact(e, log), String(e.type));
}
