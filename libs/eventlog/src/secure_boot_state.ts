/**
 * The Secure Boot state a log records (PCR 7).
 * @module
 */
import { variableFacts } from "./_variable_facts.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { EV } from "./event_type.ts";
import type { EventLog } from "./types.ts";

/** What PCR 7's events say about Secure Boot. */
export interface SecureBootState {
  /** The SecureBoot variable: true when 1, false when 0 or empty (absent), undefined when not measured. */
  enabled: boolean | undefined;
  /** The SetupMode variable, when measured. */
  setupMode?: boolean;
  /** Whether PK was measured with content. */
  pk: boolean;
  /** Whether KEK was measured with content. */
  kek: boolean;
  /** Whether db was measured with content. */
  db: boolean;
  /** Whether dbx was measured with content. */
  dbx: boolean;
  /** The X.509 certificates in db: subject (when it parses) and SHA-256 of the DER (lower-case hex). */
  dbCertificates: { subject?: string; sha256: string }[];
  /**
   * The EV_EFI_VARIABLE_AUTHORITY events: which db (or shim MokList/vendor) entry authorized the next image.
   * `signatureOwner` is the EFI_SIGNATURE_DATA owner ("" when the data is a bare certificate, as shim logs its
   * vendor certificate); `forImage` is the index of the next image load event.
   */
  authorities: { eventIndex: number; variable: string; signatureOwner: string; certificateSha256?: string; subject?: string; forImage?: number }[];
}

const IMAGE_EVENTS: ReadonlySet<number> = new Set([EV.EFI_BOOT_SERVICES_APPLICATION, EV.EFI_BOOT_SERVICES_DRIVER, EV.EFI_RUNTIME_SERVICES_DRIVER]);

/**
 * The Secure Boot state the log records: the SecureBoot variable, which of PK/KEK/db/dbx were measured with
 * content, the certificates in db, and the authorities that verified each image. The last measurement of a
 * variable counts. Use it with a replay that matches the quote: an unverified log proves nothing.
 */
export function secureBootState(log: EventLog): SecureBootState {
  const state: SecureBootState = { enabled: undefined, pk: false, kek: false, db: false, dbx: false, dbCertificates: [], authorities: [] };
  const all = [log.header, ...log.events];
  const pendingAuthorities: SecureBootState["authorities"] = [];
  for (const e of all) {
    if (IMAGE_EVENTS.has(e.type)) {
      for (const a of pendingAuthorities) a.forImage = e.index;
      pendingAuthorities.length = 0;
      continue;
    }
    if (e.pcr !== 7) continue;
    if (e.type !== EV.EFI_VARIABLE_DRIVER_CONFIG && e.type !== EV.EFI_VARIABLE_AUTHORITY) continue;
    const d = variableFacts(e, log);
    if (d === null) continue;
    if (e.type === EV.EFI_VARIABLE_AUTHORITY) {
      const a: SecureBootState["authorities"][number] = { eventIndex: e.index, variable: d.name, signatureOwner: d.signatureOwner };
      if (d.certificate) {
        a.certificateSha256 = d.certificate.sha256;
        if (d.certificate.subject !== undefined) a.subject = d.certificate.subject;
      }
      state.authorities.push(a);
      pendingAuthorities.push(a);
      continue;
    }
    const present = d.present;
    if (d.guid === EFI_GUID.GLOBAL_VARIABLE) {
      if (d.name === "SecureBoot") state.enabled = d.one;
      else if (d.name === "SetupMode") state.setupMode = d.one;
      else if (d.name === "PK") state.pk = present;
      else if (d.name === "KEK") state.kek = present;
    } else if (d.guid === EFI_GUID.IMAGE_SECURITY_DATABASE) {
      if (d.name === "db") {
        state.db = present;
        state.dbCertificates = (d.dbCertificates ?? []).map((c) => ({ ...c }));
      } else if (d.name === "dbx") state.dbx = present;
    }
  }
  return state;
}
