/**
 * Replaying a log into PCR values.
 * @module
 */
import { HASH_SIZE } from "@tessera/tpm2";
import { extend } from "./_digest.ts";
import { STARTUP_LOCALITY } from "./_structures.ts";
import { logBanks } from "./_log.ts";
import { LAST_EVENT } from "./_replay_info.ts";
import { EV } from "./event_type.ts";
import type { EventLog, LogEvent, PcrBanks } from "./types.ts";

/** The locality of a StartupLocality EV_NO_ACTION event, or undefined for any other event. */
function startupLocality(e: LogEvent): number | undefined {
  if (e.type !== EV.NO_ACTION || e.pcr !== 0 || e.data.length !== 17) return undefined;
  for (let i = 0; i < 16; i++) if (e.data[i] !== STARTUP_LOCALITY.charCodeAt(i)) return undefined;
  return e.data[16];
}

/** Options of {@link replay}. */
export interface ReplayOptions {
  /** Replay only these banks (TPM_ALG_IDs), e.g. the ones a quote covers; default every bank the log carries. */
  readonly banks?: readonly number[];
}

/**
 * Replays the log: for every bank the log carries (and this library can hash) and every PCR an event extends,
 * PCR := H(PCR ‖ digest) from the reset value, in log order. EV_NO_ACTION events are not extended; a
 * StartupLocality event sets PCR 0's reset value to 0…0 ‖ locality (3, or 4 after an H-CRTM) in every bank.
 * The result holds only the PCRs the log touches. In a SHA-1 log the first (header) event is a measurement too.
 * With `options.banks`, the other banks are not computed (a bank the log lacks stays absent).
 *
 * @example
 * ```ts
 * const pcrs = replay(parseEventLog(bytes));
 * toHex(pcrs.get(TPM_ALG.SHA256)!.get(7)!);
 * ```
 */
export function replay(log: EventLog, options: ReplayOptions = {}): PcrBanks {
  const only = options.banks;
  const banks = logBanks(log).filter((alg) => HASH_SIZE[alg] !== undefined && (only === undefined || only.includes(alg)));
  const out: PcrBanks = new Map(banks.map((alg) => [alg, new Map<number, Uint8Array>()]));
  const last = new Map(banks.map((alg) => [alg, new Map<number, number>()]));
  for (const e of [log.header, ...log.events]) {
    if (e.type === EV.NO_ACTION) {
      const locality = startupLocality(e);
      if (locality === undefined) continue;
      for (const alg of banks) {
        const pcrs = out.get(alg)!;
        if (pcrs.has(0)) continue;
        const v = new Uint8Array(HASH_SIZE[alg]);
        v[v.length - 1] = locality;
        pcrs.set(0, v);
      }
      continue;
    }
    for (const [alg, digest] of e.digests) {
      const pcrs = out.get(alg);
      if (!pcrs) continue;
      pcrs.set(e.pcr, extend(alg, pcrs.get(e.pcr) ?? new Uint8Array(HASH_SIZE[alg]), digest));
      last.get(alg)!.set(e.pcr, e.index);
    }
  }
  for (const [alg, pcrs] of out) if (pcrs.size === 0) out.delete(alg);
  LAST_EVENT.set(out, last);
  return out;
}
