/**
 * The host image manifest: what a known-good host boots (firmware, Secure Boot databases, boot chain, kernel
 * command line, initrd, software version), as JSON. The model lives in @tessera/host-image (below both this
 * simulator and the appraisal); this module keeps the simulator's API, reporting a bad manifest as a
 * {@link BootError} `BOOT_MANIFEST`.
 * @module
 */
import { HostImageError, parseManifest, validateManifest, type HostImage } from "@tessera/host-image";
import { BootError } from "./errors.ts";

export {
  BOOT_IMAGE_KINDS,
  type BootImage,
  type BootImageKind,
  type FirmwareBlob,
  type HostFirmware,
  type HostImage,
  type SecureBootConfig,
} from "@tessera/host-image";

function asBootError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HostImageError) throw new BootError("BOOT_MANIFEST", e.message, { field: e.field, cause: e.cause });
    throw e;
  }
}

/**
 * Checks an untrusted value (parsed JSON) against the manifest schema and returns a normalized copy
 * (hex in lower case). Unknown fields are refused, so typos do not pass silently.
 *
 * @example
 * ```ts
 * const manifest = validateHostImage(JSON.parse(await readFile("host-image.json", "utf8")));
 * ```
 * @throws BootError `BOOT_MANIFEST` naming the field: `manifest.bootChain[2].path: missing`.
 */
export function validateHostImage(value: unknown): HostImage {
  return asBootError(() => validateManifest(value));
}

/**
 * Parses and validates a manifest from JSON text.
 * @throws BootError `BOOT_MANIFEST` (field `manifest`) when the text is not JSON, else as {@link validateHostImage}.
 */
export function parseHostImage(json: string): HostImage {
  return asBootError(() => parseManifest(json));
}
