/**
 * The event-log and UEFI structures, declared once with their specification names and coded by `_codec.ts`.
 * Sources: TCG PC Client Platform Firmware Profile 1.05/1.06 (§10 event structures, §9.4 Spec ID event),
 * UEFI 2.10 (§3.1.3 EFI_LOAD_OPTION, §5.3 GPT, §10.3 device path nodes, §32.4 EFI_SIGNATURE_LIST).
 * @module
 */
import {
  ascii,
  bytes,
  bytesOf,
  type Codec,
  counted,
  countOf,
  dependent,
  guid,
  type Infer,
  lengthInt,
  listOf,
  listToEnd,
  region,
  rest,
  sized,
  struct,
  u16,
  u32,
  u32n,
  u64,
  u8,
  ucs2Of,
  ucs2z,
} from "./_codec.ts";

/** Upper bound of any single variable or blob inside event data (the event itself is bounded by maxEventSize). */
export const MAX_DATA = 0x7fffffff;

/** TCG_PCClientPCREvent: the SHA-1 event form, used by SHA-1 logs and by the first event of every log. */
export function tcgPcClientPcrEvent(maxEventSize: number) {
  return struct("TCG_PCClientPCREvent", {
    pcrIndex: u32,
    eventType: u32,
    digest: bytes("TCG_PCClientPCREvent.digest", 20),
    event: sized("event", u32, maxEventSize),
  });
}

/** TCG_DIGEST2 (TPMT_HA) with digest sizes from the Spec ID event. */
function tcgDigest2(sizes: ReadonlyMap<number, number>) {
  // One codec per declared algorithm, made once per log format rather than once per digest read.
  const digests = new Map([...sizes].map(([alg, size]) => [alg, bytes(`BYTE[${size}]`, size)]));
  return struct("TCG_DIGEST2", {
    hashAlg: u16,
    digest: dependent("digest", (s, fail) => {
      const codec = digests.get(s.hashAlg as number);
      if (codec === undefined) return fail(`algorithm 0x${(s.hashAlg as number).toString(16).padStart(4, "0")} is not in the Spec ID event`);
      return codec;
    }),
  });
}

/** TCG_PCR_EVENT2: the crypto-agile event form, with the digest sizes the Spec ID event declares. */
export function tcgPcrEvent2(sizes: ReadonlyMap<number, number>, maxEventSize: number) {
  return struct("TCG_PCR_EVENT2", {
    pcrIndex: u32,
    eventType: u32,
    digests: counted("TPML_DIGEST_VALUES", u32, tcgDigest2(sizes), sizes.size, "EVENTLOG_MALFORMED"),
    event: sized("event", u32, maxEventSize),
  });
}

/** A TCG_PCR_EVENT2 value. */
export type TcgPcrEvent2 = Infer<ReturnType<typeof tcgPcrEvent2>>;

/** TCG_EfiSpecIdEventAlgorithmSize. */
export const TCG_EfiSpecIdEventAlgorithmSize = struct("TCG_EfiSpecIdEventAlgorithmSize", { algorithmId: u16, digestSize: u16 });

/** TCG_EfiSpecIdEvent: the data of the first event of a crypto-agile log ("Spec ID Event03"). */
export const TCG_EfiSpecIdEvent = struct("TCG_EfiSpecIdEvent", {
  signature: ascii("signature", 16),
  platformClass: u32,
  specVersionMinor: u8,
  specVersionMajor: u8,
  specErrata: u8,
  uintnSize: u8,
  numberOfAlgorithms: countOf("digestSizes", u32),
  digestSizes: listOf("digestSizes", TCG_EfiSpecIdEventAlgorithmSize, "numberOfAlgorithms", 64),
  vendorInfoSize: countOf("vendorInfo", u8),
  vendorInfo: bytesOf("vendorInfo", "vendorInfoSize", 255),
});

/** The signature of TCG_EfiSpecIdEvent. */
export const SPEC_ID_EVENT03 = "Spec ID Event03\0";
/** The signature of the StartupLocality EV_NO_ACTION event. */
export const STARTUP_LOCALITY = "StartupLocality\0";

/** TCG_EfiStartupLocalityEvent. */
export const TCG_EfiStartupLocalityEvent = struct("TCG_EfiStartupLocalityEvent", {
  signature: ascii("signature", 16),
  startupLocality: u8,
});

/** UEFI_VARIABLE_DATA: what EV_EFI_VARIABLE_* events carry (lengths are UINT64). */
export const UEFI_VARIABLE_DATA = struct("UEFI_VARIABLE_DATA", {
  variableName: guid,
  unicodeNameLength: countOf("unicodeName", lengthInt(64)),
  variableDataLength: countOf("variableData", lengthInt(64)),
  unicodeName: ucs2Of("unicodeName", "unicodeNameLength", MAX_DATA / 2),
  variableData: bytesOf("variableData", "variableDataLength", MAX_DATA),
});

/** UEFI_IMAGE_LOAD_EVENT for 64-bit (uintnSize 2) or 32-bit (uintnSize 1) UINTN. */
export function uefiImageLoadEvent(bits: 32 | 64) {
  const uintn = bits === 64 ? u64 : u32n;
  return struct("UEFI_IMAGE_LOAD_EVENT", {
    imageLocationInMemory: u64,
    imageLengthInMemory: uintn,
    imageLinkTimeAddress: uintn,
    lengthOfDevicePath: countOf("devicePath", lengthInt(bits)),
    devicePath: bytesOf("devicePath", "lengthOfDevicePath", MAX_DATA),
  });
}

/** EFI_PARTITION_TABLE_HEADER as measured (its first 92 bytes). */
export const EFI_PARTITION_TABLE_HEADER = struct("EFI_PARTITION_TABLE_HEADER", {
  signature: ascii("signature", 8),
  revision: u32,
  headerSize: u32,
  headerCrc32: u32,
  reserved: u32,
  myLba: u64,
  alternateLba: u64,
  firstUsableLba: u64,
  lastUsableLba: u64,
  diskGuid: guid,
  partitionEntryLba: u64,
  numberOfPartitionEntries: u32,
  sizeOfPartitionEntry: u32,
  partitionEntryArrayCrc32: u32,
});

/** EFI_PARTITION_ENTRY of `size` bytes (128 in UEFI; larger entries carry reserved bytes). */
function efiPartitionEntry(size: number) {
  return struct("EFI_PARTITION_ENTRY", {
    partitionTypeGuid: guid,
    uniquePartitionGuid: guid,
    startingLba: u64,
    endingLba: u64,
    attributes: u64,
    partitionName: ucs2Of("partitionName", () => 36, 36),
    reserved: bytes("reserved", size - 128),
  });
}

/** UEFI_GPT_DATA: the data of EV_EFI_GPT_EVENT. */
export const UEFI_GPT_DATA = struct("UEFI_GPT_DATA", {
  uefiPartitionHeader: EFI_PARTITION_TABLE_HEADER,
  numberOfPartitions: countOf("partitions", lengthInt(64)),
  partitions: dependent("partitions", (s, fail) => {
    const header = s.uefiPartitionHeader as { sizeOfPartitionEntry: number };
    const size = header.sizeOfPartitionEntry;
    if (size < 128 || size > 4096) return fail(`SizeOfPartitionEntry ${size} is not in 128..4096`);
    return listOf("partitions", efiPartitionEntry(size), "numberOfPartitions", 4096);
  }),
});

/** EFI_SIGNATURE_DATA with `size` (the list's SignatureSize) bytes in all. */
function efiSignatureData(size: number) {
  return struct("EFI_SIGNATURE_DATA", { signatureOwner: guid, signatureData: bytes("signatureData", size - 16) });
}

/** EFI_SIGNATURE_LIST. */
export const EFI_SIGNATURE_LIST = struct("EFI_SIGNATURE_LIST", {
  signatureType: guid,
  signatureListSize: u32,
  signatureHeaderSize: u32,
  signatureSize: u32,
  signatureHeader: bytesOf("signatureHeader", "signatureHeaderSize", MAX_DATA),
  signatures: dependent("signatures", (s, fail) => {
    const listSize = s.signatureListSize as number;
    const headerSize = s.signatureHeaderSize as number;
    const size = s.signatureSize as number;
    const body = listSize - 28 - headerSize;
    if (body < 0) return fail(`SignatureListSize ${listSize} is smaller than its header`);
    if (size < 16) return fail(`SignatureSize ${size} is smaller than an owner GUID`);
    if (body % size !== 0) return fail(`${body} bytes of signatures are not a multiple of SignatureSize ${size}`);
    return region(
      "signatures",
      () => body,
      listOf("signatures", efiSignatureData(size), () => body / size, MAX_DATA),
      MAX_DATA,
    );
  }),
});

/** The EFI_SIGNATURE_LISTs that make up a signature database variable (db, dbx, KEK, PK, MokList). */
export const EFI_SIGNATURE_DATABASE = listToEnd("EFI_SIGNATURE_LIST[]", EFI_SIGNATURE_LIST, 100_000);

/** EFI_SIGNATURE_DATA as it stands alone in EV_EFI_VARIABLE_AUTHORITY data. */
export const EFI_SIGNATURE_DATA = struct("EFI_SIGNATURE_DATA", { signatureOwner: guid, signatureData: rest("signatureData", MAX_DATA) });

/** UEFI_PLATFORM_FIRMWARE_BLOB (also the EV_POST_CODE and EV_S_CRTM_CONTENTS blob form). */
export const UEFI_PLATFORM_FIRMWARE_BLOB = struct("UEFI_PLATFORM_FIRMWARE_BLOB", { blobBase: u64, blobLength: u64 });

/** UEFI_PLATFORM_FIRMWARE_BLOB2. */
export const UEFI_PLATFORM_FIRMWARE_BLOB2 = struct("UEFI_PLATFORM_FIRMWARE_BLOB2", {
  blobDescriptionSize: countOf("blobDescription", u8),
  blobDescription: bytesOf("blobDescription", "blobDescriptionSize", 255),
  blobBase: u64,
  blobLength: u64,
});

/** EFI_CONFIGURATION_TABLE. */
const EFI_CONFIGURATION_TABLE = struct("EFI_CONFIGURATION_TABLE", { vendorGuid: guid, vendorTable: u64 });

/** UEFI_HANDOFF_TABLE_POINTERS. */
export const UEFI_HANDOFF_TABLE_POINTERS = struct("UEFI_HANDOFF_TABLE_POINTERS", {
  numberOfTables: countOf("tableEntry", lengthInt(64)),
  tableEntry: listOf("tableEntry", EFI_CONFIGURATION_TABLE, "numberOfTables", 100_000),
});

/** UEFI_HANDOFF_TABLE_POINTERS2. */
export const UEFI_HANDOFF_TABLE_POINTERS2 = struct("UEFI_HANDOFF_TABLE_POINTERS2", {
  tableDescriptionSize: countOf("tableDescription", u8),
  tableDescription: bytesOf("tableDescription", "tableDescriptionSize", 255),
  numberOfTables: countOf("tableEntry", lengthInt(64)),
  tableEntry: listOf("tableEntry", EFI_CONFIGURATION_TABLE, "numberOfTables", 100_000),
});

/** EFI_DEVICE_PATH_PROTOCOL: one device path node (Length counts its 4-byte header). */
export const EFI_DEVICE_PATH_PROTOCOL = struct("EFI_DEVICE_PATH_PROTOCOL", {
  type: u8,
  subType: u8,
  length: countOf("data", u16, { adjust: 4 }),
  data: bytesOf("data", (s) => (s.length as number) - 4, 0xffff),
});

/** A device path: nodes up to the end of the bytes (rendering stops at the End Entire node). */
export const EFI_DEVICE_PATH = listToEnd("EFI_DEVICE_PATH", EFI_DEVICE_PATH_PROTOCOL, 4096);

/** EFI_LOAD_OPTION (the data of Boot#### variables). */
export const EFI_LOAD_OPTION = struct("EFI_LOAD_OPTION", {
  attributes: u32,
  filePathListLength: countOf("filePathList", u16),
  description: ucs2z("description", 4096),
  filePathList: bytesOf("filePathList", "filePathListLength", 0xffff),
  optionalData: rest("optionalData", MAX_DATA),
});

/** TCG_PCClientTaggedEvent (EV_EVENT_TAG data). */
export const TCG_PCClientTaggedEvent = struct("TCG_PCClientTaggedEvent", {
  taggedEventID: u32,
  taggedEventDataSize: countOf("taggedEventData", u32),
  taggedEventData: bytesOf("taggedEventData", "taggedEventDataSize", MAX_DATA),
});

/** Device path node payloads (UEFI 2.10 §10.3). */
export const DP = {
  PCI: struct("PCI_DEVICE_PATH", { function: u8, device: u8 }),
  ACPI: struct("ACPI_HID_DEVICE_PATH", { hid: u32, uid: u32 }),
  HARDDRIVE: struct("HARDDRIVE_DEVICE_PATH", {
    partitionNumber: u32,
    partitionStart: u64,
    partitionSize: u64,
    signature: bytes("signature", 16),
    mbrType: u8,
    signatureType: u8,
  }),
  CDROM: struct("CDROM_DEVICE_PATH", { bootEntry: u32, partitionStart: u64, partitionSize: u64 }),
  SCSI: struct("SCSI_DEVICE_PATH", { pun: u16, lun: u16 }),
  USB: struct("USB_DEVICE_PATH", { parentPortNumber: u8, interfaceNumber: u8 }),
  SATA: struct("SATA_DEVICE_PATH", { hbaPortNumber: u16, portMultiplierPortNumber: u16, lun: u16 }),
  NVME: struct("NVME_NAMESPACE_DEVICE_PATH", { namespaceId: u32, eui64: bytes("eui64", 8) }),
  VENDOR: struct("VENDOR_DEVICE_PATH", { guid, data: rest("data", 0xffff) }),
  FV: struct("MEDIA_FW_VOL_DEVICE_PATH", { guid }),
  OFFSET: struct("MEDIA_RELATIVE_OFFSET_RANGE_DEVICE_PATH", { reserved: u32, startingOffset: u64, endingOffset: u64 }),
  MAC: struct("MAC_ADDR_DEVICE_PATH", { macAddress: bytes("macAddress", 32), ifType: u8 }),
  IPV4: struct("IPv4_DEVICE_PATH", {
    localIpAddress: bytes("localIpAddress", 4),
    remoteIpAddress: bytes("remoteIpAddress", 4),
    localPort: u16,
    remotePort: u16,
    protocol: u16,
    staticIpAddress: u8,
    gatewayIpAddress: bytes("gatewayIpAddress", 4),
    subnetMask: bytes("subnetMask", 4),
  }),
  IPV6: struct("IPv6_DEVICE_PATH", {
    localIpAddress: bytes("localIpAddress", 16),
    remoteIpAddress: bytes("remoteIpAddress", 16),
    localPort: u16,
    remotePort: u16,
    protocol: u16,
    ipAddressOrigin: u8,
    prefixLength: u8,
    gatewayIpAddress: bytes("gatewayIpAddress", 16),
  }),
  BBS: struct("BBS_BBS_DEVICE_PATH", { deviceType: u16, statusFlag: u16, string: rest("string", 0xffff) }),
} satisfies Record<string, Codec<unknown>>;
