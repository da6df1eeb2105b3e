/**
 * Helpers about a log's banks and layout (private).
 * @module
 */
import { TPM_ALG } from "@tessera/tpm2";
import type { EventLog, LogEvent } from "./types.ts";

/** The banks a log carries: the Spec ID event's algorithms, or SHA-1. */
export function logBanks(log: EventLog): number[] {
  return log.format === "crypto-agile" && log.specId ? log.specId.algorithms.map((a) => a.alg) : [TPM_ALG.SHA1];
}

/** The digest size of bank `alg` in `log`, undefined when the log has no such bank. */
export function bankDigestSize(log: EventLog, alg: number): number | undefined {
  if (log.format === "sha1") return alg === TPM_ALG.SHA1 ? 20 : undefined;
  return log.specId?.algorithms.find((a) => a.alg === alg)?.digestSize;
}

/** The size an event takes in the written log. */
export function encodedSize(log: EventLog, e: LogEvent): number {
  if (e === log.header || log.format === "sha1") return 32 + e.data.length;
  let n = 16 + e.data.length;
  for (const d of e.digests.values()) n += 2 + d.length;
  return n;
}
