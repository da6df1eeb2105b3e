/**
 * Comparing replayed PCR values with quoted ones.
 * @module
 */
import { HASH_SIZE } from "@tessera/tpm2";
import { LAST_EVENT } from "./_replay_info.ts";
import type { PcrBanks } from "./types.ts";

/** The first PCR whose replayed value differs from the quoted one. */
export interface PcrMismatch {
  /** The bank (TPM_ALG_ID). */
  bank: number;
  /** The PCR index. */
  pcr: number;
  /** The quoted value. */
  expected: Uint8Array;
  /** The replayed value (the PCR's reset value when the log never extends it). */
  replayed: Uint8Array;
  /** The last event that extended this PCR in this bank, when `replayed` came from {@link replay}. */
  lastEvent?: number;
}

/** The value a PCR holds after TPM2_Startup(CLEAR) on a PC Client TPM: PCRs 17–22 all ones, the rest zeros. */
export function pcrResetValue(pcr: number, size: number): Uint8Array {
  return new Uint8Array(size).fill(pcr >= 17 && pcr <= 22 ? 0xff : 0);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Compares every quoted PCR (bank by bank, PCRs in ascending order) with the replayed value; a PCR the log
 * never touched is compared with its reset value. Replayed PCRs that were not quoted are ignored.
 *
 * @example
 * ```ts
 * const r = comparePcrs(replay(log), quotedPcrs);
 * if (!r.ok) console.log(`PCR ${r.firstMismatch!.pcr} differs; last event ${r.firstMismatch!.lastEvent}`);
 * ```
 */
export function comparePcrs(replayed: PcrBanks, quoted: PcrBanks): { ok: boolean; firstMismatch?: PcrMismatch } {
  for (const [bank, pcrs] of quoted) {
    for (const pcr of [...pcrs.keys()].sort((a, b) => a - b)) {
      const expected = pcrs.get(pcr)!;
      const value = replayed.get(bank)?.get(pcr) ?? pcrResetValue(pcr, HASH_SIZE[bank] ?? expected.length);
      if (!equal(value, expected)) {
        const lastEvent = LAST_EVENT.get(replayed)?.get(bank)?.get(pcr);
        return { ok: false, firstMismatch: { bank, pcr, expected, replayed: value, ...(lastEvent !== undefined ? { lastEvent } : {}) } };
      }
    }
  }
  return { ok: true };
}
