/**
 * Parsing of TCG PC Client event logs, SHA-1 and crypto-agile.
 * @module
 */
import { TPM_ALG } from "@tessera/tpm2";
import { type Codec, DecodeFault, type Reader, reader } from "./_codec.ts";
import { cached, DEFAULT_MAX_EVENT_SIZE, DEFAULT_MAX_EVENTS, decodeSpecId, digestSizes, isSpecIdData } from "./_format.ts";
import { tcgPcClientPcrEvent, tcgPcrEvent2, type TcgPcrEvent2 } from "./_structures.ts";
import { EventLogError } from "./errors.ts";
import { EV } from "./event_type.ts";
import type { EventLog, LogEvent, SpecIdEvent } from "./types.ts";

/** Options of {@link parseEventLog}. */
export interface ParseEventLogOptions {
  /** Most events accepted, header included (default 100 000). */
  maxEvents?: number;
  /** Largest event data accepted, in bytes (default 16 MiB). */
  maxEventSize?: number;
}

function fail(e: unknown, structure: string, index: number, base = 0, insideEvent = false): never {
  if (e instanceof DecodeFault) {
    // Running off the end of a complete event's data is a malformed event, not a truncated log.
    const code = insideEvent && e.code === "EVENTLOG_TRUNCATED" ? "EVENTLOG_MALFORMED" : e.code;
    throw new EventLogError(code, structure, e.field, base + e.offset, index, e.reason);
  }
  throw e;
}

function readEvent<T>(codec: Codec<T>, r: Reader, index: number): T {
  try {
    return codec.read(r, {});
  } catch (e) {
    return fail(e, codec.name, index);
  }
}

/**
 * Parses an event log (`/sys/kernel/security/tpm0/binary_bios_measurements`, a TCG log from Windows, or what
 * {@link writeEventLog} wrote). A log whose first event is the EV_NO_ACTION "Spec ID Event03" is crypto-agile
 * (TCG_PCR_EVENT2 events with the digests that event declares); any other log is in the SHA-1 form. Digests of
 * algorithms the library does not know are read by the size the Spec ID event gives.
 *
 * The input is treated as hostile: every length is checked against what remains and against the limits.
 * Throws {@link EventLogError} (`EVENTLOG_TRUNCATED`, `EVENTLOG_OVERSIZED`, `EVENTLOG_MALFORMED`) with the byte
 * offset and the event index.
 *
 * @example
 * ```ts
 * const log = parseEventLog(bytes);
 * log.events.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION).length;
 * ```
 */
export function parseEventLog(bytes: Uint8Array, options: ParseEventLogOptions = {}): EventLog {
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
  const maxEventSize = options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE;
  if (!(bytes instanceof Uint8Array)) throw new TypeError("parseEventLog expects a Uint8Array");
  if (bytes.length === 0) throw new EventLogError("EVENTLOG_TRUNCATED", "TCG_PCClientPCREvent", "", 0, 0, "the log is empty");
  if (maxEvents < 1) throw new EventLogError("EVENTLOG_OVERSIZED", "TCG_PCClientPCREvent", "", 0, 0, `maxEvents ${maxEvents} allows no event`);

  const r = reader(bytes);
  const sha1Form = cached(`sha1:${maxEventSize}`, () => tcgPcClientPcrEvent(maxEventSize));
  const h = readEvent(sha1Form, r, 0);
  const header: LogEvent = { index: 0, offset: 0, pcr: h.pcrIndex, type: h.eventType, digests: new Map([[TPM_ALG.SHA1, h.digest]]), data: h.event };

  let specId: SpecIdEvent | undefined;
  let codec: Codec<TcgPcrEvent2> | undefined;
  if (h.eventType === EV.NO_ACTION && isSpecIdData(h.event)) {
    try {
      specId = decodeSpecId(h.event);
    } catch (e) {
      fail(e, "TCG_EfiSpecIdEvent", 0, 32, true);
    }
    const sizes = digestSizes(specId);
    codec = cached(`agile:${maxEventSize}:${[...sizes].join(";")}`, () => tcgPcrEvent2(sizes, maxEventSize));
  }

  const events: LogEvent[] = [];
  while (r.pos < r.end) {
    const index = events.length + 1;
    const offset = r.pos;
    if (index >= maxEvents) throw new EventLogError("EVENTLOG_OVERSIZED", codec?.name ?? sha1Form.name, "", offset, index, `more than ${maxEvents} events`);
    if (codec) {
      const e = readEvent(codec, r, index);
      const digests = new Map<number, Uint8Array>();
      for (const d of e.digests) {
        if (digests.has(d.hashAlg)) {
          throw new EventLogError(
            "EVENTLOG_MALFORMED",
            codec.name,
            "digests",
            offset + 8,
            index,
            `algorithm 0x${d.hashAlg.toString(16).padStart(4, "0")} appears twice`,
          );
        }
        digests.set(d.hashAlg, d.digest);
      }
      events.push({ index, offset, pcr: e.pcrIndex, type: e.eventType, digests, data: e.event });
    } else {
      const e = readEvent(sha1Form, r, index);
      events.push({ index, offset, pcr: e.pcrIndex, type: e.eventType, digests: new Map([[TPM_ALG.SHA1, e.digest]]), data: e.event });
    }
  }
  return specId ? { format: "crypto-agile", header, specId, events } : { format: "sha1", header, events };
}
