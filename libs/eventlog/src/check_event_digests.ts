/**
 * Integrity of the events whose data is what was measured: their digests must be hashes of their data.
 * @module
 */
import { HASH_SIZE } from "@tessera/tpm2";
import { bankName, digest as hashOf } from "./_digest.ts";
import { decode } from "./_codec.ts";
import { UEFI_VARIABLE_DATA } from "./_structures.ts";
import { EV, eventTypeName } from "./event_type.ts";
import type { EventLog, LogEvent } from "./types.ts";

/** What an event's digest was found to be the hash of. */
export type MeasuredForm =
  /** The whole event data (UEFI_VARIABLE_DATA, the separator value, the action string…). */
  | "event-data"
  /** Only the VariableData of UEFI_VARIABLE_DATA (some firmware, for EV_EFI_VARIABLE_BOOT). */
  | "variable-data"
  /** The string without its terminating NUL (grub). */
  | "string-without-nul"
  /** The command after grub's `grub_cmd: ` / `kernel_cmdline: ` / `module_cmdline: ` prefix, without NUL. */
  | "grub-command"
  /** The command after the prefix with its NUL (Red Hat's grub, whose prefix has no colon: `grub_cmd set pager=1`). */
  | "grub-command-with-nul"
  /** All but the last byte: shim before 15.3 logs one byte more than it measures (rhboot/shim#184). */
  | "shim-extra-byte";

/** The outcome of checking one digest of one event. */
export interface EventDigestCheck {
  /** Event index. */
  index: number;
  /** PCR. */
  pcr: number;
  /** Event type name, e.g. `EV_SEPARATOR`. */
  type: string;
  /** Bank name, e.g. `sha256`. */
  bank: string;
  /** Whether the digest is the hash of (a form of) the data. */
  ok: boolean;
  /** Which form of the data matched. */
  measured?: MeasuredForm;
  /** Why it failed. */
  reason?: string;
}

type Candidate = [MeasuredForm, Uint8Array];

const DATA_MEASURED: ReadonlySet<number> = new Set([
  EV.SEPARATOR,
  EV.ACTION,
  EV.EFI_ACTION,
  EV.OMIT_BOOT_DEVICE_EVENTS,
  EV.EFI_GPT_EVENT,
  EV.EFI_VARIABLE_DRIVER_CONFIG,
  EV.EFI_VARIABLE_BOOT2,
]);

const GRUB_PREFIX = /^(grub_cmd|kernel_cmdline|module_cmdline|grub_kernel_cmdline):? /; // Red Hat's grub omits the colon

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

function withoutNul(data: Uint8Array): Uint8Array {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return data.subarray(0, end);
}

/** The forms of an event's data its digest may be the hash of, or undefined when the type is not checked. */
function candidates(e: LogEvent): Candidate[] | undefined {
  if (DATA_MEASURED.has(e.type)) return [["event-data", e.data]];
  if (e.type === EV.EFI_VARIABLE_AUTHORITY) {
    const out: Candidate[] = [["event-data", e.data]];
    if (e.data.length > 0) out.push(["shim-extra-byte", e.data.subarray(0, e.data.length - 1)]);
    return out;
  }
  if (e.type === EV.EFI_VARIABLE_BOOT) {
    const out: Candidate[] = [["event-data", e.data]];
    try {
      out.push(["variable-data", decode(UEFI_VARIABLE_DATA, e.data).variableData]);
    } catch {
      // not UEFI_VARIABLE_DATA: only the whole data can match
    }
    return out;
  }
  if (e.type === EV.IPL) {
    // grub logs "grub_cmd: <command>\0" (PCR 8) and measures <command>; it logs file names (PCR 9) and shim logs
    // MokList & co (PCR 14) for measurements of content that is not in the log: only strings are checked.
    const s = withoutNul(e.data);
    let text: string;
    try {
      text = strictUtf8.decode(s);
    } catch {
      return undefined;
    }
    const m = GRUB_PREFIX.exec(text);
    if (!m) return undefined;
    const command = utf8Encoder.encode(m[0]).length;
    return [
      ["event-data", e.data],
      ["string-without-nul", s],
      ["grub-command", s.subarray(command)],
      ["grub-command-with-nul", e.data.subarray(command, s.length + 1)],
    ];
  }
  return undefined;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks, for every event whose data is what was measured and every bank this library can hash, that the digest
 * is the hash of the data, and says which form matched: EV_EFI_VARIABLE_* (H(UEFI_VARIABLE_DATA); for
 * EV_EFI_VARIABLE_BOOT also H(VariableData), as some firmware measures; for EV_EFI_VARIABLE_AUTHORITY also the data
 * without its last byte, as shim before 15.3 logs it), EV_SEPARATOR, EV_ACTION, EV_EFI_ACTION,
 * EV_OMIT_BOOT_DEVICE_EVENTS, EV_EFI_GPT_EVENT, and grub's EV_IPL command strings (upstream grub measures the
 * command after its `grub_cmd: ` prefix without the NUL, Red Hat's the command after `grub_cmd ` with the NUL; the
 * whole string with or without NUL is accepted too). Events of other types (images, blobs, files) are not listed.
 */
export function explainEventDigests(log: EventLog): EventDigestCheck[] {
  const out: EventDigestCheck[] = [];
  const events = log.format === "sha1" ? [log.header, ...log.events] : log.events;
  for (const e of events) {
    const forms = candidates(e);
    if (!forms) continue;
    for (const [alg, digest] of e.digests) {
      if (HASH_SIZE[alg] === undefined) continue;
      const base = { index: e.index, pcr: e.pcr, type: eventTypeName(e.type), bank: bankName(alg) };
      const match = forms.find(([, bytes]) => equal(hashOf(alg, bytes), digest));
      if (match) out.push({ ...base, ok: true, measured: match[0] });
      else out.push({ ...base, ok: false, reason: `digest is not the ${bankName(alg)} hash of the ${forms.map(([f]) => f).join(" or ")}` });
    }
  }
  return out;
}

/**
 * The events whose digest does not match their data (see {@link explainEventDigests} for which events are
 * checked), with the reason. Empty for an untampered log.
 *
 * @example
 * ```ts
 * for (const p of checkEventDigests(log)) console.log(`event ${p.index} (${p.type}, PCR ${p.pcr}, ${p.bank}): ${p.reason}`);
 * ```
 */
export function checkEventDigests(log: EventLog): { index: number; pcr: number; type: string; bank: string; reason: string }[] {
  return explainEventDigests(log)
    .filter((c) => !c.ok)
    .map((c) => ({ index: c.index, pcr: c.pcr, type: c.type, bank: c.bank, reason: c.reason ?? "" }));
}
