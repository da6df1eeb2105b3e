/**
 * Where attestd's time goes: reads a V8 CPU profile (`node --cpu-prof`) of attestd under the API load and sums
 * the main thread's busy time of the last `windowMs` (the timed cell; the profile ends when the suite stops
 * attestd) into named buckets, each sample going to the first bucket matching a frame on its stack. Samples
 * taken while the thread waits in a synchronous call (node:sqlite's fsync) count as that call's time.
 * @module
 */
import { readFileSync } from "node:fs";

/** The subset of a .cpuprofile this reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A bucket: a name and the frames (`function file:line`) that put a sample in it. */
export interface Bucket {
  readonly name: string;
  readonly frames: RegExp;
}

/** attestd's buckets, most specific first. */
export const ATTESTD_BUCKETS: readonly Bucket[] = [
  { name: "appraise: Secure Boot state (libs/eventlog secureBootState: X.509 parsing of db/authority certificates)", frames: /^secureBootState / },
  { name: "appraise: image (imageFromEventLog + matchImages)", frames: /^(imageFromEventLog|matchImages) / },
  { name: "appraise: quote and certify signatures", frames: /^(signatureProblem|verifySignature) / },
  { name: "appraise: log parse, replay, event digests", frames: /^(replay|checkEventDigests|parseEventLog|comparePcrs) / },
  { name: "appraise: the rest", frames: /^appraise / },
  { name: "store: SQLite on the serving thread (node:sqlite, synchronous; reads, and commits when no writer thread)", frames: /open_sqlite\.ts|sql_store\.ts/ },
  { name: "token: issueEar (ES256 by node:crypto) + binding key JWK", frames: /^(issueAttestationToken|issueEar|bindingKeyJwk|signJwt) / },
  { name: "request body: readJson + zod (base64 checks of the 45 KB log)", frames: /^readJson |zod|^RegExp: / },
  { name: "HTTP, TLS, Hono, JSON", frames: /_http_|hono|node-server|compose\.js|tls|^(writev|Socket\.|JSON\.)/ },
  { name: "garbage collector", frames: /^\(garbage collector\)/ },
];

/** Busy time per bucket (µs) in the last `windowMs` of the profile (ignoring its last `tailMs`). */
export function profileBuckets(profile: CpuProfile, buckets: readonly Bucket[], windowMs: number, tailMs = 200): { name: string; us: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frame = (id: number): string => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
  };
  const end = profile.endTime - tailMs * 1000;
  const start = end - windowMs * 1000;
  const sums = new Map<string, number>([...buckets.map((b): [string, number] => [b.name, 0]), ["other", 0]]);
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < start || t > end) continue;
    // A sample stands for the time until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i];
    if (byId.get(id)?.callFrame.functionName === "(idle)") continue;
    const stack: string[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(frame(cur));
    const b = buckets.find((x) => stack.some((s) => x.frames.test(s)));
    const name = b?.name ?? "other";
    sums.set(name, (sums.get(name) ?? 0) + dt);
  }
  return [...sums].map(([name, us]) => ({ name, us }));
}

/** The buckets of a profile file as a Markdown table, per attestation when `attestations` is given. */
export function profileTable(file: string, windowMs: number, attestations: number, buckets: readonly Bucket[] = ATTESTD_BUCKETS): string {
  const rows = profileBuckets(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, buckets, windowMs);
  const total = rows.reduce((a, r) => a + r.us, 0);
  const lines = [
    `attestd's main thread, busy ${(total / 1000).toFixed(0)} ms in the last ${windowMs} ms (${attestations} attestations):`,
    "",
    "| where | share | µs per attestation |",
    "| --- | ---: | ---: |",
  ];
  for (const r of rows) lines.push(`| ${r.name} | ${((100 * r.us) / total).toFixed(1)}% | ${(r.us / attestations).toFixed(0)} |`);
  return lines.join("\n");
}
