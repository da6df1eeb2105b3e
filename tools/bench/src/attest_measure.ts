/**
 * Measuring helpers of the attestation suite: measure.ts's method (warm-up, then the median rate of 7 batches of
 * about 300 ms) for asynchronous operations, keeping every operation's latency for p50/p99; CPU time of
 * another process from /proc; and the table.
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Measurement } from "./measure.ts";

/** A measurement with latencies (ms) and CPU time. */
export interface LatencyMeasurement extends Measurement {
  readonly p50Ms: number;
  readonly p99Ms: number;
  /**
   * This process's CPU time (user + system, all threads) per timed call, µs: unlike the rate, hardly moved by
   * other processes taking the CPUs, so it is what the suite compares with attestd's CPU per attestation.
   */
  readonly cpuUsPerOp: number;
}

/** The `p`th percentile (0–100) of ascending `sorted` (nearest rank); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Runs `fn` one call after another, as measure() does for synchronous work: `warmupMs` untimed, then `batches`
 * batches of about `batchMs`; the rate is the median batch's, the latencies are every timed call's.
 */
export async function measureAsync(
  name: string,
  fn: () => Promise<unknown> | unknown,
  options: { warmupMs?: number; batchMs?: number; batches?: number } = {},
): Promise<LatencyMeasurement> {
  const warmupMs = options.warmupMs ?? 200;
  const batchMs = options.batchMs ?? 300;
  const batches = options.batches ?? 7;
  const until = performance.now() + warmupMs;
  while (performance.now() < until) await fn();
  const rates: number[] = [];
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let b = 0; b < batches; b++) {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < batchMs) {
      const t0 = performance.now();
      await fn();
      lat.push(performance.now() - t0);
      n++;
    }
    rates.push((n * 1000) / (performance.now() - start));
  }
  const cpu = process.cpuUsage(cpu0);
  rates.sort((a, b) => a - b);
  lat.sort((a, b) => a - b);
  const opsPerSec = rates[Math.floor(rates.length / 2)];
  return {
    name,
    opsPerSec,
    usPerOp: 1e6 / opsPerSec,
    ops: lat.length,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    cpuUsPerOp: (cpu.user + cpu.system) / lat.length,
  };
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** User + system CPU time of process `pid` (all its threads) in µs, from /proc; undefined where there is none. */
export function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseProcStatCpuUs(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The ids of `pid`'s children (every thread's), from /proc/<pid>/task/<tid>/children; empty when none or gone. */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8")
        .split(" ")
        .filter((x) => x !== "")
        .map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * {@link processCpuUs} of `pid` and every live descendant (attestd `--workers N`: the primary and its workers). A
 * worker that exited in between is missing from the sum, so measure with the same processes alive at both ends.
 */
export function processTreeCpuUs(pid: number | undefined): number | undefined {
  const own = processCpuUs(pid);
  if (pid === undefined || own === undefined) return own;
  return childPids(pid).reduce((sum, child) => sum + (processTreeCpuUs(child) ?? 0), own);
}

/** utime + stime of a /proc/<pid>/stat line, in µs (the command name may hold spaces and parentheses). */
export function parseProcStatCpuUs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of proc(5); `fields` starts at field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  return ((utime + stime) * 1e6) / CLOCK_TICKS;
}

/** One row of the attestation table. */
export interface AttestRow {
  /** What was measured. */
  readonly name: string;
  readonly opsPerSec: number;
  readonly usPerOp: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** CPU µs per operation of the server process (or, in-process, of this process) and of the load client. */
  readonly serverCpuUs?: number;
  readonly clientCpuUs?: number;
  /** Free text: ratios, notes. */
  readonly note?: string;
}

const fmtRate = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtMs = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? "–" : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtUs = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** The rows as a Markdown table: case, ops/s, µs/op, p50 / p99 ms, CPU µs/op server / client, note. */
export function attestTable(rows: readonly AttestRow[]): string {
  const lines = [
    "| case | ops/s | µs/op | p50 / p99 ms | CPU µs/op attestd (in-process: this process) / client | note |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const cpu = r.serverCpuUs === undefined && r.clientCpuUs === undefined ? "–" : `${fmtUs(r.serverCpuUs)} / ${fmtUs(r.clientCpuUs)}`;
    const lat = r.p50Ms === undefined && r.p99Ms === undefined ? "–" : `${fmtMs(r.p50Ms)} / ${fmtMs(r.p99Ms)}`;
    lines.push(`| ${r.name} | ${fmtRate(r.opsPerSec)} | ${fmtUs(r.usPerOp)} | ${lat} | ${cpu} | ${r.note ?? ""} |`);
  }
  return lines.join("\n");
}

/** `a ÷ b` as `1.23×` (two significant decimals below 10, none above). */
export function ratio(a: number, b: number): string {
  const r = a / b;
  if (!Number.isFinite(r)) return "–";
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
}
