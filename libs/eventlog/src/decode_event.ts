/**
 * Decoding of event data by event type: Spec ID and StartupLocality events, UEFI variables (with signature
 * databases, booleans, boot options), boot images and their device paths, GPT, separators, strings, firmware
 * blobs and handoff tables.
 * @module
 */
import { type Codec, DecodeFault, decode } from "./_codec.ts";
import { devicePathToText } from "./device_path_to_text.ts";
import { decodeSpecId, isSpecIdData } from "./_format.ts";
import {
  EFI_LOAD_OPTION,
  EFI_SIGNATURE_DATA,
  EFI_SIGNATURE_DATABASE,
  STARTUP_LOCALITY,
  TCG_EfiStartupLocalityEvent,
  TCG_PCClientTaggedEvent,
  UEFI_GPT_DATA,
  UEFI_HANDOFF_TABLE_POINTERS,
  UEFI_HANDOFF_TABLE_POINTERS2,
  UEFI_PLATFORM_FIRMWARE_BLOB,
  UEFI_PLATFORM_FIRMWARE_BLOB2,
  UEFI_VARIABLE_DATA,
  uefiImageLoadEvent,
} from "./_structures.ts";
import { derSize } from "./_certificate.ts";
import { asText, trimNuls } from "./_text.ts";
import { EFI_GUID, SIGNATURE_TYPE_NAMES } from "./efi_guid.ts";
import { EV } from "./event_type.ts";
import type { EventLog, LogEvent, SpecIdEvent } from "./types.ts";

/** One EFI_SIGNATURE_LIST of a signature database (db, dbx, KEK, PK, MokList). */
export interface EfiSignatureList {
  /** The signature type GUID. */
  signatureType: string;
  /** Its short name: `x509`, `sha256`, `sha1`, `rsa2048`, `x509-sha256`…; undefined for other types. */
  typeName?: string;
  /** The SignatureHeader (empty for every type UEFI defines). */
  header: Uint8Array;
  /** The entries: owner GUID and data (a DER certificate for x509, a digest for sha256). */
  signatures: { owner: string; data: Uint8Array }[];
}

/** A partition of the GPT that EV_EFI_GPT_EVENT measured. */
export interface EfiPartition {
  /** PartitionTypeGUID (e.g. c12a7328-f81f-11d2-ba4b-00a0c93ec93b for the EFI system partition). */
  typeGuid: string;
  /** UniquePartitionGUID. */
  uniqueGuid: string;
  /** First LBA. */
  startingLba: bigint;
  /** Last LBA (inclusive). */
  endingLba: bigint;
  /** Attribute bits. */
  attributes: bigint;
  /** The partition name. */
  name: string;
}

/** A UEFI variable measured by EV_EFI_VARIABLE_DRIVER_CONFIG, _BOOT, _BOOT2 or _AUTHORITY. */
export interface EfiVariableEvent {
  kind: "efi-variable";
  /** Vendor GUID of the variable. */
  guid: string;
  /** Variable name, e.g. `SecureBoot`, `db`, `Boot0001`. */
  name: string;
  /** Variable data. */
  data: Uint8Array;
  /** The signature lists of a signature database variable (PK, KEK, db, dbx, dbt, dbr, MokList…). */
  signatureLists?: EfiSignatureList[];
  /** The value of a one-byte boolean variable (SecureBoot, SetupMode, AuditMode, DeployedMode…). */
  bool?: boolean;
  /**
   * For EV_EFI_VARIABLE_AUTHORITY: the EFI_SIGNATURE_DATA (owner and certificate or digest) that authorized an
   * image. Absent when the data is a bare certificate, as shim before 15.3 logs it.
   */
  signature?: { owner: string; data: Uint8Array };
  /** The data of BootOrder: the boot option numbers. */
  bootOrder?: number[];
  /** The data of a Boot#### variable. */
  loadOption?: { attributes: number; description: string; devicePath: string; devicePathRaw: Uint8Array };
}

/** What an event's data says, by event type. `raw` when it does not decode (with the reason). */
export type DecodedEvent =
  | { kind: "spec-id"; specId: SpecIdEvent }
  | { kind: "startup-locality"; locality: number }
  /** Another EV_NO_ACTION event (SP800-155 Event3, NvIndexInstance…): its ASCII signature ("" if none) and data. */
  | { kind: "no-action"; signature: string; data: Uint8Array }
  | EfiVariableEvent
  | { kind: "efi-image"; imageLocation: bigint; imageLength: bigint; linkTimeAddress: bigint; devicePath: string; devicePathRaw: Uint8Array }
  | { kind: "efi-gpt"; diskGuid: string; partitions: EfiPartition[] }
  | { kind: "separator"; value: number; error: boolean }
  | { kind: "text"; text: string }
  | { kind: "firmware-blob"; base: bigint; length: bigint; description?: string }
  | { kind: "handoff-tables"; tables: { guid: string; table: bigint }[]; description?: string }
  | { kind: "tagged"; id: number; data: Uint8Array }
  | { kind: "raw"; reason?: string };

const SIGNATURE_DATABASES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [EFI_GUID.IMAGE_SECURITY_DATABASE, new Set(["db", "dbx", "dbt", "dbr"])],
  [EFI_GUID.GLOBAL_VARIABLE, new Set(["PK", "KEK", "PKDefault", "KEKDefault", "dbDefault", "dbxDefault", "dbtDefault", "dbrDefault"])],
  [EFI_GUID.SHIM_LOCK, new Set(["MokList", "MokListX", "MokListRT", "MokListXRT"])],
]);
const BOOLEANS: ReadonlySet<string> = new Set([
  "SecureBoot",
  "SetupMode",
  "AuditMode",
  "DeployedMode",
  "MokSBState",
  "MokListTrusted",
  "MokSBStateRT",
  "MokIgnoreDB",
]);

function latin1(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return trimNuls(s);
}

/** The signature lists of a signature database; throws a DecodeFault when they do not decode. */
function signatureLists(data: Uint8Array): EfiSignatureList[] {
  return decode(EFI_SIGNATURE_DATABASE, data).map((l) => ({
    signatureType: l.signatureType,
    typeName: SIGNATURE_TYPE_NAMES[l.signatureType],
    header: l.signatureHeader,
    signatures: l.signatures.map((s) => ({ owner: s.signatureOwner, data: s.signatureData })),
  }));
}

function tryDecode<T>(codec: Codec<T>, data: Uint8Array): T | undefined {
  try {
    return decode(codec, data);
  } catch {
    return undefined;
  }
}

function efiVariable(type: number, data: Uint8Array): EfiVariableEvent {
  // Trailing bytes are tolerated: shim before 15.3 logs one byte more than it measures (rhboot/shim#184).
  const v = decode(UEFI_VARIABLE_DATA, data, true);
  const name = trimNuls(v.unicodeName);
  const out: EfiVariableEvent = { kind: "efi-variable", guid: v.variableName, name, data: v.variableData };
  const vd = v.variableData;
  if (type === EV.EFI_VARIABLE_AUTHORITY) {
    // EFI_SIGNATURE_DATA (owner, then a certificate or a digest) as EDK2 logs it; shim before 15.3 logs the bare
    // certificate, and shim also logs SbatLevel (text) and MokListTrusted (a byte) as authorities.
    const entry = vd.subarray(16);
    if (vd.length > 16 && derSize(vd) !== vd.length && (derSize(entry) === entry.length || [20, 32, 48, 64].includes(entry.length))) {
      const s = decode(EFI_SIGNATURE_DATA, vd);
      out.signature = { owner: s.signatureOwner, data: s.signatureData };
    }
  } else if (SIGNATURE_DATABASES.get(v.variableName)?.has(name) && vd.length > 0) {
    try {
      out.signatureLists = signatureLists(vd);
    } catch {
      // a database that does not decode stays raw in `data`
    }
  }
  if (BOOLEANS.has(name) && vd.length === 1) out.bool = vd[0] !== 0;
  if (v.variableName === EFI_GUID.GLOBAL_VARIABLE) {
    if (name === "BootOrder" && vd.length % 2 === 0) {
      out.bootOrder = [];
      for (let i = 0; i < vd.length; i += 2) out.bootOrder.push(vd[i] | (vd[i + 1] << 8));
    } else if (/^Boot[0-9A-Fa-f]{4}$/.test(name)) {
      const o = tryDecode(EFI_LOAD_OPTION, vd);
      if (o)
        out.loadOption = {
          attributes: o.attributes,
          description: trimNuls(o.description),
          devicePath: devicePathToText(o.filePathList),
          devicePathRaw: o.filePathList,
        };
    }
  }
  return out;
}

function textOr(data: Uint8Array, otherwise: () => DecodedEvent): DecodedEvent {
  const text = asText(data);
  return text !== undefined ? { kind: "text", text } : otherwise();
}

function blob(data: Uint8Array): DecodedEvent {
  const b = decode(UEFI_PLATFORM_FIRMWARE_BLOB, data);
  return { kind: "firmware-blob", base: b.blobBase, length: b.blobLength };
}

function startsWithSignature(data: Uint8Array, sig: string): boolean {
  if (data.length < sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (data[i] !== sig.charCodeAt(i)) return false;
  return true;
}

function decodeUnsafe(e: LogEvent, log: EventLog | undefined): DecodedEvent {
  const data = e.data;
  switch (e.type) {
    case EV.NO_ACTION: {
      if (isSpecIdData(data)) return { kind: "spec-id", specId: decodeSpecId(data) };
      if (startsWithSignature(data, STARTUP_LOCALITY)) return { kind: "startup-locality", locality: decode(TCG_EfiStartupLocalityEvent, data).startupLocality };
      const nul = data.subarray(0, 16).indexOf(0);
      const signature = latin1(data.subarray(0, nul < 0 ? Math.min(16, data.length) : nul));
      return { kind: "no-action", signature: /^[\x20-\x7e]+$/.test(signature) ? signature : "", data };
    }
    case EV.SEPARATOR: {
      if (data.length !== 4) return { kind: "raw", reason: `a separator has ${data.length} bytes, not 4` };
      const value = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
      return { kind: "separator", value, error: value !== 0 };
    }
    case EV.EFI_VARIABLE_DRIVER_CONFIG:
    case EV.EFI_VARIABLE_BOOT:
    case EV.EFI_VARIABLE_BOOT2:
    case EV.EFI_VARIABLE_AUTHORITY:
      return efiVariable(e.type, data);
    case EV.EFI_BOOT_SERVICES_APPLICATION:
    case EV.EFI_BOOT_SERVICES_DRIVER:
    case EV.EFI_RUNTIME_SERVICES_DRIVER: {
      // Trailing bytes are tolerated (older shim logs a few bytes past the device path).
      const v = decode(uefiImageLoadEvent(log?.specId?.uintnSize === 1 ? 32 : 64), data, true);
      return {
        kind: "efi-image",
        imageLocation: v.imageLocationInMemory,
        imageLength: v.imageLengthInMemory,
        linkTimeAddress: v.imageLinkTimeAddress,
        devicePath: devicePathToText(v.devicePath),
        devicePathRaw: v.devicePath,
      };
    }
    case EV.EFI_GPT_EVENT: {
      const v = decode(UEFI_GPT_DATA, data);
      return {
        kind: "efi-gpt",
        diskGuid: v.uefiPartitionHeader.diskGuid,
        partitions: v.partitions.map((p) => ({
          typeGuid: p.partitionTypeGuid,
          uniqueGuid: p.uniquePartitionGuid,
          startingLba: p.startingLba,
          endingLba: p.endingLba,
          attributes: p.attributes,
          name: trimNuls(p.partitionName),
        })),
      };
    }
    case EV.EFI_PLATFORM_FIRMWARE_BLOB:
      return blob(data);
    case EV.EFI_PLATFORM_FIRMWARE_BLOB2: {
      const b = decode(UEFI_PLATFORM_FIRMWARE_BLOB2, data);
      return { kind: "firmware-blob", base: b.blobBase, length: b.blobLength, description: latin1(b.blobDescription) };
    }
    case EV.EFI_HANDOFF_TABLES: {
      const t = decode(UEFI_HANDOFF_TABLE_POINTERS, data);
      return { kind: "handoff-tables", tables: t.tableEntry.map((x) => ({ guid: x.vendorGuid, table: x.vendorTable })) };
    }
    case EV.EFI_HANDOFF_TABLES2: {
      const t = decode(UEFI_HANDOFF_TABLE_POINTERS2, data);
      return {
        kind: "handoff-tables",
        description: latin1(t.tableDescription),
        tables: t.tableEntry.map((x) => ({ guid: x.vendorGuid, table: x.vendorTable })),
      };
    }
    case EV.POST_CODE:
    case EV.S_CRTM_CONTENTS:
      // Either a string ("ACPI DATA", "Boot Guard Measured S-CRTM") or a UEFI_PLATFORM_FIRMWARE_BLOB.
      return textOr(data, () => (data.length === 16 ? blob(data) : { kind: "raw", reason: "neither text nor a firmware blob" }));
    case EV.EVENT_TAG: {
      const t = tryDecode(TCG_PCClientTaggedEvent, data);
      return t
        ? { kind: "tagged", id: t.taggedEventID, data: t.taggedEventData }
        : textOr(data, () => ({ kind: "raw", reason: "not a TCG_PCClientTaggedEvent" }));
    }
    default:
      // EV_EFI_ACTION, EV_ACTION, EV_IPL, EV_S_CRTM_VERSION, EV_PLATFORM_CONFIG_FLAGS, EV_NONHOST_INFO,
      // EV_OMIT_BOOT_DEVICE_EVENTS, EV_EFI_HCRTM_EVENT… carry strings when they carry anything readable.
      return textOr(data, () => ({ kind: "raw", reason: data.length === 0 ? "no data" : "not text" }));
  }
}

/**
 * Decodes an event's data according to its type. Never throws: data that does not decode as its type says
 * gives `{ kind: "raw", reason }`. Pass the log to decode 32-bit firmware's image events by its UINTN size.
 *
 * @example
 * ```ts
 * const d = decodeEvent(event);
 * if (d.kind === "efi-variable" && d.name === "SecureBoot") console.log(d.bool);
 * ```
 */
export function decodeEvent(e: LogEvent, log?: EventLog): DecodedEvent {
  try {
    return decodeUnsafe(e, log);
  } catch (err) {
    if (err instanceof DecodeFault) {
      return { kind: "raw", reason: `${err.field ? err.field + ": " : ""}${err.reason} at byte ${err.offset} of the event data` };
    }
    return { kind: "raw", reason: err instanceof Error ? err.message : String(err) };
  }
}
