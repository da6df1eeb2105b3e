/**
 * Event types of the TCG PC Client Platform Firmware Profile (§10.4.1), and their names.
 * @module
 */

/** Event types (TCG PFP 1.06 §10.4.1), with the common `EV_` prefix dropped: `EV.SEPARATOR` is `EV_SEPARATOR`. */
export const EV = {
  PREBOOT_CERT: 0,
  POST_CODE: 1,
  UNUSED: 2,
  NO_ACTION: 3,
  SEPARATOR: 4,
  ACTION: 5,
  EVENT_TAG: 6,
  S_CRTM_CONTENTS: 7,
  S_CRTM_VERSION: 8,
  CPU_MICROCODE: 9,
  PLATFORM_CONFIG_FLAGS: 0xa,
  TABLE_OF_DEVICES: 0xb,
  COMPACT_HASH: 0xc,
  IPL: 0xd,
  IPL_PARTITION_DATA: 0xe,
  NONHOST_CODE: 0xf,
  NONHOST_CONFIG: 0x10,
  NONHOST_INFO: 0x11,
  OMIT_BOOT_DEVICE_EVENTS: 0x12,
  EFI_EVENT_BASE: 0x80000000,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EFI_VARIABLE_BOOT: 0x80000002,
  EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EFI_BOOT_SERVICES_DRIVER: 0x80000004,
  EFI_RUNTIME_SERVICES_DRIVER: 0x80000005,
  EFI_GPT_EVENT: 0x80000006,
  EFI_ACTION: 0x80000007,
  EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EFI_HANDOFF_TABLES: 0x80000009,
  EFI_PLATFORM_FIRMWARE_BLOB2: 0x8000000a,
  EFI_HANDOFF_TABLES2: 0x8000000b,
  EFI_VARIABLE_BOOT2: 0x8000000c,
  EFI_HCRTM_EVENT: 0x80000010,
  EFI_VARIABLE_AUTHORITY: 0x800000e0,
  EFI_SPDM_FIRMWARE_BLOB: 0x800000e1,
  EFI_SPDM_FIRMWARE_CONFIG: 0x800000e2,
} as const;

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(EV).map(([k, v]) => [v, `EV_${k}`]));

/**
 * The specification's name of an event type, e.g. `EV_EFI_VARIABLE_DRIVER_CONFIG` for 0x80000001; unknown types
 * are named by value (`EV_UNKNOWN_0x80000042`).
 */
export function eventTypeName(type: number): string {
  return NAMES.get(type) ?? `EV_UNKNOWN_0x${(type >>> 0).toString(16).padStart(8, "0")}`;
}
