/**
 * A new, empty crypto-agile log.
 * @module
 */
import { HASH_SIZE, TPM_ALG } from "@tessera/tpm2";
import { encodeSpecId } from "./_format.ts";
import { EventLogEncodeError } from "./errors.ts";
import { EV } from "./event_type.ts";
import type { EventLog, SpecIdEvent } from "./types.ts";

/**
 * A crypto-agile log holding only its header: the EV_NO_ACTION "Spec ID Event03" event for `algorithms`
 * (platform class 0, spec version 2.0.0, uintnSize 2, no vendor info), as firmware starts one.
 * Add events with {@link appendEvent}.
 *
 * @example
 * ```ts
 * const log = newCryptoAgileLog([TPM_ALG.SHA1, TPM_ALG.SHA256]);
 * appendEvent(log, 4, EV.EFI_ACTION, new TextEncoder().encode("Calling EFI Application from Boot Option"));
 * const bytes = writeEventLog(log);
 * ```
 * Throws {@link EventLogEncodeError} for an empty list, a repeated algorithm or one that is not a known hash.
 */
export function newCryptoAgileLog(algorithms: number[]): EventLog {
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw new EventLogEncodeError("TCG_EfiSpecIdEvent", "at least one algorithm is needed");
  if (new Set(algorithms).size !== algorithms.length) throw new EventLogEncodeError("TCG_EfiSpecIdEvent", "an algorithm is listed twice");
  const specId: SpecIdEvent = {
    platformClass: 0,
    specVersion: { major: 2, minor: 0, errata: 0 },
    uintnSize: 2,
    algorithms: algorithms.map((alg) => {
      const digestSize = HASH_SIZE[alg];
      if (digestSize === undefined) throw new EventLogEncodeError("TCG_EfiSpecIdEvent", `algorithm ${String(alg)} is not a known hash algorithm`);
      return { alg, digestSize };
    }),
    vendorInfo: new Uint8Array(0),
  };
  const data = encodeSpecId(specId);
  return {
    format: "crypto-agile",
    header: { index: 0, offset: 0, pcr: 0, type: EV.NO_ACTION, digests: new Map([[TPM_ALG.SHA1, new Uint8Array(20)]]), data },
    specId,
    events: [],
  };
}
