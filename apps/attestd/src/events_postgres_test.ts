/**
 * Two attestd nodes on one real PostgreSQL database: a status change made on node B reaches the SSE
 * subscribers of node A (through A's cluster watcher), whether B changed it by an attestation or by an admin
 * call on B's API; and an admin token of one node is accepted by the other (shared signing keys).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startPostgres, type PostgresCluster } from "@tessera/postgres-testing";
import test from "ava";
import { watchClusterStatus, type ClusterStatusWatcher } from "./events.ts";
import { adminHarness, openSse, type AdminHarness } from "./routes/admin_test_support.ts";

let pg: PostgresCluster;
let dir: string;
let a: AdminHarness;
let b: AdminHarness;
let watcherA: ClusterStatusWatcher;

test.before(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase("attestd_events");
  // One data directory: the nodes of a cluster share the master key that wraps the signing keys.
  dir = await mkdtemp(path.join(os.tmpdir(), "attestd-pg-"));
  a = await adminHarness({ database: url, dataDir: dir });
  b = await adminHarness({ database: url, dataDir: dir });
  watcherA = watchClusterStatus({ store: a.store, events: a.events, clock: a.clock, intervalMs: 100 });
});

test.after.always(async () => {
  watcherA?.stop();
  await a?.close();
  await b?.close();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a status change on node B reaches node A's event stream; so does B removing a host through its API", async (t) => {
  await b.store.putHost({
    host: "x1.example",
    akPublic: new Uint8Array([1]),
    akName: `000b${"cc".repeat(32)}`,
    ekPublic: new Uint8Array([2]),
    ekFingerprint: "dd".repeat(32),
    enrolledAt: Date.now(),
  });
  await b.store.addAttestation({
    id: "a1",
    host: "x1.example",
    at: Date.now(),
    status: "affirming",
    failures: [],
    tokenId: "j1",
    tokenExpiresAt: Date.now() + 600_000,
  });
  await watcherA.poll(); // A's baseline: x1 is green
  const server = await a.serve();
  const readerOfA = await a.readerToken();
  const sse = await openSse(`${server.url}/api/v1/events`, a.caCert, readerOfA);
  t.is(sse.status, 200);
  t.is((await sse.next()).event, "ready");

  // Node B appraises x1 red: its store records the attempt and B's own bus is told (as B's attestation route does).
  const seenOnB: string[] = [];
  b.events.subscribe((e) => seenOnB.push(`${e.host}:${e.status}`));
  await b.store.addAttestation({
    id: "a2",
    host: "x1.example",
    at: Date.now() + 1,
    status: "contraindicated",
    failures: [{ check: "image-unknown", detail: "the kernel is in no accepted image" }],
  });
  b.events.publish({ host: "x1.example", status: "red", previous: "green", at: Date.now(), message: "image-unknown" });
  const next = async (): Promise<{ host: string; status: string; previous: string; message: string }> => {
    for (;;) {
      const e = await sse.next();
      if (e.event === "status") return JSON.parse(e.data ?? "null");
    }
  };
  const red = await next();
  t.like(red, { host: "x1.example", status: "red", previous: "green" });
  t.regex(red.message, /image-unknown/);

  // An administrator removes the host on node B (B's API, B's token).
  const removed = await b.call("DELETE", "/api/v1/hosts/x1.example", undefined, await b.adminToken());
  t.is(removed.status, 200);
  t.like(await next(), { host: "x1.example", status: "unknown", previous: "red" });
  t.deepEqual(seenOnB, ["x1.example:red", "x1.example:unknown"]);
  sse.close();
});

test("an admin token signed in on node A is accepted by node B", async (t) => {
  const token = await a.adminToken();
  const r = await b.call("GET", "/api/v1/whoami", undefined, token);
  t.is(r.status, 200, JSON.stringify(r.json));
  t.is(r.json.subject, "admin");
});
