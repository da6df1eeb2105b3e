/**
 * Variants of a host image and of a written log, for testing what attestation catches: another kernel,
 * Secure Boot off, an unknown boot application, a log edited after the fact.
 * @module
 */
import { parseEventLog, writeEventLog } from "@tessera/eventlog";
import { hash } from "@tessera/tpm2";
import { BootError } from "./errors.ts";
import { validateHostImage, type HostImage } from "./host_image.ts";

/**
 * The manifest with another kernel: same path, image digest `sha256` (hex). Everything that measures the
 * kernel changes: its PCR 4 image event and grub's PCR 9 file event.
 * @throws BootError `BOOT_MANIFEST` when `sha256` is not 64 hex digits.
 */
export function withKernel(manifest: HostImage, sha256: string): HostImage {
  return validateHostImage({ ...manifest, bootChain: manifest.bootChain.map((b) => (b.kind === "kernel" ? { ...b, sha256 } : b)) });
}

/** The manifest with the `SecureBoot` variable 0 (the databases stay as they are): PCR 7 changes, no authority events. */
export function withSecureBootOff(manifest: HostImage): HostImage {
  return validateHostImage({ ...manifest, secureBoot: { ...manifest.secureBoot, enabled: false } });
}

/**
 * The manifest with an extra boot application (`path` like `\EFI\tools\shellx64.efi`, digest `sha256`) loaded
 * just before the kernel, verified by `signedBy` (default: the first db certificate) — so one more
 * EV_EFI_BOOT_SERVICES_APPLICATION lands in PCR 4.
 * @throws BootError `BOOT_MANIFEST` for a bad path, digest or signer.
 */
export function withExtraApplication(manifest: HostImage, path: string, sha256: string, signedBy?: string): HostImage {
  const chain = [...manifest.bootChain];
  const at = chain.findIndex((b) => b.kind === "kernel");
  chain.splice(at < 0 ? chain.length : at, 0, signedBy === undefined ? { kind: "application", path, sha256 } : { kind: "application", path, sha256, signedBy });
  return validateHostImage({ ...manifest, bootChain: chain });
}

/** Options of {@link tamperLog}. */
export interface TamperLogOptions {
  /** The new event data (default: the old data with the lowest bit of its last byte flipped, so it keeps its size). */
  readonly data?: Uint8Array;
  /**
   * Also replace the event's digests with the hashes of the new data in every bank (default false). Without it
   * the digests stay, so the log still replays to the TPM but an event's data no longer matches its digest;
   * with it the data and digest agree but the log no longer replays to the TPM.
   */
  readonly rehash?: boolean;
}

/**
 * Edits event `eventIndex` of a written log after the fact (index as `parseEventLog` numbers events: 0 is the
 * Spec ID header, measurements start at 1) and writes the log again. By default the digests are kept: the PCRs
 * still replay, but `checkEventDigests` reports the event, for types whose digest is defined by their data.
 * @throws BootError `BOOT_LOG` when there is no such event or it has no data to flip; EventLogError for a
 *   log that does not parse.
 */
export function tamperLog(logBytes: Uint8Array, eventIndex: number, options: TamperLogOptions = {}): Uint8Array {
  const log = parseEventLog(logBytes);
  const event = log.events.find((e) => e.index === eventIndex);
  if (event === undefined) {
    throw new BootError("BOOT_LOG", `The log has no event ${eventIndex}: its measurements are events 1 to ${log.events.length}`);
  }
  let data = options.data;
  if (data === undefined) {
    if (event.data.length === 0) throw new BootError("BOOT_LOG", `Event ${eventIndex} has no data to alter: give options.data`);
    data = new Uint8Array(event.data);
    data[data.length - 1] ^= 0x01;
  }
  event.data = new Uint8Array(data);
  if (options.rehash) for (const alg of event.digests.keys()) event.digests.set(alg, hash(alg, event.data));
  return writeEventLog(log);
}
