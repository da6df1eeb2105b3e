/**
 * A small, honest timer: warm up, then run batches for a fixed time and report the median batch rate.
 * @module
 */

/** One measured case. */
export interface Measurement {
  name: string;
  /** Operations per second (median of the batches). */
  opsPerSec: number;
  /** Microseconds per operation (from the median rate). */
  usPerOp: number;
  /** Operations run in all. */
  ops: number;
}

/** Runs `fn` repeatedly: `warmupMs` untimed, then `batches` batches of about `batchMs` each; median rate. */
export function measure(name: string, fn: () => unknown, options: { warmupMs?: number; batchMs?: number; batches?: number } = {}): Measurement {
  const warmupMs = options.warmupMs ?? 200;
  const batchMs = options.batchMs ?? 300;
  const batches = options.batches ?? 7;
  const until = performance.now() + warmupMs;
  while (performance.now() < until) fn();
  const rates: number[] = [];
  let ops = 0;
  for (let b = 0; b < batches; b++) {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < batchMs) {
      for (let i = 0; i < 16; i++) fn();
      n += 16;
    }
    rates.push((n * 1000) / (performance.now() - start));
    ops += n;
  }
  rates.sort((a, b) => a - b);
  const opsPerSec = rates[Math.floor(rates.length / 2)];
  return { name, opsPerSec, usPerOp: 1e6 / opsPerSec, ops };
}

/** Times an external command run `runs` times; ops/s of whole invocations. */
export function measureCommand(name: string, run: () => void, runs = 30): Measurement {
  run();
  const start = performance.now();
  for (let i = 0; i < runs; i++) run();
  const opsPerSec = (runs * 1000) / (performance.now() - start);
  return { name, opsPerSec, usPerOp: 1e6 / opsPerSec, ops: runs };
}
