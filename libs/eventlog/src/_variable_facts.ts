/**
 * What one PCR 7 variable event says about Secure Boot, by its type and data alone, kept by content (private).
 * @module
 */
import { certificateSubject, derSize } from "./_certificate.ts";
import { ContentCache } from "./content_cache.ts";
import { sha256Hex } from "./_digest.ts";
import { decodeEvent } from "./decode_event.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { EV } from "./event_type.ts";
import type { EventLog, LogEvent } from "./types.ts";

/** Whether the bytes are one whole DER certificate-like SEQUENCE. */
function isCertificate(b: Uint8Array): boolean {
  return b.length > 4 && b[0] === 0x30 && derSize(b) === b.length;
}

/** What one PCR 7 variable event says, by its type and data alone. */
export interface VariableFacts {
  readonly guid: string;
  readonly name: string;
  /** The data is not empty. */
  readonly present: boolean;
  /** The data's first byte is 1. */
  readonly one: boolean;
  /** EV_EFI_VARIABLE_AUTHORITY: the EFI_SIGNATURE_DATA owner ("" for a bare certificate) and the certificate. */
  readonly signatureOwner: string;
  readonly certificate?: { readonly sha256: string; readonly subject?: string };
  /** db: its X.509 certificates. */
  readonly dbCertificates?: readonly { readonly subject?: string; readonly sha256: string }[];
}

/**
 * The facts of PCR 7's variable events by content: every host of an image measures the same db, KEK and
 * authorities, whose decoding (signature lists, certificates) is most of secureBootState's work. Results are small
 * (names, digests, subjects) and copied out, never shared with the caller.
 */
const FACTS = new ContentCache<VariableFacts | null>(256, 8 * 1024 * 1024);

/** The facts cache, for tests. */
export const FACTS_CACHE = FACTS;

function decodeFacts(e: LogEvent, log: EventLog): VariableFacts | null {
  const d = decodeEvent(e, log);
  if (d.kind !== "efi-variable") return null;
  const base = { guid: d.guid, name: d.name, present: d.data.length > 0, one: d.data.length > 0 && d.data[0] === 1 };
  if (e.type === EV.EFI_VARIABLE_AUTHORITY) {
    const cert = d.signature?.data ?? (isCertificate(d.data) ? d.data : undefined);
    const signatureOwner = d.signature?.owner ?? "";
    if (!cert || !isCertificate(cert)) return { ...base, signatureOwner };
    const subject = certificateSubject(cert);
    return { ...base, signatureOwner, certificate: { sha256: sha256Hex(cert), ...(subject !== undefined ? { subject } : {}) } };
  }
  if (d.guid !== EFI_GUID.IMAGE_SECURITY_DATABASE || d.name !== "db") return { ...base, signatureOwner: "" };
  const dbCertificates: { subject?: string; sha256: string }[] = [];
  for (const list of d.signatureLists ?? []) {
    if (list.typeName !== "x509") continue;
    for (const s of list.signatures) {
      const subject = certificateSubject(s.data);
      dbCertificates.push({ ...(subject !== undefined ? { subject } : {}), sha256: sha256Hex(s.data) });
    }
  }
  return { ...base, signatureOwner: "", dbCertificates };
}

/**
 * The facts of an EV_EFI_VARIABLE_DRIVER_CONFIG or EV_EFI_VARIABLE_AUTHORITY event, or null when its data is not
 * a UEFI_VARIABLE_DATA. A variable event's decoding depends on its type and data only (the log matters for image
 * events), so they are the key.
 */
export function variableFacts(e: LogEvent, log: EventLog): VariableFacts | null {
  return FACTS.get(e.data, () => decodeFacts(e, log), String(e.type));
}
