/**
 * The token rule of the host status book, on its own (it is pure): a token is refused when the host's latest
 * status is not green and began at or after iat − 1 s, and a token issued before the host's last non-green status
 * stays refused once the host is green again; snapshots after a reconnection, removed hosts, stale. A model-based
 * property checks the rule against random event sequences. The watcher over a real attestd is in host_test.ts.
 */
import test from "ava";
import fc from "fast-check";
import type { AttestdHostStatus } from "./attestd_client.ts";
import { HostStatusBook, IAT_TOLERANCE_MS } from "./host_status.ts";

const S = 1000;

test("a host attestd never mentioned: the token alone decides", (t) => {
  t.deepEqual(new HostStatusBook().check("h1", 100), { ok: true });
});

test("red after the token was issued: refused, naming the status, time and message", (t) => {
  const book = new HostStatusBook();
  book.applyEvent({ host: "h1", status: "green", at: 100 * S });
  t.deepEqual(book.check("h1", 100), { ok: true });
  book.applyEvent({ host: "h1", status: "red", previous: "green", at: 150 * S + 400, message: "image-unknown" });
  t.deepEqual(book.check("h1", 100), { ok: false, status: "red", at: 150 * S + 400, message: "image-unknown" });
  t.deepEqual(book.check("h2", 100), { ok: true }, "another host is not affected");
});

test("the same second cannot be ordered: a token issued within a second of the red is refused, one issued later is not", (t) => {
  const book = new HostStatusBook();
  book.applyEvent({ host: "h1", status: "red", at: 200 * S + 500 });
  t.false(book.check("h1", 200).ok);
  t.false(book.check("h1", 201).ok, "iat 201 s: 201 000 − 1000 ≤ 200 500");
  t.true(book.check("h1", 202).ok, "issued after the red (a new green attestation whose event is on its way)");
});

test("green again: the new token is good, a token from before the red stays refused", (t) => {
  const book = new HostStatusBook();
  book.applyEvent({ host: "h1", status: "green", at: 100 * S });
  book.applyEvent({ host: "h1", status: "red", at: 150 * S, message: "log-replay" });
  book.applyEvent({ host: "h1", status: "green", at: 160 * S });
  t.true(book.check("h1", 160).ok);
  t.deepEqual(book.check("h1", 100), { ok: false, status: "red", at: 150 * S, message: "log-replay" });
  t.true(book.check("h1", 149).ok, "within the tolerance of the red, and the host is green: not refused");
});

test("stale and removed (unknown) count as not green", (t) => {
  const book = new HostStatusBook();
  book.applyEvent({ host: "s", status: "stale", at: 300 * S });
  book.applyEvent({ host: "u", status: "unknown", previous: "green", at: 300 * S, message: "host removed" });
  t.false(book.check("s", 250).ok);
  t.like(book.check("u", 250), { ok: false, status: "unknown", message: "host removed" });
});

test("a snapshot after a reconnection: listed statuses apply, a host no longer listed is removed as of the snapshot", (t) => {
  const book = new HostStatusBook();
  book.applyEvent({ host: "gone", status: "green", at: 100 * S });
  book.applyEvent({ host: "kept", status: "red", at: 100 * S });
  book.applySnapshot({
    at: 500 * S,
    hosts: [
      { host: "kept", status: "red", at: 400 * S, message: "red again while kmxd was away" },
      { host: "new", status: "red", at: 450 * S },
      { host: "fresh", status: "unknown" },
    ],
  });
  t.like(book.check("gone", 400), { ok: false, status: "unknown", at: 500 * S });
  t.like(book.check("kept", 300), { ok: false, at: 400 * S }, "the later red's time counts, not the one kmxd had");
  t.false(book.check("new", 440).ok);
  t.like(book.check("fresh", 499), { ok: false, at: 500 * S }, "a listed status without a time counts from the snapshot");
  // The same snapshot again changes nothing.
  book.applySnapshot({ at: 600 * S, hosts: [{ host: "kept", status: "red", at: 400 * S }] });
  t.is(book.get("kept")?.at, 400 * S);
});

const statusArb = fc.constantFrom<AttestdHostStatus>("green", "red", "stale", "unknown");

test("property: the book refuses exactly by the rule, for any sequence of events", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ status: statusArb, dt: fc.integer({ min: 0, max: 5000 }) }), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 0, max: 200 }),
      (events, iat) => {
        const book = new HostStatusBook();
        let at = 0;
        let lastBad: number | undefined;
        let last: { status: AttestdHostStatus; at: number } = { status: "green", at: 0 };
        for (const e of events) {
          at += e.dt;
          book.applyEvent({ host: "h", status: e.status, at });
          last = { status: e.status, at };
          if (e.status !== "green") lastBad = at;
        }
        const iatMs = iat * 1000;
        const expected = !((last.status !== "green" && last.at >= iatMs - IAT_TOLERANCE_MS) || (lastBad !== undefined && lastBad > iatMs + IAT_TOLERANCE_MS));
        return book.check("h", iat).ok === expected;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});
