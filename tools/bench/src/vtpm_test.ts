/**
 * The vtpm suite, tiny but whole and real: `tactl dev up` with one host and its kmxa, kmipd as a standard provider,
 * two cycles each, small envelope sizes. Checks the shape of what it reports (every phase a positive figure, the
 * tables' rows, the goals' sentences) — not how fast anything is — so that the suite cannot rot; and the openssl
 * speed parser on the line openssl prints.
 */
import test from "ava";
import { pairedRatio, pairedRatioInterval, parseOpensslSpeed, type ThroughputCell } from "./_vtpm_envelope.ts";
import { benchVtpm } from "./vtpm.ts";

test("openssl speed's AES-256-GCM line is read as MB/s; other output is not", (t) => {
  const out = "The 'numbers' are in 1000s of bytes per second processed.\ntype        1048576 bytes\nAES-256-GCM    3131976.18k\n";
  t.is(parseOpensslSpeed(out), 3131.97618);
  t.is(parseOpensslSpeed("type 1048576 bytes\naes-256-cbc   1000.00k\n"), undefined);
  t.is(parseOpensslSpeed(""), undefined);
});

test("a ratio is the median of the same rounds' ratios: a slow spell in one round divides out", (t) => {
  const c = (rates: number[]): ThroughputCell => ({
    mbPerS: 0,
    mbPerCpuS: 0,
    calls: rates.length,
    rounds: rates.map((r) => ({ mbPerS: r, mbPerCpuS: 2 * r })),
  });
  // Rounds 2 and 5 are slow for both (the machine busy): every round says 0.8×.
  const a = c([80, 8, 40, 80, 8]);
  const b = c([100, 10, 50, 100, 10]);
  t.is(pairedRatio(a, b), 0.8);
  t.is(pairedRatio(a, b, "mbPerCpuS"), 0.8);
  // Round 1 slow for both, round 2 for a only: the pairs say 0.8×, the medians' ratio would say 8/100.
  t.is(pairedRatio(c([8, 8, 80]), c([10, 100, 100])), 0.8);
  t.is(pairedRatio(c([1, 2, 3]), c([1, 1, 1])), 2);
});

test("the suite, tiny: envelope rows at each size, both providers' cycles with every phase, the goals said", async (t) => {
  const lines: string[] = [];
  const r = await benchVtpm({ cycles: 2, envelope: { sizes: [1024, 8192], rounds: 2, batchMs: 5 }, opensslBytes: 8192, progress: (l) => lines.push(l) });
  t.deepEqual(
    r.envelope.map((e) => e.bytes),
    [1024, 8192],
  );
  for (const e of r.envelope)
    for (const c of [e.seal, e.open, e.bareEncrypt, e.bareDecrypt, e.sealJoined, e.rewrap]) {
      t.true(c.mbPerS > 0 && Number.isFinite(c.mbPerS), `${e.bytes}: ${JSON.stringify(c)}`);
      t.true(c.mbPerCpuS > 0 && Number.isFinite(c.mbPerCpuS));
      t.true(c.calls >= 2);
    }
  t.true(r.openssl?.mbPerS !== undefined && r.openssl.mbPerS > 0, `openssl speed: ${r.openssl?.why}`);
  t.deepEqual(
    r.cycles.map((c) => [c.provider, c.samples.length]),
    [
      ["trusted", 2],
      ["standard", 2],
    ],
  );
  for (const c of r.cycles)
    for (const s of c.samples) {
      for (const [k, v] of Object.entries(s)) t.true(typeof v === "number" && v > 0 && Number.isFinite(v), `${c.provider} ${k} = ${v}`);
      // The whole start includes the key fetch and the decrypt this suite also times on their own.
      t.true(s.startMs > s.decryptMs);
      t.true(s.nvramBytes > 1000, "vm.nvram holds swtpm's state");
    }
  t.is(typeof r.startGoalMet, "boolean");
  t.regex(r.markdown, /\| 1 KiB \| [\d.]+ \| [\d.]+ \| [\d.]+× \([\d.]+–[\d.]+\) \| [\d.]+× \| [\d.]+ \| [\d.]+× \| [\d.]+ \|/);
  t.regex(
    r.markdown,
    /\| content \| openEnvelope MB\/s \| bare decrypt MB\/s \|.*\n.*\n\| 1 KiB \| [\d.]+ \| [\d.]+ \| [\d.]+× \([\d.]+–[\d.]+\) \| [\d.]+× \|\n\| 8 KiB \|/,
  );
  t.regex(r.markdown, /\| 8 KiB: `openssl speed -evp aes-256-gcm` \(OpenSSL [^)]*\), encrypt only \|/);
  t.regex(r.markdown, /\| \*\*start\*\*: call → first TPM2_GetRandom answered \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
  t.regex(
    r.markdown,
    /Goal ≥ 0\.8× the bare cipher: (met|not met beyond this run's noise|not met) \(lowest wall-clock ratio [\d.]+× \([\d.]+–[\d.]+\); lowest end of any interval [\d.]+\)\. 1 KiB: seal (met|met by the median only|not met), open (met|met by the median only|not met); 8 KiB: seal (met|met by the median only|not met), open (met|met by the median only|not met)\./,
  );
  t.is(r.envelopeGoalMet, /the bare cipher: met \(/.test(r.markdown), "envelopeGoalMet is what the text says");
  t.regex(r.markdown, /Start goal < 300 ms at p50 with a warm agent \(trusted\): (met|not met) \([\d.]+ ms\)\./);
  t.true(lines.some((l) => l.startsWith("tactl dev up")));
});

test("a ratio's interval holds its median, is reproducible, and narrows with more rounds of the same spread", (t) => {
  const c = (rates: number[]): ThroughputCell => ({ mbPerS: 0, mbPerCpuS: 0, calls: rates.length, rounds: rates.map((r) => ({ mbPerS: r, mbPerCpuS: r })) });
  const ones = (n: number): ThroughputCell => c(Array.from({ length: n }, () => 1));
  // Rounds whose ratios are 0.5, 0.6, …, 1.4 over and over: median 0.95.
  const spread = (n: number): ThroughputCell => c(Array.from({ length: n }, (_, i) => 0.5 + (i % 10) / 10));
  const i60 = pairedRatioInterval(spread(60), ones(60));
  const i240 = pairedRatioInterval(spread(240), ones(240));
  for (const i of [i60, i240]) {
    t.is(Math.round(i.ratio * 100), 95);
    t.true(i.low <= i.ratio && i.ratio <= i.high, JSON.stringify(i));
  }
  t.true(i240.high - i240.low < i60.high - i60.low, `${JSON.stringify(i240)} narrower than ${JSON.stringify(i60)}`);
  t.true(i60.low < 0.9 && i60.high > 1.0, "60 rounds of this spread leave the median ±0.05 or more");
  t.deepEqual(pairedRatioInterval(spread(60), ones(60)), i60, "the same rounds, the same interval");
  // Without spread, no interval.
  t.deepEqual(pairedRatioInterval(c([8, 8, 8]), c([10, 10, 10])), { ratio: 0.8, low: 0.8, high: 0.8 });
});
