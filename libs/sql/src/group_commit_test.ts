import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { postgresForTests } from "@tessera/postgres-testing";
import { groupCommit, openDatabase, SqlError, type Db } from "./mod.ts";

const dirs: string[] = [];
const opened: Db[] = [];

test.after.always(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
// After the hook above: the connections close before the server stops.
const pg = postgresForTests(test);

/** A fresh SQLite file; `again()` opens a second connection to it. */
async function sqlite(): Promise<{ db: Db; again(): Promise<Db> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "tessera-gc-"));
  dirs.push(dir);
  const file = path.join(dir, "test.sqlite");
  const open = async (): Promise<Db> => {
    const db = await openDatabase({ sqlite: file });
    opened.push(db);
    return db;
  };
  const db = await open();
  await db.exec("CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  return { db, again: open };
}

async function postgres(): Promise<Db> {
  const db = await openDatabase({ postgres: await pg.createDatabase() });
  opened.push(db);
  await db.exec("CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
  return db;
}

/** `db` itself, counting the top-level transactions begun through it (each one BEGIN … COMMIT). */
function counting(db: Db): { db: Db; transactions: () => number } {
  let n = 0;
  const wrapped: Db = {
    dialect: db.dialect,
    query: (sql, params) => db.query(sql, params),
    run: (sql, params) => db.run(sql, params),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => {
      n++;
      return db.transaction(fn);
    },
    close: () => db.close(),
  };
  return { db: wrapped, transactions: () => n };
}

const insert =
  (id: number, v = `v${id}`) =>
  async (tx: Db): Promise<number> => {
    await tx.run("INSERT INTO w (id, v) VALUES ($1, $2)", [id, v]);
    return id;
  };

const ids = async (db: Db): Promise<number[]> => (await db.query<{ id: number }>("SELECT id FROM w ORDER BY id")).map((r) => r.id);

test("SQLite: the writes of one turn share one transaction, and each caller is answered only once its row is committed", async (t) => {
  const { db, again } = await sqlite();
  const reader = await again();
  const c = counting(db);
  const group = groupCommit(c.db);
  const seen: boolean[] = [];
  const writes = Array.from({ length: 20 }, (_, i) =>
    group.run(insert(i)).then(async (v) => {
      // Read on another connection (outside the writer's transaction): committed, not merely written.
      seen[v] = (await reader.query("SELECT id FROM w WHERE id = $1", [v])).length === 1;
      return v;
    }),
  );
  t.deepEqual(
    await Promise.all(writes),
    Array.from({ length: 20 }, (_, i) => i),
    "each caller gets its own result",
  );
  t.is(c.transactions(), 1, "one transaction (one COMMIT) for the 20 writes");
  t.deepEqual(
    seen,
    Array.from({ length: 20 }, () => true),
  );
});

test("SQLite: writes arriving while a group commits form the next group, which runs after it", async (t) => {
  const { db } = await sqlite();
  const c = counting(db);
  const group = groupCommit(c.db);
  const order: string[] = [];
  const first = Array.from({ length: 5 }, (_, i) =>
    group.run(async (tx) => {
      order.push(`a${i}`);
      return insert(i)(tx);
    }),
  );
  // After the first group's flush (queued first): these arrive while it runs.
  const second = await new Promise<Promise<number>[]>((resolve) =>
    setImmediate(() =>
      resolve(
        Array.from({ length: 5 }, (_, i) =>
          group.run(async (tx) => {
            order.push(`b${i}`);
            return insert(10 + i)(tx);
          }),
        ),
      ),
    ),
  );
  await Promise.all([...first, ...second]);
  t.is(c.transactions(), 2);
  t.deepEqual(order, ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"]);
  t.deepEqual(await ids(db), [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
});

test("SQLite: a write that fails rolls back its own savepoint only; the rest of its group commits", async (t) => {
  const { db } = await sqlite();
  const c = counting(db);
  const group = groupCommit(c.db);
  const boom = new Error("boom");
  const results = await Promise.allSettled([
    group.run(insert(1)),
    group.run(async (tx) => {
      await insert(2)(tx);
      throw boom;
    }),
    group.run(insert(1)), // a duplicate key: SQL_CONSTRAINT
    group.run(insert(3)),
  ]);
  t.is(c.transactions(), 1);
  t.deepEqual(results[0], { status: "fulfilled", value: 1 });
  t.deepEqual(results[1], { status: "rejected", reason: boom });
  t.is(results[2].status === "rejected" ? (results[2].reason as SqlError).code : "fulfilled", "SQL_CONSTRAINT");
  t.deepEqual(results[3], { status: "fulfilled", value: 3 });
  t.deepEqual(await ids(db), [1, 3], "the failed write's row (2) was rolled back with its savepoint");
});

test("SQLite: a COMMIT that fails fails every write of its group, and none of them is stored", async (t) => {
  const { db } = await sqlite();
  // A deferred foreign key is checked at COMMIT: one dangling row makes the whole group's COMMIT fail.
  await db.exec("CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)");
  const group = groupCommit(db);
  const results = await Promise.allSettled([group.run(insert(1)), group.run((tx) => tx.run("INSERT INTO child (p) VALUES (42)")), group.run(insert(2))]);
  for (const r of results) {
    t.is(r.status, "rejected");
    if (r.status === "rejected") t.is((r.reason as SqlError).code, "SQL_CONSTRAINT");
  }
  t.deepEqual(await ids(db), []);
  t.deepEqual(await db.query("SELECT p FROM child"), []);
  // The group commit goes on working after a failed group.
  t.is(await group.run(insert(5)), 5);
  t.deepEqual(await ids(db), [5]);
});

test("SQLite: inside the caller's own transaction (joining, or any transaction of the Db) a write joins it and rolls back with it", async (t) => {
  const { db } = await sqlite();
  const c = counting(db);
  const group = groupCommit(c.db);
  // joining: the explicit way (the wrapper is not the Db the transaction runs on, so only `joining` can tell).
  await c.db.transaction(() => group.joining(async () => t.is(await group.run(insert(1)), 1)));
  await t.throwsAsync(
    c.db.transaction(() =>
      group.joining(async () => {
        await group.run(insert(2));
        throw new Error("the caller's transaction fails");
      }),
    ),
    { message: "the caller's transaction fails" },
  );
  t.deepEqual(await ids(db), [1], "the joined write (2) rolled back with the caller's transaction");
  t.is(c.transactions(), 2, "no group of its own");
  // Without joining, inside a transaction of the same Db: detected, joined (a group would wait for it forever).
  const plain = groupCommit(db);
  await t.throwsAsync(
    db.transaction(async () => {
      t.is(await plain.run(insert(3)), 3);
      t.deepEqual(await ids(db), [1, 3], "visible inside the transaction");
      throw new Error("rolled back");
    }),
  );
  await db.transaction(async () => {
    await plain.run(insert(4));
  });
  t.deepEqual(await ids(db), [1, 4]);
});

test("SQLite: the write lock is taken once per group, before its transaction, and released after its COMMIT", async (t) => {
  const { db, again } = await sqlite();
  const reader = await again();
  const events: string[] = [];
  const group = groupCommit(db, {
    writeLock: async () => {
      events.push("lock");
      return () => {
        events.push("release");
      };
    },
  });
  await Promise.all([1, 2, 3].map((i) => group.run(async (tx) => (events.push(`write ${i}`), insert(i)(tx)))));
  events.push(`committed ${(await reader.query("SELECT id FROM w")).length}`);
  t.deepEqual(events, ["lock", "write 1", "write 2", "write 3", "release", "committed 3"]);
});

test("SQLite: drain resolves once every queued write is committed", async (t) => {
  const { db, again } = await sqlite();
  const reader = await again();
  const group = groupCommit(db);
  await group.drain();
  const writes = Array.from({ length: 10 }, (_, i) => group.run(insert(i)));
  await group.drain();
  t.deepEqual(
    await ids(reader),
    Array.from({ length: 10 }, (_, i) => i),
  );
  await Promise.all(writes);
  await group.drain();
});

test("PostgreSQL: each write is a transaction of its own; a failure rejects that write only; joining nests in the caller's transaction", async (t) => {
  const db = await postgres();
  const c = counting(db);
  const group = groupCommit(c.db);
  const results = await Promise.allSettled([group.run(insert(1)), group.run(insert(1)), group.run(insert(2))]);
  t.is(c.transactions(), 3);
  // The two writes of key 1 run concurrently: exactly one of them wins.
  const ones = results
    .slice(0, 2)
    .map((r) => (r.status === "fulfilled" ? r.value : (r.reason as SqlError).code))
    .sort();
  t.deepEqual(ones, [1, "SQL_CONSTRAINT"]);
  t.deepEqual(results[2], { status: "fulfilled", value: 2 });
  await t.throwsAsync(
    db.transaction(() =>
      group.joining(async () => {
        await group.run(insert(3));
        t.deepEqual(await ids(db), [1, 2, 3]);
        throw new Error("rolled back");
      }),
    ),
  );
  t.deepEqual(await ids(db), [1, 2]);
  await group.drain();
});
