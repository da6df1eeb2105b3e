/**
 * The status event bus and the cluster watcher over a real SQLite store: a change written by "another node"
 * (straight into the store) is published once, a host going stale with time is published, a removed host
 * becomes unknown, and a local publication during a poll is not undone by that poll's older reading.
 */
import test from "ava";
import type { StatusEvent } from "./deps.ts";
import { createStatusEvents, watchClusterStatus } from "./events.ts";
import { adminHarness, type AdminHarness } from "./routes/admin_test_support.ts";
import type { AttestationRecord, AttestdStore } from "./store/store.ts";

let h: AdminHarness;

test.before(async () => {
  h = await adminHarness();
});

test.after.always(async () => {
  await h?.close();
});

function attempt(host: string, status: "affirming" | "contraindicated", at: number, tokenLifetimeMs = 600_000): AttestationRecord {
  return {
    id: `${host}-${at}-${Math.random()}`,
    host,
    at,
    status,
    failures: status === "affirming" ? [] : [{ check: "log-replay", detail: "PCR 4 does not replay", pcr: 4 }],
    ...(status === "affirming" ? { tokenId: "t", tokenExpiresAt: at + tokenLifetimeMs } : {}),
  };
}

function record(bus: ReturnType<typeof createStatusEvents>): string[] {
  const seen: string[] = [];
  bus.subscribe((e: StatusEvent) => seen.push(`${e.host}:${e.previous}->${e.status}`));
  return seen;
}

test("the bus calls every subscriber; one that throws does not stop the others; unsubscribe stops delivery", (t) => {
  const bus = createStatusEvents();
  const a: string[] = [];
  const b: string[] = [];
  const offA = bus.subscribe((e) => a.push(e.host));
  bus.subscribe(() => {
    throw new Error("a broken subscriber");
  });
  bus.subscribe((e) => b.push(e.host));
  t.is(bus.subscribers, 3);
  bus.publish({ host: "h1", status: "red", previous: "green", at: 1, message: "x" });
  offA();
  bus.publish({ host: "h2", status: "red", previous: "green", at: 2, message: "x" });
  t.deepEqual(a, ["h1"]);
  t.deepEqual(b, ["h1", "h2"]);
  t.is(bus.subscribers, 2);
});

test.serial("the watcher publishes what another node changed, once; the first read is the baseline", async (t) => {
  const now = Date.now();
  await h.store.addAttestation(attempt("w1.example", "affirming", now));
  const bus = createStatusEvents();
  const seen = record(bus);
  const watcher = watchClusterStatus({ store: h.store, events: bus, clock: h.clock, intervalMs: 3_600_000 });
  try {
    t.is(await watcher.poll(), 0, "baseline");
    await h.store.addAttestation(attempt("w1.example", "contraindicated", now + 1));
    await h.store.addAttestation(attempt("w2.example", "affirming", now + 1));
    t.is(await watcher.poll(), 2);
    t.deepEqual(seen.sort(), ["w1.example:green->red", "w2.example:unknown->green"]);
    t.is(await watcher.poll(), 0, "nothing new, nothing published");
    await h.store.removeHost("w2.example");
    await watcher.poll();
    t.is(seen.at(-1), "w2.example:green->unknown");
  } finally {
    watcher.stop();
  }
  t.is(bus.subscribers, 1, "stop() unsubscribes the watcher");
});

test.serial("a token that expires turns the host stale, and the watcher says so (no request causes it)", async (t) => {
  const now = h.clock.now();
  await h.store.addAttestation(attempt("s1.example", "affirming", now, 5_000));
  const bus = createStatusEvents();
  const seen = record(bus);
  const watcher = watchClusterStatus({ store: h.store, events: bus, clock: h.clock, intervalMs: 3_600_000 });
  try {
    await watcher.poll();
    h.clock.skewMs = 10_000;
    await watcher.poll();
    t.true(seen.includes("s1.example:green->stale"), seen.join(" "));
  } finally {
    h.clock.skewMs = 0;
    watcher.stop();
  }
});

test.serial("a local publication during a poll wins over that poll's older reading", async (t) => {
  const now = Date.now();
  await h.store.addAttestation(attempt("r1.example", "contraindicated", now));
  // The store as another node's slow read sees it: the reading is taken, then held until released.
  let release: (() => void) | undefined;
  let reading: Promise<unknown> | undefined;
  const slow: AttestdStore = Object.create(h.store, {
    listHostStatus: {
      value: async (at: number) => {
        const statuses = await h.store.listHostStatus(at);
        if (reading !== undefined) await new Promise<void>((r) => (release = r));
        return statuses;
      },
    },
  });
  const bus = createStatusEvents();
  const seen = record(bus);
  const watcher = watchClusterStatus({ store: slow, events: bus, clock: h.clock, intervalMs: 3_600_000 });
  try {
    await watcher.poll();
    reading = watcher.poll();
    while (release === undefined) await new Promise((r) => setTimeout(r, 5));
    // Meanwhile this node attests the host green and publishes it.
    await h.store.addAttestation(attempt("r1.example", "affirming", now + 1));
    bus.publish({ host: "r1.example", status: "green", previous: "red", at: now + 1, message: "affirming" });
    release();
    await reading;
    t.deepEqual(
      seen.filter((s) => s.startsWith("r1.")),
      ["r1.example:red->green"],
      "no spurious green->red from the older reading",
    );
    reading = undefined;
    t.is(await watcher.poll(), 0, "the next reading agrees with what was published");
  } finally {
    watcher.stop();
  }
});

test.serial("the watcher polls by itself at its interval", async (t) => {
  const bus = createStatusEvents();
  const seen = record(bus);
  const watcher = watchClusterStatus({ store: h.store, events: bus, clock: h.clock, intervalMs: 20 });
  try {
    await watcher.poll(); // the baseline
    await h.store.addAttestation(attempt("t1.example", "contraindicated", Date.now()));
    for (let i = 0; i < 250 && !seen.includes("t1.example:unknown->red"); i++) await new Promise((r) => setTimeout(r, 20));
    t.true(seen.includes("t1.example:unknown->red"));
  } finally {
    watcher.stop();
  }
});
