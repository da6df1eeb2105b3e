import test from "ava";
import { copyFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { KmipResultError } from "@tessera/kmip";
import { loadConfig, ConfigError } from "./config.ts";
import { openSqliteStore, sqliteShared } from "./store/sqlite_store.ts";
import { startTestKmipd, tempDir, V1_4, V2_1, waitFor, storedObject } from "./_test_support.ts";

const dirs: string[] = [];
test.after.always(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dbFile(): Promise<string> {
  const dir = await tempDir();
  dirs.push(dir);
  return path.join(dir, "kmipd.sqlite");
}

const obj = storedObject;

test("two stores sharing a file and a shared block: a change made through one is seen through the other's cache", async (t) => {
  const file = await dbFile();
  const shared = sqliteShared();
  const a = openSqliteStore(file, { shared });
  const b = openSqliteStore(file, { shared, checkpointer: false });
  try {
    const o = obj();
    await a.insert(o);
    t.is((await b.get(o.id))?.state, 1, "b reads the object and caches it");
    t.is((await a.get(o.id))?.state, 1);
    await b.update({ ...o, state: 2, grants: ["CN=bob"] });
    t.is((await a.get(o.id))?.state, 2, "a's cached copy was replaced after b's commit");
    t.deepEqual((await a.get(o.id))?.grants, ["CN=bob"]);
    await a.update({ ...o, state: 5, material: null });
    t.is((await b.get(o.id))?.state, 5);
    t.is((await b.get(o.id))?.material, null);
    await b.delete(o.id);
    t.is(await a.get(o.id), undefined, "a deleted object is gone from the other cache too");
  } finally {
    await b.close();
    await a.close();
  }
});

test("without a shared block, two stores on one file would serve a stale cache (the block is what keeps them exact)", async (t) => {
  // The negative control of the test above: it shows that test can fail.
  const file = await dbFile();
  const a = openSqliteStore(file);
  const b = openSqliteStore(file, { checkpointer: false });
  try {
    const o = obj();
    await a.insert(o);
    await a.get(o.id);
    await b.update({ ...o, state: 2 });
    t.is((await a.get(o.id))?.state, 1);
  } finally {
    await b.close();
    await a.close();
  }
});

test("writes through two stores sharing a file interleave; every answered write is there after reopening", async (t) => {
  const file = await dbFile();
  const shared = sqliteShared();
  const a = openSqliteStore(file, { shared });
  const b = openSqliteStore(file, { shared, checkpointer: false });
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: 300 }, (_, i) => {
      const o = obj({ names: [`n${i}`] });
      ids.push(o.id);
      return (i % 2 ? a : b).insert(o);
    }),
  );
  await b.close();
  await a.close();
  const c = openSqliteStore(file);
  try {
    for (const id of ids) t.truthy(await c.get(id), id);
    t.is((await c.list("CN=alice")).length, 300);
  } finally {
    await c.close();
  }
});

test("the checkpointer copies committed objects into the database file itself, off the committing thread", async (t) => {
  const file = await dbFile();
  const store = openSqliteStore(file);
  try {
    const os = Array.from({ length: 200 }, () => obj());
    await Promise.all(os.map((o) => store.insert(o)));
    // The database file alone (without its WAL) holds them once a checkpoint ran.
    const copy = `${file}.copy`;
    await waitFor(
      async () => {
        await copyFile(file, copy);
        await rm(`${copy}-wal`, { force: true });
        const db = new DatabaseSync(copy, { readOnly: true });
        try {
          return (db.prepare("SELECT count(*) AS n FROM objects").get() as { n: number }).n === 200;
        } catch {
          return false; // not even the table yet
        } finally {
          db.close();
        }
      },
      5_000,
      "the objects to reach the database file",
    );
    t.pass();
  } finally {
    await store.close();
  }
});

test("the audit log is a database of its own beside the objects", async (t) => {
  const file = await dbFile();
  const store = openSqliteStore(file);
  try {
    await store.audit([{ at: 1, identity: "CN=alice", operation: "Get", objectId: "x", result: "Success" }]);
    t.true(existsSync(file.replace(/\.sqlite$/, "-audit.sqlite")));
    t.deepEqual(await store.auditLog(), [{ at: 1, identity: "CN=alice", operation: "Get", objectId: "x", result: "Success" }]);
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      t.is((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'audit'").get() as { n: number }).n, 0);
    } finally {
      db.close();
    }
  } finally {
    await store.close();
  }
});

test("--threads: default is the CPUs less one (1 to 4); a bad value is refused naming the flag", (t) => {
  const c = loadConfig([], {});
  t.is(c.threads, Math.max(1, Math.min(availableParallelism() - 1, 4)));
  t.is(loadConfig(["--threads", "3"], {}).threads, 3);
  t.is(loadConfig([], { KMIPD_THREADS: "2" }).threads, 2);
  for (const bad of ["0", "-1", "1.5", "x", "65", ""]) {
    const e = t.throws(() => loadConfig([`--threads=${bad}`], {}), { instanceOf: ConfigError });
    t.is(e?.field, "threads");
  }
});

test("kmipd --threads 2: clients on 32 connections (both threads) see one state, and every operation is audited once", async (t) => {
  const k = await startTestKmipd({ threads: 2 });
  try {
    const clients = Array.from({ length: 32 }, (_, i) => k.client(i % 2 ? V1_4 : V2_1));
    const id = await clients[0].create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt" });
    // Every connection reads it, so each serving thread has it in its cache.
    for (const c of clients) t.is((await c.get(id)).length, 256);
    await clients[1].activate(id);
    for (const c of clients) t.is((await c.getAttributes(id, ["State"])).get("State")?.[0]?.value, 2);
    await clients[2].revoke(id, "CessationOfOperation");
    await clients[3].destroy(id);
    for (const c of clients) {
      const e = await t.throwsAsync(c.get(id), { instanceOf: KmipResultError });
      t.true(["ItemNotFound", "ObjectDestroyed", "ObjectNotFound"].includes(e!.reason), e!.reason);
    }
    // Creates on every connection at once: all answered, all distinct, all there.
    const ids = await Promise.all(clients.map((c) => c.create({ algorithm: "AES", length: 128 })));
    t.is(new Set(ids).size, 32);
    for (const [i, c] of clients.entries()) t.is((await c.get(ids[(i + 7) % 32])).length, 128);
    const operations = 1 + 32 + 1 + 32 + 1 + 1 + 32 + 32 + 32;
    await waitFor(async () => (await k.kmipd.store.auditLog(10_000)).length >= operations, 5_000, "every audit record");
    t.is((await k.kmipd.store.auditLog(10_000)).length, operations, "each operation audited exactly once");
    await waitFor(() => k.audit.length >= operations, 5_000, "the audit hook to hear from both threads");
    t.is(k.audit.length, operations);
  } finally {
    await k.close();
  }
});

test("the read cache evicts its oldest entries in bulk and stays exact: every object reads back as last written", async (t) => {
  const file = await dbFile();
  const store = openSqliteStore(file, { cacheSize: 16 });
  try {
    const os = Array.from({ length: 100 }, (_, i) => obj({ names: [`k${i}`] }));
    for (const o of os) await store.insert(o);
    for (const o of os.filter((_, i) => i % 3 === 0)) await store.update({ ...o, state: 2 });
    for (const [i, o] of os.entries()) {
      const got = await store.get(o.id);
      t.is(got?.state, i % 3 === 0 ? 2 : 1, o.id);
      t.deepEqual(got?.names, [`k${i}`]);
    }
  } finally {
    await store.close();
  }
});

test("a WAL sync whose thread never finishes it (a thread gone mid-sync) does not hold writes for ever", async (t) => {
  const file = await dbFile();
  const shared = sqliteShared();
  // Word 1 of the shared block is the "sync in flight" flag (SYNC_BUSY in sqlite_store.ts): set, as a thread
  // that died while syncing would leave it.
  Atomics.store(new Int32Array(shared), 1, 1);
  const store = openSqliteStore(file, { shared });
  try {
    const o = obj();
    // Held for ever, the insert would never settle and the test would fail by its timeout.
    await store.insert(o);
    t.truthy(await store.get(o.id));
  } finally {
    await store.close();
  }
});

test("a serving thread that stops unexpectedly is replaced, and kmipd goes on answering on its port", async (t) => {
  const k = await startTestKmipd({ threads: 2 });
  try {
    const [thread] = k.kmipd.servingThreads;
    t.truthy(thread);
    const before = thread.threadId;
    await thread.crash();
    t.not(thread.threadId, before, "a new worker thread");
    t.is(thread.replacements, 1);
    // New connections, spread over both threads again, are all answered.
    const clients = Array.from({ length: 16 }, () => k.client(V2_1));
    const ids = await Promise.all(clients.map((c) => c.create({ algorithm: "AES", length: 128 })));
    t.is(new Set(ids).size, 16);
    for (const [i, c] of clients.entries()) t.is((await c.get(ids[(i + 5) % 16])).length, 128);
  } finally {
    await k.close();
  }
});
