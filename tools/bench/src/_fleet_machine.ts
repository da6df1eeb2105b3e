/**
 * The whole machine's CPU time from /proc/stat, so that a fleet figure can say how much of the machine its own
 * processes had: other processes (tests of other work on the same machine) take the rest.
 * @module
 */
import { readFileSync } from "node:fs";

/** Busy and total jiffies of all CPUs together (busy: user, nice, system, irq, softirq, steal). */
export interface MachineCpu {
  readonly busy: number;
  readonly total: number;
}

/** Reads the `cpu` line of /proc/stat. */
export function machineCpu(stat: string = readFileSync("/proc/stat", "utf8")): MachineCpu {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) throw new Error("/proc/stat has no cpu line");
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + (steal ?? 0);
  return { busy, total: busy + idle + iowait };
}

/** The fraction of the machine busy between two readings (0–1). */
export function busyFraction(a: MachineCpu, b: MachineCpu): number {
  const total = b.total - a.total;
  return total > 0 ? (b.busy - a.busy) / total : NaN;
}
