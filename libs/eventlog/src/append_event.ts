/**
 * Appending a measurement to a log (for simulators and tests).
 * @module
 */
import { hash, HASH_SIZE } from "@tessera/tpm2";
import { bankDigestSize, encodedSize, logBanks } from "./_log.ts";
import { EventLogEncodeError } from "./errors.ts";
import { EV } from "./event_type.ts";
import type { EventLog, LogEvent } from "./types.ts";

/**
 * Appends an event to `log` and returns it. Without `digests`, each bank of the log gets the hash of `data`
 * (what firmware does for events whose data is what was measured) and EV_NO_ACTION events get zero digests.
 * With `digests` (e.g. the hash of a PE image whose Authenticode digest is measured), they must use the log's
 * banks and sizes. `index` and `offset` are set as {@link parseEventLog} would set them on the written log.
 *
 * Throws {@link EventLogEncodeError} for a PCR outside 0…2^32-1, a bank the log does not have, or a digest of
 * the wrong size.
 */
export function appendEvent(log: EventLog, pcr: number, type: number, data: Uint8Array, digests?: Map<number, Uint8Array>): LogEvent {
  if (!Number.isInteger(pcr) || pcr < 0 || pcr > 0xffffffff) throw new EventLogEncodeError("LogEvent", `PCR ${String(pcr)} is out of range`);
  if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) throw new EventLogEncodeError("LogEvent", `event type ${String(type)} is out of range`);
  if (!(data instanceof Uint8Array)) throw new EventLogEncodeError("LogEvent", "data is not a Uint8Array");
  const banks = logBanks(log);
  let d: Map<number, Uint8Array>;
  if (digests) {
    d = new Map();
    for (const [alg, v] of digests) {
      const size = bankDigestSize(log, alg);
      if (size === undefined) throw new EventLogEncodeError("LogEvent", `the log has no bank 0x${alg.toString(16).padStart(4, "0")}`);
      if (!(v instanceof Uint8Array) || v.length !== size)
        throw new EventLogEncodeError("LogEvent", `the 0x${alg.toString(16).padStart(4, "0")} digest must be ${size} bytes`);
      d.set(alg, new Uint8Array(v));
    }
  } else {
    d = new Map(
      banks.map((alg) => {
        if (type === EV.NO_ACTION) return [alg, new Uint8Array(bankDigestSize(log, alg) ?? 0)];
        if (HASH_SIZE[alg] === undefined)
          throw new EventLogEncodeError("LogEvent", `cannot compute a 0x${alg.toString(16).padStart(4, "0")} digest: give digests`);
        return [alg, hash(alg, data)];
      }),
    );
  }
  const last = log.events.length > 0 ? log.events[log.events.length - 1] : log.header;
  const event: LogEvent = { index: last.index + 1, offset: last.offset + encodedSize(log, last), pcr, type, digests: d, data: new Uint8Array(data) };
  log.events.push(event);
  return event;
}
