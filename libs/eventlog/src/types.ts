/**
 * The event-log model: what {@link parseEventLog} returns and {@link writeEventLog} writes.
 * @module
 */

/** The TCG_EfiSpecIdEvent of a crypto-agile log ("Spec ID Event03"), decoded. */
export interface SpecIdEvent {
  /** 0 for client platforms, 1 for servers. */
  platformClass: number;
  /** The PC Client profile version the log follows (2.0.0 for the TPM 2.0 profile). */
  specVersion: { major: number; minor: number; errata: number };
  /** Size of UINTN: 1 for 32-bit, 2 for 64-bit firmware. */
  uintnSize: number;
  /** The banks the log carries digests for, in header order, with each digest size. */
  algorithms: { alg: number; digestSize: number }[];
  /** Vendor information (usually empty). */
  vendorInfo: Uint8Array;
}

/** One event. */
export interface LogEvent {
  /** Position in the log: 0 is the first (header) event. */
  index: number;
  /** Byte offset of the event in the log. */
  offset: number;
  /** The PCR the event was extended into. */
  pcr: number;
  /** The event type (see {@link EV}). */
  type: number;
  /** The digests by TPM_ALG_ID, in the order the log holds them. */
  digests: Map<number, Uint8Array>;
  /** The event data. */
  data: Uint8Array;
}

/**
 * A TCG PC Client event log. `header` is the first event, always in the SHA-1 (TCG_PCClientPCREvent) form: in a
 * crypto-agile log it is the EV_NO_ACTION Spec ID event and `specId` is its data decoded; in a SHA-1 log it is an
 * ordinary first measurement. `header.data` is what is written: `specId` is its decoded view.
 */
export interface EventLog {
  /** `sha1`: every event is a TCG_PCClientPCREvent; `crypto-agile`: events after the header are TCG_PCR_EVENT2. */
  format: "sha1" | "crypto-agile";
  /** The first event. */
  header: LogEvent;
  /** The Spec ID event of a crypto-agile log. */
  specId?: SpecIdEvent;
  /** The events after the header. */
  events: LogEvent[];
}

/** PCR values by bank (TPM_ALG_ID), then by PCR index. */
export type PcrBanks = Map<number, Map<number, Uint8Array>>;
