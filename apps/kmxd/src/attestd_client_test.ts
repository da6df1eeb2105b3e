/**
 * kmxd's client of attestd against a real attestd process (HTTPS with the CA attestd made on first start): the
 * JWKS cached and refetched at most once per interval, TLS trust, the admin sign-in, the event stream's snapshot
 * on connect and its reconnection; and, on their own, the server-sent events parser and the parsers of attestd's
 * answers (fast-check: any chunking gives the same events; any input gives events or a typed error).
 */
import test from "ava";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Attestd, eventually, startAttestd } from "./_host_test_support.ts";
import { AttestdError, type AttestdSnapshot, createAttestdClient, parseHostList, parseStatusEvent, SseParser } from "./attestd_client.ts";

let dir: string;
let attestd: Attestd;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxd-attestd-client-"));
  attestd = await startAttestd(path.join(dir, "attestd"));
});

test.after.always(async () => {
  await attestd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("the JWKS is fetched once and cached; the first refresh() fetches, a second within the interval is the cached set", async (t) => {
  const client = createAttestdClient({ url: attestd.url, ca: attestd.ca, jwksMinRefreshMs: 60_000 });
  const first = await client.get();
  t.true(first.keys.length >= 1);
  t.true(first.keys.every((k) => typeof k.kid === "string" && !("d" in k)));
  t.is(await client.get(), first, "cached");
  // A token under a kid the cache lacks right after attestd rotated: the refresh it asks for fetches at once.
  const refreshed = await client.refresh();
  t.not(refreshed, first, "the first refresh fetches");
  t.deepEqual(refreshed, first);
  t.is(await client.refresh(), refreshed, "a refresh within the interval does not fetch");
  const eager = createAttestdClient({ url: attestd.url, ca: attestd.ca, jwksMinRefreshMs: 0 });
  const a = await eager.get();
  const b = await eager.refresh();
  t.not(b, a, "fetched again");
  t.deepEqual(b, a, "the same keys");
  // Concurrent refreshes share one fetch.
  const [c1, c2] = await Promise.all([eager.refresh(), eager.refresh()]);
  t.is(c1, c2);
});

test.serial("attestd's TLS is checked against --attestd-ca: another CA is ATTESTD_UNREACHABLE naming the request", async (t) => {
  const other = await startAttestd(path.join(dir, "other"));
  try {
    const client = createAttestdClient({ url: attestd.url, ca: other.ca });
    const e = await t.throwsAsync(client.get(), { instanceOf: AttestdError });
    t.is(e.code, "ATTESTD_UNREACHABLE");
    t.true(e.message.includes(`GET ${attestd.url}/.well-known/jwks.json`), e.message);
  } finally {
    await other.stop();
  }
});

test.serial("an unreachable attestd is not asked again within the interval: the same failure is answered", async (t) => {
  const client = createAttestdClient({ url: "https://127.0.0.1:1", ca: attestd.ca, jwksMinRefreshMs: 60_000 });
  const first = await t.throwsAsync(client.get(), { instanceOf: AttestdError });
  t.is(first.code, "ATTESTD_UNREACHABLE");
  t.is(await t.throwsAsync(client.refresh()), first, "no second connection attempt");
  t.is(await t.throwsAsync(client.get()), first);
  const eager = createAttestdClient({ url: "https://127.0.0.1:1", ca: attestd.ca, jwksMinRefreshMs: 0 });
  const e1 = await t.throwsAsync(eager.get());
  t.not(await t.throwsAsync(eager.get()), e1, "past the interval: a new attempt");
});

test.serial("sign-in: the admin token is reused while it has time left; a wrong password is ATTESTD_REFUSED 401; no account is refused", async (t) => {
  const client = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "admin", password: attestd.password } });
  const token = await client.adminToken();
  t.is(await client.adminToken(), token);
  const who = await attestd.call("GET", "/api/v1/whoami", undefined, token);
  t.is(who.status, 200);
  t.is(who.json.subject, "admin");
  // A client whose clock says the token has less than a minute left signs in again.
  let skew = 0;
  const late = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "admin", password: attestd.password }, clock: { now: () => Date.now() + skew } });
  const t1 = await late.adminToken();
  skew = 3600_000;
  t.not(await late.adminToken(), t1);
  // Another user: attestd holds a user after ten failed sign-ins from one address, and the other tests sign in as admin.
  const wrong = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "nobody", password: "not it" } });
  const e = await t.throwsAsync(wrong.adminToken(), { instanceOf: AttestdError });
  t.is(e.code, "ATTESTD_REFUSED");
  t.is(e.status, 401);
  const none = createAttestdClient({ url: attestd.url, ca: attestd.ca });
  t.is((await t.throwsAsync(none.adminToken(), { instanceOf: AttestdError })).code, "ATTESTD_REFUSED");
});

test.serial("watch: connected with the host list; without an account or with a wrong password it stays disconnected and says why", async (t) => {
  const client = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "admin", password: attestd.password } });
  let snapshot: AttestdSnapshot | undefined;
  const stop = client.watch({ connected: (s) => (snapshot = s), event: () => {}, disconnected: () => {} });
  try {
    const s = await eventually("connected", async () => snapshot);
    t.deepEqual(s.hosts, [], "a new attestd has no hosts");
    t.true(Math.abs(s.at - Date.now()) < 60_000, "the snapshot time is attestd's ready time");
  } finally {
    stop();
    client.close();
  }
  const reasons: Error[] = [];
  createAttestdClient({ url: attestd.url, ca: attestd.ca }).watch({ connected: () => t.fail(), event: () => t.fail(), disconnected: (e) => reasons.push(e) });
  t.is(reasons.length, 1);
  t.regex(reasons[0]!.message, /no attestd account/);
  const wrong = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "nobody-either", password: "not it" }, reconnect: { initialMs: 10, maxMs: 50 } });
  const refused: Error[] = [];
  const stopWrong = wrong.watch({ connected: () => t.fail("connected with a wrong password"), event: () => {}, disconnected: (e) => refused.push(e) });
  try {
    await eventually("retried", async () => (refused.length >= 3 ? true : undefined));
    t.is((refused[0] as AttestdError).status, 401);
    t.true(refused.every((e) => e instanceof AttestdError && e.code === "ATTESTD_REFUSED"));
  } finally {
    stopWrong();
    wrong.close();
  }
});

test.serial("a silent stream is dropped and reopened (idle timeout), and an attestd restart is survived: disconnected, then connected again", async (t) => {
  const client = createAttestdClient({ url: attestd.url, ca: attestd.ca, account: { user: "admin", password: attestd.password }, idleTimeoutMs: 300, reconnect: { initialMs: 20, maxMs: 200 } });
  const log: string[] = [];
  const stop = client.watch({ connected: () => log.push("connected"), event: () => {}, disconnected: (e) => log.push(`disconnected: ${e.message}`) });
  try {
    // attestd's keep-alive comes every 15 s: with 300 ms of allowed silence the stream is dropped and reopened.
    await eventually("dropped for silence and reconnected", async () => (log.filter((l) => l === "connected").length >= 2 ? true : undefined));
    t.true(log.some((l) => /silent for 300 ms/.test(l)), log.join("\n"));
    const port = attestd.port;
    await attestd.stop();
    const mark = log.length;
    await eventually("disconnected while attestd is down", async () => (log.slice(mark).some((l) => l.startsWith("disconnected")) ? true : undefined));
    attestd = await startAttestd(attestd.dataDir, port);
    const mark2 = log.length;
    await eventually("connected to the restarted attestd", async () => (log.slice(mark2).includes("connected") ? true : undefined), 60_000);
    t.pass();
  } finally {
    stop();
    client.close();
  }
});

/** Serializes events as attestd's stream does, with a line ending of choice and comments in between. */
function serialize(events: { type: string; data: string }[], eol: string): string {
  return events.map((e) => `: keep-alive${eol}event: ${e.type}${eol}${e.data.split("\n").map((l) => `data: ${l}`).join(eol)}${eol}id: 1${eol}${eol}`).join("");
}

test("SSE parser: any chunking and any line ending give the same events, in order; comments and ids are not events", (t) => {
  const eventArb = fc.record({
    type: fc.stringMatching(/^[a-z]{1,10}$/),
    data: fc.array(fc.string({ unit: "grapheme-ascii" }).filter((s) => !/[\r\n]/.test(s)), { minLength: 1, maxLength: 3 }).map((ls) => ls.join("\n")),
  });
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 6 }), fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(), { maxLength: 10 }), (events, eol, cuts) => {
      const text = serialize(events, eol);
      const got: { type: string; data: string }[] = [];
      const parser = new SseParser((type, data) => got.push({ type, data }));
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      let from = 0;
      for (const p of [...points, text.length]) {
        parser.push(text.slice(from, p));
        from = p;
      }
      return JSON.stringify(got) === JSON.stringify(events);
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test("SSE parser: an event over 1 MiB is refused (ATTESTD_MALFORMED), not buffered without end", (t) => {
  const parser = new SseParser(() => t.fail());
  const e = t.throws(() => {
    for (let i = 0; i < 20; i++) parser.push(`data: ${"x".repeat(100_000)}\n`);
  });
  t.true(e instanceof AttestdError && e.code === "ATTESTD_MALFORMED");
});

test("attestd's answers: a status event and a host list parse; anything else is ATTESTD_MALFORMED, never another error", (t) => {
  t.deepEqual(parseStatusEvent(JSON.stringify({ host: "h1", status: "red", previous: "green", at: "2026-01-01T00:00:00.000Z", message: "image-unknown" })), {
    host: "h1",
    status: "red",
    previous: "green",
    at: Date.parse("2026-01-01T00:00:00.000Z"),
    message: "image-unknown",
  });
  t.deepEqual(
    parseHostList({
      hosts: [
        { host: "g", status: "green", lastAttempt: "2026-01-01T00:00:01.000Z", tokenExpiresAt: "2026-01-01T00:10:01.000Z" },
        { host: "s", status: "stale", lastAttempt: "2026-01-01T00:00:00.000Z", tokenExpiresAt: "2026-01-01T00:10:00.000Z", message: "token expired" },
        { host: "u", status: "unknown", message: "enrolled, not attested yet" },
      ],
      summary: {},
    }),
    [
      { host: "g", status: "green", at: Date.parse("2026-01-01T00:00:01.000Z") },
      { host: "s", status: "stale", at: Date.parse("2026-01-01T00:10:00.000Z"), message: "token expired" },
      { host: "u", status: "unknown", message: "enrolled, not attested yet" },
    ],
    "a stale host counts from its token's expiry",
  );
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      try {
        parseStatusEvent(text);
      } catch (e) {
        if (!(e instanceof AttestdError) || e.code !== "ATTESTD_MALFORMED") return false;
      }
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        v = text;
      }
      try {
        parseHostList(v);
      } catch (e) {
        if (!(e instanceof AttestdError) || e.code !== "ATTESTD_MALFORMED") return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
