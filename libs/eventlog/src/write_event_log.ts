/**
 * Writing event logs.
 * @module
 */
import { TPM_ALG } from "@tessera/tpm2";
import { type Codec, writer, written } from "./_codec.ts";
import { cached, digestSizes } from "./_format.ts";
import { MAX_DATA, tcgPcClientPcrEvent, tcgPcrEvent2, type TcgPcrEvent2 } from "./_structures.ts";
import { EventLogEncodeError } from "./errors.ts";
import type { EventLog, LogEvent } from "./types.ts";

const ZERO20 = new Uint8Array(20);

/**
 * Writes an event log in its binary form: the header (always TCG_PCClientPCREvent), then every event as
 * TCG_PCClientPCREvent (`sha1`) or TCG_PCR_EVENT2 (`crypto-agile`, digests in the order of each event's map).
 * `writeEventLog(parseEventLog(bytes))` gives back `bytes`.
 *
 * Throws {@link EventLogEncodeError} when an event does not fit: a digest of the wrong size, an algorithm the
 * Spec ID event does not declare, a crypto-agile log without `specId`.
 */
export function writeEventLog(log: EventLog): Uint8Array {
  const w = writer(4096);
  const sha1Form = cached(`sha1:${MAX_DATA}`, () => tcgPcClientPcrEvent(MAX_DATA));
  const writeSha1 = (e: LogEvent, name: string) => {
    try {
      sha1Form.write(w, { pcrIndex: e.pcr, eventType: e.type, digest: e.digests.get(TPM_ALG.SHA1) ?? ZERO20, event: e.data }, {});
    } catch (err) {
      if (err instanceof EventLogEncodeError) err.within(name, `[${e.index}]`);
      throw err;
    }
  };
  writeSha1(log.header, "header");
  if (log.format === "sha1") {
    for (const e of log.events) {
      if (e.digests.size > 1 || (e.digests.size === 1 && !e.digests.has(TPM_ALG.SHA1))) {
        throw new EventLogEncodeError("events", `event ${e.index} has digests other than SHA-1 in a SHA-1 log`);
      }
      writeSha1(e, "events");
    }
    return written(w);
  }
  if (log.format !== "crypto-agile") throw new EventLogEncodeError("EventLog", `format ${String(log.format)} is neither sha1 nor crypto-agile`);
  if (!log.specId) throw new EventLogEncodeError("EventLog", "a crypto-agile log needs its specId");
  const sizes = digestSizes(log.specId);
  const codec: Codec<TcgPcrEvent2> = cached(`agile:${MAX_DATA}:${[...sizes].join(";")}`, () => tcgPcrEvent2(sizes, MAX_DATA));
  for (const e of log.events) {
    try {
      codec.write(w, { pcrIndex: e.pcr, eventType: e.type, digests: [...e.digests].map(([hashAlg, digest]) => ({ hashAlg, digest })), event: e.data }, {});
    } catch (err) {
      if (err instanceof EventLogEncodeError) err.within("events", `[${e.index}]`);
      throw err;
    }
  }
  return written(w);
}
