import test from "ava";
import { quantile, startupTable, timeStartups } from "./startup.ts";

test("quantile takes the nearest rank", (t) => {
  const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  t.is(quantile(s, 0.5), 5);
  t.is(quantile(s, 0.9), 9);
  t.is(quantile(s, 1), 10);
  t.is(quantile(s, 0), 1);
  t.is(quantile([7], 0.9), 7);
  t.throws(() => quantile([], 0.5), { instanceOf: RangeError });
});

test("timeStartups times every case the given number of times, a daemon up to its ready line", async (t) => {
  const r = await timeStartups(
    [
      { name: "true", argv: ["true"] },
      { name: "daemon", argv: ["sh", "-c", "echo 'listening now' >&2; exec sleep 30"], readyOn: /listening/, peer: "true" },
    ],
    3,
  );
  t.deepEqual(
    r.map((x) => [x.name, x.runs, x.peer]),
    [
      ["true", 3, undefined],
      ["daemon", 3, "true"],
    ],
  );
  for (const x of r) t.true(x.min <= x.median && x.median <= x.p90 && x.min > 0);
  // The daemon was stopped once ready, long before its 30 s sleep.
  t.true(r[1].p90 < 30_000);
});

test("a process that fails, or a daemon that exits before its ready line, is an error naming the case", async (t) => {
  await t.throwsAsync(timeStartups([{ name: "fails", argv: ["sh", "-c", "echo oops >&2; exit 3"] }], 1), { message: /fails: exit 3: oops/ });
  await t.throwsAsync(timeStartups([{ name: "quits", argv: ["sh", "-c", "exit 0"], readyOn: /ready/ }], 1), { message: /quits: exited \(0\) before/ });
});

test("startupTable gives each case its ratio to its peer's median", (t) => {
  const table = startupTable([
    { name: "peer", runs: 1, median: 10, p90: 12, min: 9 },
    { name: "ours", peer: "peer", runs: 1, median: 25, p90: 30, min: 20 },
  ]);
  t.is(
    table,
    [
      "| process | median ms | p90 ms | min ms | ratio to peer |",
      "| --- | ---: | ---: | ---: | ---: |",
      "| peer | 10 | 12 | 9 |  |",
      "| ours | 25 | 30 | 20 | 2.5× |",
    ].join("\n"),
  );
});
