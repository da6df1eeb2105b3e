/**
 * UEFI_IMAGE_LOAD_EVENT for EV_EFI_BOOT_SERVICES_APPLICATION / _DRIVER and EV_EFI_RUNTIME_SERVICES_DRIVER.
 * @module
 */
import { encode } from "./_codec.ts";
import { uefiImageLoadEvent } from "./_structures.ts";

const UEFI_IMAGE_LOAD_EVENT = uefiImageLoadEvent(64);

/**
 * The UEFI_IMAGE_LOAD_EVENT (64-bit UINTN) firmware logs when it measures a PE image: where it was loaded, its
 * length, its link-time address and the device path it came from (see {@link encodeFilePathDevicePath}).
 * The event's digest is the image's Authenticode hash, not a hash of this data.
 */
export function encodeEfiImageLoadEvent(options: { location: bigint; length: bigint; linkTimeAddress?: bigint; devicePath: Uint8Array }): Uint8Array {
  return encode(UEFI_IMAGE_LOAD_EVENT, {
    imageLocationInMemory: options.location,
    imageLengthInMemory: options.length,
    imageLinkTimeAddress: options.linkTimeAddress ?? 0n,
    devicePath: options.devicePath,
  });
}
