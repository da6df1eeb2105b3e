/**
 * The measured-boot simulator: plays the firmware's part on a TPM that has no firmware in front of it
 * (swtpm dev hosts), extending its PCRs and writing the TCG event log.
 * @module
 */
import { appendEvent, EV, newCryptoAgileLog, writeEventLog } from "@tessera/eventlog";
import { algName, HASH_SIZE, pcrSelection, selectedPcrs, toHex } from "@tessera/tpm2";
import type { Tpm } from "@tessera/tss";
import { BootError } from "./errors.ts";
import { validateHostImage, type HostImage } from "./host_image.ts";
import { BOOT_PCRS, bootEventDigest, measuredBootEvents } from "./measure.ts";
import { tamperLog, withExtraApplication, withKernel, withSecureBootOff } from "./variants.ts";

/** A deviation from the manifest, for tests of what attestation catches. */
export type BootVariant =
  /** Boot another kernel (see `withKernel`). */
  | { readonly kind: "kernel"; readonly sha256: string }
  /** Boot with Secure Boot off (see `withSecureBootOff`). */
  | { readonly kind: "secure-boot-off" }
  /** Load an extra, unknown boot application (see `withExtraApplication`). */
  | { readonly kind: "extra-application"; readonly path: string; readonly sha256: string }
  /** Edit an event of the written log after the PCRs were extended (see `tamperLog`). */
  | { readonly kind: "tamper-log"; readonly eventIndex: number; readonly data?: Uint8Array; readonly rehash?: boolean };

/** Options of {@link bootHost}. */
export interface BootHostOptions {
  /** Boot a variant of the manifest, or tamper with the log afterwards. */
  readonly variant?: BootVariant;
  /** Extend even when the boot PCRs are not at their reset value (the log then does not replay to the TPM). */
  readonly allowNonResetPcrs?: boolean;
  /** Log the EV_NO_ACTION StartupLocality event (locality 0). */
  readonly logStartupLocality?: boolean;
}

/** The result of {@link bootHost}. */
export interface BootHostResult {
  /** The TCG event log (crypto-agile), as `/sys/kernel/security/tpm0/binary_bios_measurements` holds it. */
  readonly log: Uint8Array;
  /** How many events were measured (the Spec ID header not counted). */
  readonly events: number;
  /** The banks measured: the TPM's active banks, ascending TPM_ALG_IDs (SHA-1 4, SHA-256 11, …). */
  readonly banks: number[];
}

function applyVariant(manifest: HostImage, variant: BootVariant | undefined): HostImage {
  switch (variant?.kind) {
    case "kernel":
      return withKernel(manifest, variant.sha256);
    case "secure-boot-off":
      return withSecureBootOff(manifest);
    case "extra-application":
      return withExtraApplication(manifest, variant.path, variant.sha256);
    default:
      return manifest;
  }
}

/**
 * Boots `manifest` on `tpm` as firmware would: reads the TPM's active PCR banks, checks that the boot PCRs
 * (0–9 and 14) are at their reset value, then for each event of `measuredBootEvents` appends it to a
 * crypto-agile log carrying every active bank (SHA-256, and SHA-1 when active) and extends the PCR with the
 * same digests (EV_NO_ACTION events are logged only). Returns the written log.
 *
 * @example
 * ```ts
 * const tpm = Tpm.open(sw.tcti);
 * const { log } = await bootHost(tpm, defaultHostImage({ pki }));
 * comparePcrs(replay(parseEventLog(log)), await tpm.pcrRead(…)); // ok
 * ```
 * @throws BootError `BOOT_MANIFEST` for a bad manifest; `BOOT_PCRS_NOT_RESET` when a boot PCR was already
 *   extended since the TPM's last reset (a second boot would make the log lie) unless `allowNonResetPcrs`;
 *   `BOOT_TPM_BANKS` when no active bank has a hash the simulator knows. TPM errors pass through.
 */
export async function bootHost(tpm: Tpm, manifest: HostImage, options: BootHostOptions = {}): Promise<BootHostResult> {
  const image = applyVariant(validateHostImage(manifest), options.variant);
  const active = (await tpm.pcrBanks()).filter((s) => selectedPcrs(s).length > 0);
  const banks = active
    .map((s) => s.hash)
    .filter((alg) => HASH_SIZE[alg] !== undefined)
    .sort((a, b) => a - b);
  if (banks.length === 0) {
    throw new BootError(
      "BOOT_TPM_BANKS",
      `The TPM has no active PCR bank with a known hash (active: ${active.map((s) => algName(s.hash)).join(", ") || "none"})`,
    );
  }
  if (!options.allowNonResetPcrs) {
    const values = await tpm.pcrRead(banks.map((alg) => pcrSelection(alg, [...BOOT_PCRS])));
    for (const alg of banks) {
      for (const pcr of BOOT_PCRS) {
        const v = values.get(alg)?.get(pcr);
        if (v !== undefined && v.some((b) => b !== 0)) {
          throw new BootError(
            "BOOT_PCRS_NOT_RESET",
            `PCR ${algName(alg)}:${pcr} is ${toHex(v)}, not its reset value: the TPM was not restarted since PCRs were last extended, so a boot log would not replay to it (restart the TPM, or pass allowNonResetPcrs)`,
          );
        }
      }
    }
  }
  const log = newCryptoAgileLog(banks);
  const events = measuredBootEvents(image, { logStartupLocality: options.logStartupLocality });
  for (const e of events) {
    const digests = new Map(banks.map((alg) => [alg, bootEventDigest(e, alg)]));
    appendEvent(log, e.pcr, e.type, e.data, digests);
    if (e.type !== EV.NO_ACTION)
      await tpm.pcrExtend(
        e.pcr,
        banks.map((alg) => ({ hashAlg: alg, digest: digests.get(alg) ?? new Uint8Array(0) })),
      );
  }
  let bytes = writeEventLog(log);
  const v = options.variant;
  if (v?.kind === "tamper-log") bytes = tamperLog(bytes, v.eventIndex, { data: v.data, rehash: v.rehash });
  return { log: bytes, events: events.length, banks };
}
