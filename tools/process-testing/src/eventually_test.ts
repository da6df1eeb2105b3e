import test from "ava";
import { eventually } from "./eventually.ts";

test("resolves with the first value that is not undefined; errors on the way are polled over", async (t) => {
  let n = 0;
  const v = await eventually(
    "the third call",
    async () => {
      n++;
      if (n === 1) throw new Error("not yet");
      return n === 3 ? "done" : undefined;
    },
    5000,
    1,
  );
  t.is(v, "done");
  t.is(n, 3);
});

test("rejects after the limit naming what was awaited and the last error", async (t) => {
  const e = await t.throwsAsync(
    eventually(
      "a door that never opens",
      async () => {
        throw new Error("locked");
      },
      50,
      5,
    ),
  );
  t.regex(e?.message ?? "", /^a door that never opens: not within 50 ms \(last error: locked\)$/);
});
