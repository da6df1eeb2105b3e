import test from "ava";
import { benchKmx } from "./kmx.ts";

// The whole suite, briefly: attestd, kmipd, kmxd and the bound server as processes. benchKmx itself throws unless
// kmxd's and the bound server's first unwraps open, with the binding key's private part, to the generated data key.
test("the kmx suite measures kmxd, KMIP alone, the bound server and the JWE, each without failures", async (t) => {
  const md = await benchKmx({ durationMs: 300, concurrency: 4 });
  const rows = md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| measured") && !l.startsWith("| ---"));
  t.deepEqual(
    rows.map((r) => r.split(" | ")[0]!.slice(2).split(" (")[0]),
    ["kmxd unwrap, end to end", "KMIP Decrypt alone", "bound: HTTPS server doing only the body read, KMIP Decrypt and JWE", "JWE to the binding key alone"],
  );
  for (const r of rows) {
    const cells = r.split(" | ");
    t.true(Number(cells[2]) > 0, `ops/s in ${r}`);
    t.is(cells.at(-1), "0 |", `no failures in ${r}`);
  }
  t.notRegex(md, /FAILURES/);
  t.regex(md, /- The bound \(.*\): p50 [\d.]+ ms, [\d.]+× the floor's latency; cost \d+ µs, [\d.]+× the floor's/);
});
