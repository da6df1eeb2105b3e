import test from "ava";
import fc from "fast-check";
import { timeOfOrdered, timeOrderedBytes, uuidV7 } from "./time_ordered.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const uuidBytes = (u: string): Uint8Array => Uint8Array.from(Buffer.from(u.replaceAll("-", ""), "hex"));

test("uuidV7: the RFC 9562 layout (version 7, variant 10) with the given time in its first 48 bits", (t) => {
  const at = Date.UTC(2026, 11, 4, 10, 0, 0, 123);
  const u = uuidV7(at);
  t.regex(u, UUID_V7);
  t.is(timeOfOrdered(uuidBytes(u)), at);
  // RFC 9562 Appendix A.6's example time, 0x017F22E279B0, is 1645557742000 ms.
  t.true(uuidV7(1645557742000).startsWith("017f22e2-79b0-7"));
});

test("uuidV7 and timeOrderedBytes: any time in range round-trips, and a later time sorts after (as strings and as bytes)", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 48 - 2 }), fc.integer({ min: 1, max: 2 ** 20 }), (ms, later) => {
      const b = Math.min(ms + later, 2 ** 48 - 1);
      const u1 = uuidV7(ms);
      const u2 = uuidV7(b);
      if (!UUID_V7.test(u1) || !UUID_V7.test(u2)) return false;
      if (timeOfOrdered(uuidBytes(u1)) !== ms || timeOfOrdered(uuidBytes(u2)) !== b) return false;
      const n1 = Buffer.from(timeOrderedBytes(32, ms)).toString("hex");
      const n2 = Buffer.from(timeOrderedBytes(32, b)).toString("hex");
      return u1 < u2 && n1 < n2 && n1.length === 64;
    }),
  );
  t.pass("fc.assert throws with the counterexample if the property fails");
});

test("timeOrderedBytes and uuidV7: values made in the same millisecond differ (the random part is fresh each time)", (t) => {
  const at = Date.now();
  const ids = new Set<string>();
  const nonces = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    ids.add(uuidV7(at));
    nonces.add(Buffer.from(timeOrderedBytes(32, at)).toString("hex"));
  }
  t.is(ids.size, 5000);
  t.is(nonces.size, 5000);
  // The random part is not constant per position: every byte after the prefix takes many values.
  const values = Array.from({ length: 26 }, () => new Set<number>());
  for (const n of nonces) Buffer.from(n, "hex").subarray(6).forEach((v, i) => values[i].add(v));
  t.true(values.every((s) => s.size > 200), "each random byte of 5,000 nonces took more than 200 of 256 values");
});

test("timeOrderedBytes and uuidV7: a time outside 0..2^48-1 ms or a length with no random part is a RangeError saying which", (t) => {
  for (const bad of [-1, 1.5, 2 ** 48, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => uuidV7(bad), { instanceOf: RangeError, message: /whole milliseconds from 0 to 2\^48-1/ });
    t.throws(() => timeOrderedBytes(32, bad), { instanceOf: RangeError, message: /whole milliseconds/ });
  }
  for (const bad of [0, 6, 2.5]) t.throws(() => timeOrderedBytes(bad), { instanceOf: RangeError, message: /more than 6 bytes/ });
  t.throws(() => timeOfOrdered(new Uint8Array(5)), { instanceOf: RangeError, message: /at least 6 bytes/ });
  t.is(timeOfOrdered(timeOrderedBytes(7, 2 ** 48 - 1)), 2 ** 48 - 1);
});
