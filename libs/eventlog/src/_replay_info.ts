/**
 * What replay() knows beyond the PCR values (private): the last event that extended each PCR of each bank,
 * kept beside the result so comparePcrs can name it.
 * @module
 */
import type { PcrBanks } from "./types.ts";

/** Last extending event index by bank, then PCR, for maps returned by replay(). */
export const LAST_EVENT = new WeakMap<PcrBanks, Map<number, Map<number, number>>>();
