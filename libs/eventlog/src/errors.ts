/**
 * Errors of @tessera/eventlog, each with a stable `code`:
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `EVENTLOG_TRUNCATED` | {@link EventLogError} | the log ends inside an event (or is empty) |
 * | `EVENTLOG_OVERSIZED` | {@link EventLogError} | an event, a count or the number of events exceeds a limit |
 * | `EVENTLOG_MALFORMED` | {@link EventLogError} | the bytes disagree with the format: an unknown digest algorithm, a bad Spec ID event, inconsistent sizes |
 * | `EVENTLOG_ENCODE` | {@link EventLogEncodeError} | a value cannot be written: wrong digest size, an algorithm the log does not declare, out of range |
 *
 * Decoding event *data* ({@link decodeEvent}) never throws: what does not decode is reported as `{ kind: "raw", reason }`.
 * @module
 */

/** The codes of {@link EventLogError}. */
export type EventLogErrorCode = "EVENTLOG_TRUNCATED" | "EVENTLOG_OVERSIZED" | "EVENTLOG_MALFORMED";

/**
 * An event log that does not parse. The message names the structure, the field, the byte offset and the event:
 * `Cannot decode TCG_PCR_EVENT2.digests[1].digest at byte 1234 (event 17): UINT8[32] needs 32 bytes, 5 remaining`.
 */
export class EventLogError extends Error {
  /** Stable error code. */
  readonly code: EventLogErrorCode;
  /** Absolute byte offset in the log where the problem was found. */
  readonly offset: number;
  /** Index of the event being read (0 is the first, header event). */
  readonly eventIndex: number;
  /** The structure being decoded, e.g. `TCG_PCR_EVENT2` or `TCG_EfiSpecIdEvent`. */
  readonly structure: string;
  /** Dotted field path inside it, e.g. `digests[1].digest` ("" at its start). */
  readonly field: string;
  /** What was wrong, e.g. `size 48 exceeds 34 remaining`. */
  readonly reason: string;

  /**
   * @param code stable code @param structure structure name @param field field path @param offset byte offset
   * @param eventIndex event index @param reason what was wrong
   */
  constructor(code: EventLogErrorCode, structure: string, field: string, offset: number, eventIndex: number, reason: string, options?: ErrorOptions) {
    super(`Cannot decode ${structure}${field ? (field.startsWith("[") ? "" : ".") + field : ""} at byte ${offset} (event ${eventIndex}): ${reason}`, options);
    this.name = "EventLogError";
    this.code = code;
    this.structure = structure;
    this.field = field;
    this.offset = offset;
    this.eventIndex = eventIndex;
    this.reason = reason;
  }
}

/** A value that cannot be written as the structure it is meant to be (see {@link writeEventLog} and the `encode…` helpers). */
export class EventLogEncodeError extends Error {
  /** Stable error code. */
  readonly code = "EVENTLOG_ENCODE";
  /** Outermost structure being encoded. */
  structure: string;
  /** Field path inside it, outermost first. */
  readonly fields: string[] = [];
  /** What was wrong. */
  readonly reason: string;

  /** @param structure what was being encoded @param reason what was wrong */
  constructor(structure: string, reason: string, options?: ErrorOptions) {
    super(`Cannot encode ${structure}: ${reason}`, options);
    this.name = "EventLogEncodeError";
    this.structure = structure;
    this.reason = reason;
  }

  /** Structure and field path, e.g. `TCG_PCR_EVENT2.digests[0].digest`. */
  get path(): string {
    const f = this.fields.map((x, i) => (i > 0 && !x.startsWith("[") ? "." + x : x)).join("");
    return f === "" ? this.structure : `${this.structure}${f.startsWith("[") ? "" : "."}${f}`;
  }

  /** Internal: records that the failure happened in `field` of `structure` (called as the error unwinds). */
  within(structure: string, field: string): this {
    this.structure = structure;
    this.fields.unshift(field);
    this.message = `Cannot encode ${this.path}: ${this.reason}`;
    return this;
  }
}
