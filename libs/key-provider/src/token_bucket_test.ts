/** The rate limiter: burst, refill at the rate, Retry-After, keys apart, bounded memory, bad options. */
import test from "ava";
import { KeyProviderConfigError } from "./errors.ts";
import { tokenBucket } from "./token_bucket.ts";

test("a burst passes, then the rate; a refusal says when to retry", (t) => {
  const b = tokenBucket({ ratePerSecond: 2, burst: 3 });
  for (let i = 0; i < 3; i++) t.deepEqual(b.take("h", 1000), { ok: true });
  t.deepEqual(b.take("h", 1000), { ok: false, retryAfterSeconds: 1 });
  t.deepEqual(b.take("h", 1400), { ok: false, retryAfterSeconds: 1 }, "0.8 token");
  t.deepEqual(b.take("h", 1500), { ok: true }, "one token after 0.5 s at 2/s");
  t.deepEqual(b.take("other", 1500), { ok: true }, "keys are apart");
  t.deepEqual(b.take("h", 100_000), { ok: true });
});

test("a slow rate gives a Retry-After of whole seconds, at least 1", (t) => {
  const b = tokenBucket({ ratePerSecond: 0.1, burst: 1 });
  t.true(b.take("h", 0).ok);
  t.deepEqual(b.take("h", 0), { ok: false, retryAfterSeconds: 10 });
  t.deepEqual(b.take("h", 5_500), { ok: false, retryAfterSeconds: 5 });
  t.deepEqual(b.take("h", 9_999), { ok: false, retryAfterSeconds: 1 });
  t.true(b.take("h", 10_000).ok);
});

test("a clock that goes back gives no tokens", (t) => {
  const b = tokenBucket({ ratePerSecond: 1, burst: 1 });
  t.true(b.take("h", 10_000).ok);
  t.false(b.take("h", 0).ok);
  t.false(b.take("h", 10_500).ok);
  t.true(b.take("h", 11_000).ok);
});

test("memory is bounded: buckets that are full again are dropped first", (t) => {
  const b = tokenBucket({ ratePerSecond: 1, burst: 2, maxKeys: 100 });
  t.true(b.take("busy", 0).ok);
  t.true(b.take("busy", 0).ok);
  for (let i = 0; i < 99; i++) b.take(`idle-${i}`, 0);
  t.is(b.size, 100);
  // At 1.5 s the idle buckets (1 token + 1.5) are full, the busy one (0 + 1.5) is not.
  t.true(b.take("new", 1500).ok);
  t.is(b.size, 2);
  t.true(b.take("busy", 1500).ok);
  t.false(b.take("busy", 1500).ok, "the busy key kept its state");
});

test("memory is bounded: past maxKeys, the least recently used go, down to 90 %", (t) => {
  const b = tokenBucket({ ratePerSecond: 1, burst: 1, maxKeys: 10 });
  for (let i = 0; i < 10; i++) t.true(b.take(`k${i}`, 0).ok);
  t.true(b.take("k0", 0).ok === false, "k0 used again: now the most recent");
  t.true(b.take("k10", 0).ok);
  t.is(b.size, 9);
  t.false(b.take("k0", 0).ok, "k0 kept (recent) and still empty");
  t.true(b.take("k1", 0).ok, "k1 was the oldest: dropped, so it starts full");
  for (let i = 0; i < 10_000; i++) b.take(`flood-${i}`, 0);
  t.true(b.size <= 10, String(b.size));
});

test("bad options are KeyProviderConfigError naming the option", (t) => {
  for (const [o, field] of [
    [{ ratePerSecond: 0, burst: 1 }, "ratePerSecond"],
    [{ ratePerSecond: Number.NaN, burst: 1 }, "ratePerSecond"],
    [{ ratePerSecond: 1, burst: 0.5 }, "burst"],
    [{ ratePerSecond: 1, burst: 1, maxKeys: 0 }, "maxKeys"],
  ] as const) {
    const e = t.throws(() => tokenBucket(o), { instanceOf: KeyProviderConfigError });
    t.is(e?.field, field);
    t.is(e?.code, "CONFIG_INVALID");
  }
});
