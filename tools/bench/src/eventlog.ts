/**
 * Event log benchmark: parse + replay of every fixture log in-process (events/s, MB/s) against tpm2_eventlog
 * run as it is used, one process per log, over the same logs in the same run; and the start-up time of
 * `tactl eventlog show`.
 * @module
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseEventLog, replay } from "@tessera/eventlog";
import { fixturePath } from "@tessera/fixtures";

const ROOT = path.resolve(import.meta.dirname, "../../..");

/** Runs the benchmark; returns a Markdown report. */
export function benchEventlog(options: { rounds?: number } = {}): string {
  const dir = fixturePath("eventlogs");
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".bin"))
    .sort();
  const logs = files.map((f) => ({ f, bytes: new Uint8Array(readFileSync(path.join(dir, f))) }));
  const totalBytes = logs.reduce((n, l) => n + l.bytes.length, 0);
  let events = 0;
  for (const l of logs) events += parseEventLog(l.bytes).events.length;
  // Tessera: all logs, parse + replay, repeated until ~1 s has passed.
  const rounds = options.rounds ?? 0;
  let n = 0;
  const t0 = performance.now();
  while (n < 3 || (rounds ? n < rounds : performance.now() - t0 < 1000)) {
    for (const l of logs) replay(parseEventLog(l.bytes));
    n++;
  }
  const oursSec = (performance.now() - t0) / 1000 / n;
  // tpm2_eventlog: one process per log, as a script would use it; logs it rejects still cost their run.
  const t1 = performance.now();
  let refused = 0;
  for (const l of logs) {
    const r = spawnSync("tpm2_eventlog", [path.join(dir, l.f)], { stdio: "ignore" });
    if (r.error) throw new Error(`tpm2_eventlog could not run: ${r.error.message}`);
    if (r.status !== 0) refused++;
  }
  const theirsSec = (performance.now() - t1) / 1000;
  // Start-up of tactl eventlog show (whole process), median of 5.
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    const r = spawnSync(path.join(ROOT, "apps/tactl/bin/tactl"), ["eventlog", "show", path.join(dir, logs[0].f)], { stdio: "ignore" });
    if (r.status !== 0) throw new Error("tactl eventlog show failed");
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return [
    `${logs.length} fixture logs, ${events} events, ${(totalBytes / 1024).toFixed(0)} KiB in all.`,
    "",
    "| case | time for all logs | events/s | MB/s | ratio |",
    "| --- | ---: | ---: | ---: | ---: |",
    `| Tessera parse + replay (in-process) | ${(oursSec * 1000).toFixed(2)} ms | ${(events / oursSec).toFixed(0)} | ${(totalBytes / oursSec / 1e6).toFixed(1)} | 1.00× |`,
    `| tpm2_eventlog, one process per log${refused ? ` (${refused} refused)` : ""} | ${(theirsSec * 1000).toFixed(0)} ms | ${(events / theirsSec).toFixed(0)} | ${(totalBytes / theirsSec / 1e6).toFixed(2)} | ${(theirsSec / oursSec).toFixed(0)}× slower |`,
    "",
    `\`tactl eventlog show\` start-up (whole process through its launcher, one log, median of 5): ${times[2].toFixed(0)} ms; see the start-up suite for more.`,
  ].join("\n");
}
