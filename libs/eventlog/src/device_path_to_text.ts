/**
 * Device paths as text (private), after the UEFI 2.10 §10.6 text forms: `PciRoot(0x0)/Pci(0x1,0x1)/…`,
 * `HD(1,GPT,<guid>,0x800,0x100000)/\EFI\BOOT\BOOTX64.EFI`. Nodes are read with the EFI_DEVICE_PATH_PROTOCOL schema
 * one after another (no recursion); a node that does not decode ends the text with `?(<reason>)`.
 * @module
 */
import { type Codec, DecodeFault, decode, guid, reader, ucs2Units } from "./_codec.ts";
import { DP, EFI_DEVICE_PATH_PROTOCOL } from "./_structures.ts";
import { trimNuls } from "./_text.ts";

const MAX_NODES = 4096;

const hex = (v: number | bigint) => `0x${v.toString(16).toUpperCase()}`;
const hexBytes = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0").toUpperCase()).join("");

function d<T>(codec: Codec<T>, data: Uint8Array): T {
  return decode(codec, data, true);
}

function acpiText(hid: number, uid: number): string {
  if ((hid & 0xffff) === 0x41d0) {
    const id = (hid >>> 16).toString(16).toUpperCase().padStart(4, "0");
    if (id === "0A03") return `PciRoot(${hex(uid)})`;
    if (id === "0A08") return `PcieRoot(${hex(uid)})`;
    return `Acpi(PNP${id},${hex(uid)})`;
  }
  return `Acpi(${hex(hid)},${hex(uid)})`;
}

function nodeText(type: number, sub: number, data: Uint8Array): string {
  switch (type) {
    case 1:
      if (sub === 1) {
        const v = d(DP.PCI, data);
        return `Pci(${hex(v.device)},${hex(v.function)})`;
      }
      if (sub === 4) {
        const v = d(DP.VENDOR, data);
        return `VenHw(${v.guid}${v.data.length ? "," + hexBytes(v.data) : ""})`;
      }
      break;
    case 2:
      if (sub === 1) {
        const v = d(DP.ACPI, data);
        return acpiText(v.hid, v.uid);
      }
      break;
    case 3:
      switch (sub) {
        case 2: {
          const v = d(DP.SCSI, data);
          return `Scsi(${hex(v.pun)},${hex(v.lun)})`;
        }
        case 5: {
          const v = d(DP.USB, data);
          return `USB(${hex(v.parentPortNumber)},${hex(v.interfaceNumber)})`;
        }
        case 0x0a: {
          const v = d(DP.VENDOR, data);
          return `VenMsg(${v.guid}${v.data.length ? "," + hexBytes(v.data) : ""})`;
        }
        case 0x0b: {
          const v = d(DP.MAC, data);
          return `MAC(${hexBytes(v.macAddress.subarray(0, 6))},${hex(v.ifType)})`;
        }
        case 0x0c: {
          const v = d(DP.IPV4, data);
          return `IPv4(${v.remoteIpAddress.join(".")},${hex(v.protocol)},${v.staticIpAddress ? "Static" : "DHCP"},${v.localIpAddress.join(".")})`;
        }
        case 0x0d: {
          const v = d(DP.IPV6, data);
          const ip6 = (b: Uint8Array) => Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(":");
          return `IPv6(${ip6(v.remoteIpAddress)},${hex(v.protocol)},${v.ipAddressOrigin},${ip6(v.localIpAddress)})`;
        }
        case 0x12: {
          const v = d(DP.SATA, data);
          return `Sata(${hex(v.hbaPortNumber)},${hex(v.portMultiplierPortNumber)},${hex(v.lun)})`;
        }
        case 0x17: {
          const v = d(DP.NVME, data);
          return `NVMe(${hex(v.namespaceId)},${Array.from(v.eui64, (x) => x.toString(16).padStart(2, "0").toUpperCase()).join("-")})`;
        }
        case 0x18:
          return `Uri(${new TextDecoder().decode(data)})`;
      }
      break;
    case 4:
      switch (sub) {
        case 1: {
          const v = d(DP.HARDDRIVE, data);
          const sig =
            v.signatureType === 2
              ? decode(guid, v.signature)
              : v.signatureType === 1
                ? hex(new DataView(v.signature.buffer, v.signature.byteOffset, 16).getUint32(0, true))
                : "0";
          const kind = v.signatureType === 2 ? "GPT" : v.signatureType === 1 ? "MBR" : String(v.signatureType);
          return `HD(${v.partitionNumber},${kind},${sig},${hex(v.partitionStart)},${hex(v.partitionSize)})`;
        }
        case 2: {
          const v = d(DP.CDROM, data);
          return `CDROM(${hex(v.bootEntry)},${hex(v.partitionStart)},${hex(v.partitionSize)})`;
        }
        case 3: {
          const v = d(DP.VENDOR, data);
          return `VenMedia(${v.guid}${v.data.length ? "," + hexBytes(v.data) : ""})`;
        }
        case 4:
          return trimNuls(ucs2Units(data));
        case 5:
          return `Media(${d(DP.FV, data).guid})`;
        case 6:
          return `FvFile(${d(DP.FV, data).guid})`;
        case 7:
          return `Fv(${d(DP.FV, data).guid})`;
        case 8: {
          const v = d(DP.OFFSET, data);
          return `Offset(${hex(v.startingOffset)},${hex(v.endingOffset)})`;
        }
      }
      break;
    case 5:
      if (sub === 1) {
        const v = d(DP.BBS, data);
        const nul = v.string.indexOf(0);
        const text = String.fromCharCode(...v.string.subarray(0, Math.min(nul < 0 ? v.string.length : nul, 256)));
        return `BBS(${hex(v.deviceType)},${text})`;
      }
      break;
  }
  return `Path(${type},${sub},${hexBytes(data)})`;
}

/**
 * The text form of a device path (UEFI §10.6 style, best effort): nodes joined by `/`, instances by `,`,
 * stopping at the End Entire node. Never throws: a node that does not decode ends the text with `?(reason)`.
 *
 * @example
 * ```ts
 * devicePathToText(encodeFilePathDevicePath("\\EFI\\BOOT\\BOOTX64.EFI")); // "\\EFI\\BOOT\\BOOTX64.EFI"
 * ```
 */
export function devicePathToText(path: Uint8Array): string {
  const r = reader(path);
  let out = "";
  let sep = "";
  for (let n = 0; r.pos < r.end && n < MAX_NODES; n++) {
    let node: { type: number; subType: number; data: Uint8Array };
    try {
      node = EFI_DEVICE_PATH_PROTOCOL.read(r, {});
      if (node.type === 0x7f && node.subType === 0xff) return out;
      if (node.type === 0x7f && node.subType === 0x01) {
        out += ",";
        sep = "";
        continue;
      }
      out += sep + nodeText(node.type, node.subType, node.data);
    } catch (e) {
      if (e instanceof DecodeFault) return `${out}${sep}?(${e.reason} at byte ${e.offset})`;
      return `${out}${sep}?`;
    }
    sep = "/";
  }
  return out;
}
