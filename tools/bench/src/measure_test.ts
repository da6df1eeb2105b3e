import test from "ava";
import { measure, measureCommand } from "./measure.ts";

test("measure reports the median rate of timed batches and counts every call", (t) => {
  let calls = 0;
  const m = measure(
    "spin",
    () => {
      calls++;
      let x = 0;
      for (let i = 0; i < 1000; i++) x += i;
      return x;
    },
    { warmupMs: 10, batchMs: 20, batches: 3 },
  );
  t.true(m.opsPerSec > 0);
  t.true(calls > m.ops, "warm-up calls are not counted in ops");
  t.is(m.ops % 16, 0);
  t.true(Math.abs(m.usPerOp * m.opsPerSec - 1e6) < 1);
});

test("an operation that takes at least 50 µs measures at least 50 µs per call", (t) => {
  // A lower bound only: a loaded machine can make a call slower, never faster than its spin.
  const slow = measure(
    "slow",
    () => {
      const end = performance.now() + 0.05;
      while (performance.now() < end);
    },
    { warmupMs: 5, batchMs: 20, batches: 3 },
  );
  t.true(slow.usPerOp > 49.99, `${slow.usPerOp} µs per call`);
});

test("measureCommand times whole invocations", (t) => {
  let n = 0;
  const m = measureCommand("count", () => void n++, 10);
  t.is(n, 11);
  t.is(m.ops, 10);
});
