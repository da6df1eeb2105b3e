/**
 * What appraise derives from an event log, kept by the log's content (private). A host sends the same log with every
 * attestation until it boots again, and parsing it, replaying it, checking its events' digests, reading its Secure
 * Boot state and its image took about 0.8 ms of attestd's 4 ms per attestation. Each of these is a pure function of
 * the log's bytes and of which banks are replayed (or which PCRs verified), so a hit is the same result for the same
 * content: the cache is keyed by the SHA-256 of the bytes (ContentCache) and, inside, by the banks and the verified
 * PCRs. An entry holds only the small results (replayed PCR values, the digest problems, the Secure Boot state, the
 * measured image), never the parsed log or the request's buffer.
 * @module
 */
import { checkEventDigests, ContentCache, replay, secureBootState, type EventLog, type PcrBanks } from "@tessera/eventlog";
import { imageFromEventLog, matchImages, type ImageMatch, type ImageModel } from "@tessera/host-image";

/** checkEventDigests' result. */
export type DigestProblem = ReturnType<typeof checkEventDigests>[number];

/** What the verified part of a log says (see appraise's `trusted`). */
export interface VerifiedFacts {
  readonly digestProblems: readonly DigestProblem[];
  /** secureBootState's `enabled`, when PCR 7 was verified; else not computed. */
  readonly secureBoot?: boolean | undefined;
  /** The image the verified log measured. */
  readonly measured: ImageModel;
}

interface LogEntry {
  /** Why the log does not parse (parseEventLog's message) once that was tried and failed; undefined otherwise. */
  parseError?: string;
  /** replay's result by the banks replayed. */
  readonly replays: Map<string, PcrBanks>;
  /** By the verified PCRs. */
  readonly facts: Map<string, VerifiedFacts>;
}

/** How many distinct bank sets or verified sets one log keeps results for (a host's policy asks for one or two). */
const PER_LOG = 8;

/**
 * Logs by content. An entry is a few kilobytes while its log is tens: the byte bound counts the logs' size, so it is
 * set to hold `MAX_LOGS` logs of up to 1 MiB (PROTOCOL.md's body limit).
 */
const MAX_LOGS = 1024;
const LOGS = new ContentCache<LogEntry>(MAX_LOGS, MAX_LOGS * 1024 * 1024);

/** Matches by the policy's image list (a policy keeps its list while its images do not change) and the measured image. */
const MATCHES = new WeakMap<readonly ImageModel[], Map<ImageModel, ImageMatch>>();

function bounded<K, V>(m: Map<K, V>, k: K, v: V, max: number): V {
  if (m.size >= max) m.clear();
  m.set(k, v);
  return v;
}

/** The log's cache entry (empty for a log not seen before). */
export function logEntry(bytes: Uint8Array): LogEntry {
  return LOGS.get(bytes, () => ({ replays: new Map(), facts: new Map() }), "appraisal-log");
}

/** replay(log, { banks }), from the entry when these banks were replayed before. */
export function cachedReplay(entry: LogEntry, banks: readonly number[], log: () => EventLog): PcrBanks {
  const key = [...banks].sort((a, b) => a - b).join(",");
  return entry.replays.get(key) ?? bounded(entry.replays, key, replay(log(), { banks: [...banks] }), PER_LOG);
}

/** The key of a verified-PCR map (bank → PCRs). */
export function verifiedKey(verified: ReadonlyMap<number, ReadonlySet<number>>): string {
  return [...verified]
    .sort((a, b) => a[0] - b[0])
    .map(([alg, pcrs]) => `${alg}:${[...pcrs].sort((a, b) => a - b).join(".")}`)
    .join("/");
}

/** The facts of the verified log (`trusted()`), from the entry when these PCRs were verified before. */
export function cachedFacts(entry: LogEntry, verified: ReadonlyMap<number, ReadonlySet<number>>, pcr7: boolean, trusted: () => EventLog): VerifiedFacts {
  const key = `${verifiedKey(verified)}|${pcr7 ? "7" : ""}`;
  const hit = entry.facts.get(key);
  if (hit !== undefined) return hit;
  const t = trusted();
  const facts: VerifiedFacts = Object.freeze({
    digestProblems: Object.freeze(checkEventDigests(t).map((p) => Object.freeze(p))),
    ...(pcr7 ? { secureBoot: secureBootState(t).enabled } : {}),
    measured: imageFromEventLog(t, { name: "measured", version: "" }),
  });
  return bounded(entry.facts, key, facts, PER_LOG);
}

/** matchImages(measured, images), kept while the same measured image and image list come back. */
export function cachedMatch(measured: ImageModel, images: readonly ImageModel[]): ImageMatch {
  let byMeasured = MATCHES.get(images);
  if (byMeasured === undefined) {
    byMeasured = new Map();
    MATCHES.set(images, byMeasured);
  }
  return byMeasured.get(measured) ?? bounded(byMeasured, measured, matchImages(measured, images), 4 * MAX_LOGS);
}
