/**
 * Small UEFI encodings the event-log library does not need to parse: UCS-2 strings, GUIDs,
 * EFI_LOAD_OPTION, UEFI_PLATFORM_FIRMWARE_BLOB2, EFI_SIGNATURE_DATA.
 * @module
 */
import { concat } from "@tessera/tpm2";

const ASCII = new TextEncoder();

/** UTF-8 bytes of a string (ASCII for the strings firmware and grub measure). */
export function utf8(s: string): Uint8Array {
  return ASCII.encode(s);
}

/** A NUL-terminated UCS-2 (UTF-16LE) string, as CHAR16 strings are stored. */
export function ucs2z(s: string): Uint8Array {
  const out = new Uint8Array((s.length + 1) * 2);
  const v = new DataView(out.buffer);
  for (let i = 0; i < s.length; i++) v.setUint16(i * 2, s.charCodeAt(i), true);
  return out;
}

/** The 16 bytes of an EFI_GUID (`8be4df61-93ca-11d2-aa0d-00e098032b8c`): the first three fields little-endian. */
export function guidBytes(guid: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new TypeError(`${JSON.stringify(guid)} is not a GUID`);
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint32(0, parseInt(m[1], 16), true);
  v.setUint16(4, parseInt(m[2], 16), true);
  v.setUint16(6, parseInt(m[3], 16), true);
  const tail = m[4] + m[5];
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(tail.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** EFI_SIGNATURE_DATA: SignatureOwner GUID, then the signature (here a DER certificate). */
export function signatureData(owner: string, der: Uint8Array): Uint8Array {
  return concat(guidBytes(owner), der);
}

/** UEFI_PLATFORM_FIRMWARE_BLOB2: UINT8 description size, description, UINT64 base, UINT64 length. */
export function firmwareBlob2(description: string, base: bigint, length: bigint): Uint8Array {
  const d = utf8(description);
  if (d.length > 255) throw new RangeError(`firmware blob description is ${d.length} bytes, at most 255`);
  const out = new Uint8Array(1 + d.length + 16);
  out[0] = d.length;
  out.set(d, 1);
  const v = new DataView(out.buffer);
  v.setBigUint64(1 + d.length, base, true);
  v.setBigUint64(9 + d.length, length, true);
  return out;
}

/** LOAD_OPTION_ACTIVE. */
const LOAD_OPTION_ACTIVE = 0x00000001;

/** EFI_LOAD_OPTION (a Boot#### variable): Attributes, FilePathListLength, Description, FilePathList. */
export function loadOption(description: string, devicePath: Uint8Array): Uint8Array {
  const desc = ucs2z(description);
  const out = new Uint8Array(6 + desc.length + devicePath.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, LOAD_OPTION_ACTIVE, true);
  v.setUint16(4, devicePath.length, true);
  out.set(desc, 6);
  out.set(devicePath, 6 + desc.length);
  return out;
}

/** A UINT16 array, little-endian (BootOrder). */
export function u16le(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint16(i * 2, x, true));
  return out;
}
