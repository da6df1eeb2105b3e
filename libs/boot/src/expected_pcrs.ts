/**
 * The PCR values a host image boots to, computed without a TPM.
 * @module
 */
import { EV } from "@tessera/eventlog";
import { extendPcr, hashSize, TPM_ALG, type PcrBanks } from "@tessera/tpm2";
import type { HostImage } from "./host_image.ts";
import { BOOT_PCRS, bootEventDigest, measuredBootEvents, type MeasuredBootOptions } from "./measure.ts";

/**
 * The values of the boot PCRs (`BOOT_PCRS`: 0–9 and 14) after booting `manifest` from reset, in each of
 * `banks` (default SHA-256): what `bootHost` leaves in a fresh TPM, and what a verifier expects from a
 * host running this image.
 *
 * @example
 * ```ts
 * const golden = expectedPcrs(defaultHostImage({ pki }), [TPM_ALG.SHA256]);
 * comparePcrs(golden, quotedPcrs); // names the PCRs that differ
 * ```
 */
export function expectedPcrs(manifest: HostImage, banks: readonly number[] = [TPM_ALG.SHA256], options: MeasuredBootOptions = {}): PcrBanks {
  const out: PcrBanks = new Map();
  for (const alg of banks) out.set(alg, new Map(BOOT_PCRS.map((pcr) => [pcr, new Uint8Array(hashSize(alg))])));
  for (const e of measuredBootEvents(manifest, options)) {
    if (e.type === EV.NO_ACTION) continue;
    for (const [alg, values] of out) {
      values.set(e.pcr, extendPcr(alg, values.get(e.pcr) ?? new Uint8Array(hashSize(alg)), bootEventDigest(e, alg)));
    }
  }
  return out;
}
