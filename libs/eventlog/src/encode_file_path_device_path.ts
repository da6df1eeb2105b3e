/**
 * A media file-path device path.
 * @module
 */
import { encode, ucs2Bytes } from "./_codec.ts";
import { EFI_DEVICE_PATH } from "./_structures.ts";
import { EventLogEncodeError } from "./errors.ts";

/**
 * A device path of one media file-path node (type 4, subtype 4: the path in UCS-2 with its terminator) and the
 * End Entire node. `/` in `path` becomes `\`, UEFI's separator.
 *
 * @example
 * ```ts
 * devicePathToText(encodeFilePathDevicePath("\\EFI\\BOOT\\BOOTX64.EFI")); // "\\EFI\\BOOT\\BOOTX64.EFI"
 * ```
 * Throws EventLogEncodeError when the node would exceed 65 535 bytes or the path holds a NUL.
 */
export function encodeFilePathDevicePath(path: string): Uint8Array {
  if (path.includes("\0")) throw new EventLogEncodeError("FILEPATH_DEVICE_PATH", "the path holds a NUL");
  const data = ucs2Bytes(path.replace(/\//g, "\\") + "\0");
  if (data.length + 4 > 0xffff) throw new EventLogEncodeError("FILEPATH_DEVICE_PATH", "the path is too long for one node");
  return encode(EFI_DEVICE_PATH, [
    { type: 4, subType: 4, data },
    { type: 0x7f, subType: 0xff, data: new Uint8Array(0) },
  ]);
}
