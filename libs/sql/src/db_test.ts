import test from "ava";
import type { ExecutionContext } from "ava";
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { postgresForTests } from "@tessera/postgres-testing";
import { migrate, openDatabase, SqlError, type Db, type Migration } from "./mod.ts";

const dirs: string[] = [];
const opened: Db[] = [];

test.after.always(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
// After the hook above: the connections close before the server stops.
const pg = postgresForTests(test);

async function tempFile(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "tessera-sql-"));
  dirs.push(dir);
  return path.join(dir, "test.sqlite");
}

/** A fresh database of each engine; `again()` opens a second Db (connection / pool) on the same one. */
interface Fresh {
  db: Db;
  again(): Promise<Db>;
}

const ENGINES: { name: string; fresh(): Promise<Fresh> }[] = [
  {
    name: "SQLite",
    async fresh() {
      const file = await tempFile();
      const open = async (): Promise<Db> => {
        const db = await openDatabase({ sqlite: file });
        opened.push(db);
        return db;
      };
      return { db: await open(), again: open };
    },
  },
  {
    name: "PostgreSQL",
    async fresh() {
      const url = await pg.createDatabase();
      const open = async (): Promise<Db> => {
        const db = await openDatabase({ postgres: url });
        opened.push(db);
        return db;
      };
      return { db: await open(), again: open };
    },
  },
];

function contract(title: string, fn: (t: ExecutionContext, f: Fresh) => Promise<void>): void {
  for (const e of ENGINES) test(`${e.name}: ${title}`, async (t) => fn(t, await e.fresh()));
}

const blob = (db: Db): string => (db.dialect === "sqlite" ? "BLOB" : "BYTEA");

contract("bytes, bigint, text and null round-trip as Uint8Array, number, string and null", async (t, { db }) => {
  await db.exec(`CREATE TABLE v (id INTEGER PRIMARY KEY, b ${blob(db)}, n BIGINT, s TEXT, x TEXT)`);
  const bytes = new Uint8Array([0, 1, 127, 128, 255, 0]);
  const rows: [number, Uint8Array | null, number | bigint | null, string | null][] = [
    [1, bytes, Number.MAX_SAFE_INTEGER, "héllo 'quoted' $1 ✓"],
    [2, new Uint8Array(0), -5, ""],
    [3, null, 1_764_000_000_000n, null],
    [4, bytes.subarray(1, 3), 0, "x"],
  ];
  for (const [id, b, n, s] of rows) await db.run("INSERT INTO v (id, b, n, s, x) VALUES ($1, $2, $3, $4, $5)", [id, b, n, s, undefined]);
  const got = await db.query<{ id: number; b: Uint8Array | null; n: number | null; s: string | null; x: null }>("SELECT id, b, n, s, x FROM v ORDER BY id");
  t.deepEqual(got, [
    { id: 1, b: bytes, n: Number.MAX_SAFE_INTEGER, s: "héllo 'quoted' $1 ✓", x: null },
    { id: 2, b: new Uint8Array(0), n: -5, s: "", x: null },
    { id: 3, b: null, n: 1_764_000_000_000, s: null, x: null },
    { id: 4, b: new Uint8Array([1, 127]), n: 0, s: "x", x: null },
  ]);
  t.is(Object.getPrototypeOf(got[0].b), Uint8Array.prototype, "a plain Uint8Array, not a Buffer");
  t.is(typeof got[0].n, "number");
  const [count] = await db.query<{ c: number }>("SELECT count(*) AS c FROM v WHERE b IS NOT NULL");
  t.deepEqual(count, { c: 3 }, "count(*) (int8 on PostgreSQL) is a number");
});

contract("placeholders may repeat and come out of order; $1 inside a string literal is text", async (t, { db }) => {
  const rows = await db.query("SELECT CAST($2 AS TEXT) AS a, CAST($1 AS TEXT) AS b, CAST($2 AS TEXT) AS c, '$1' AS lit", ["one", "two"]);
  t.deepEqual(rows, [{ a: "two", b: "one", c: "two", lit: "$1" }]);
});

contract("run returns how many rows changed; RETURNING rows come back from query", async (t, { db }) => {
  await db.exec("CREATE TABLE r (id INTEGER PRIMARY KEY, used INTEGER NOT NULL DEFAULT 0)");
  for (const id of [1, 2, 3]) await db.run("INSERT INTO r (id) VALUES ($1)", [id]);
  t.deepEqual(await db.run("UPDATE r SET used = 1 WHERE id >= $1", [2]), { changes: 2 });
  t.deepEqual(await db.query("UPDATE r SET used = 1 WHERE id = $1 AND used = 0 RETURNING id", [1]), [{ id: 1 }]);
  t.deepEqual(await db.query("UPDATE r SET used = 1 WHERE id = $1 AND used = 0 RETURNING id", [1]), []);
});

contract("a failing transaction rolls back entirely and passes its error on", async (t, { db }) => {
  await db.exec("CREATE TABLE a (id INTEGER PRIMARY KEY, s TEXT NOT NULL)");
  await db.run("INSERT INTO a (id, s) VALUES (1, 'before')");
  const boom = new Error("boom");
  const e = await t.throwsAsync(
    db.transaction(async (tx) => {
      await tx.run("INSERT INTO a (id, s) VALUES (2, 'inside')");
      await tx.run("UPDATE a SET s = 'changed' WHERE id = 1");
      // Code that uses the Db itself inside the transaction joins it.
      await db.run("INSERT INTO a (id, s) VALUES (3, 'via db')");
      t.is((await db.query("SELECT id FROM a")).length, 3, "the Db sees the transaction's rows from inside it");
      throw boom;
    }),
  );
  t.is(e, boom);
  t.deepEqual(await db.query("SELECT id, s FROM a ORDER BY id"), [{ id: 1, s: "before" }]);
  // A constraint violation inside: SQL_CONSTRAINT, and nothing of the transaction is kept.
  const c = await t.throwsAsync(
    db.transaction(async (tx) => {
      await tx.run("INSERT INTO a (id, s) VALUES (4, 'x')");
      await tx.run("INSERT INTO a (id, s) VALUES (1, 'duplicate')");
    }),
    { instanceOf: SqlError },
  );
  t.is(c?.code, "SQL_CONSTRAINT");
  t.deepEqual(await db.query("SELECT id FROM a ORDER BY id"), [{ id: 1 }]);
  // And a successful one is committed.
  t.is(await db.transaction(async (tx) => (await tx.run("INSERT INTO a (id, s) VALUES (5, 'ok')")).changes), 1);
  t.deepEqual(await db.query("SELECT id FROM a ORDER BY id"), [{ id: 1 }, { id: 5 }]);
});

contract("a nested transaction is a savepoint: its failure undoes only its own work", async (t, { db }) => {
  await db.exec("CREATE TABLE n (id INTEGER PRIMARY KEY)");
  await db.transaction(async (tx) => {
    await tx.run("INSERT INTO n (id) VALUES (1)");
    await t.throwsAsync(
      tx.transaction(async (inner) => {
        await inner.run("INSERT INTO n (id) VALUES (2)");
        throw new Error("inner");
      }),
      { message: "inner" },
    );
    await db.transaction(async (inner) => inner.run("INSERT INTO n (id) VALUES (3)"));
  });
  t.deepEqual(await db.query("SELECT id FROM n ORDER BY id"), [{ id: 1 }, { id: 3 }]);
});

contract("a transaction handle used after its transaction is refused (SQL_TX_DONE); a closed Db (SQL_CLOSED)", async (t, { db }) => {
  let kept: Db | undefined;
  await db.transaction(async (tx) => {
    kept = tx;
  });
  t.is((await t.throwsAsync(kept!.query("SELECT 1 AS one"), { instanceOf: SqlError }))?.code, "SQL_TX_DONE");
  await db.close();
  t.is((await t.throwsAsync(db.query("SELECT 1 AS one"), { instanceOf: SqlError }))?.code, "SQL_CLOSED");
});

contract("a BIGINT beyond 2^53 is refused (SQL_RANGE) rather than rounded", async (t, { db }) => {
  await db.exec("CREATE TABLE big (n BIGINT)");
  await db.run("INSERT INTO big (n) VALUES ($1)", [9_007_199_254_740_993n]);
  t.is((await t.throwsAsync(db.query("SELECT n FROM big"), { instanceOf: SqlError }))?.code, "SQL_RANGE");
});

contract("a bad statement is SQL_QUERY naming the statement", async (t, { db }) => {
  const e = await t.throwsAsync(db.query("SELECT nope FROM nowhere"), { instanceOf: SqlError });
  t.is(e?.code, "SQL_QUERY");
  t.regex(e?.message ?? "", /SELECT nope FROM nowhere/);
});

const MIGRATIONS: Migration[] = [
  { version: 1, description: "hosts", sql: "CREATE TABLE hosts (host TEXT PRIMARY KEY); INSERT INTO hosts (host) VALUES ('seed')" },
  { version: 2, description: "blobs", sql: { sqlite: "CREATE TABLE blobs (b BLOB)", postgres: "CREATE TABLE blobs (b BYTEA)" } },
];

contract("migrate applies each version once and is idempotent; a newer database or disordered list is refused", async (t, { db }) => {
  t.deepEqual(await migrate(db, "app", MIGRATIONS.slice(0, 1)), { applied: [1], version: 1 });
  t.deepEqual(await migrate(db, "app", MIGRATIONS), { applied: [2], version: 2 });
  t.deepEqual(await migrate(db, "app", MIGRATIONS), { applied: [], version: 2 });
  t.deepEqual(await migrate(db, "other", [{ version: 1, description: "x", sql: "CREATE TABLE other_x (i INTEGER)" }]), { applied: [1], version: 1 });
  t.deepEqual(await db.query("SELECT host FROM hosts"), [{ host: "seed" }]);
  const newer = await t.throwsAsync(migrate(db, "app", MIGRATIONS.slice(0, 1)), { instanceOf: SqlError });
  t.is(newer?.code, "SQL_MIGRATION");
  t.regex(newer?.message ?? "", /version 2/);
  const order = await t.throwsAsync(migrate(db, "app", [MIGRATIONS[1], MIGRATIONS[0]]), { instanceOf: SqlError });
  t.is(order?.code, "SQL_MIGRATION");
});

contract("a failing migration leaves nothing behind: neither its tables nor earlier steps of the same run", async (t, { db }) => {
  const broken: Migration[] = [...MIGRATIONS, { version: 3, description: "broken", sql: "CREATE TABLE fine (i INTEGER); CREATE TABLE broken (" }];
  await t.throwsAsync(migrate(db, "app", broken), { instanceOf: SqlError });
  t.deepEqual(await migrate(db, "app", MIGRATIONS), { applied: [1, 2], version: 2 });
});

contract("two Dbs (connections / pools) migrating one database at once apply each migration once", async (t, { db, again }) => {
  const other = await again();
  const results = await Promise.all([migrate(db, "race", MIGRATIONS), migrate(other, "race", MIGRATIONS), migrate(db, "race", MIGRATIONS)]);
  t.deepEqual(results.flatMap((r) => r.applied).sort(), [1, 2]);
  t.deepEqual(await db.query("SELECT host FROM hosts"), [{ host: "seed" }], "the seed row is there once");
  t.deepEqual(await other.query<{ c: number }>("SELECT count(*) AS c FROM tessera_migrations WHERE name = 'race'"), [{ c: 2 }]);
});

test("PostgreSQL: racing read-modify-write transactions with FOR UPDATE all count (one connection per transaction)", async (t) => {
  const { db, again } = await ENGINES[1].fresh();
  const other = await again();
  await db.exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)");
  const bump = (d: Db): Promise<void> =>
    d.transaction(async (tx) => {
      const [{ n }] = await tx.query<{ n: number }>("SELECT n FROM counter WHERE id = 1 FOR UPDATE");
      await new Promise((r) => setTimeout(r, 1));
      await tx.run("UPDATE counter SET n = $1 WHERE id = 1", [n + 1]);
    });
  await Promise.all(Array.from({ length: 20 }, (_, i) => bump(i % 2 === 0 ? db : other)));
  t.deepEqual(await db.query("SELECT n FROM counter"), [{ n: 20 }]);
});

test("PostgreSQL: a URL nothing listens on is SQL_CONFIG without the password", async (t) => {
  const e = await t.throwsAsync(openDatabase({ postgres: "postgres://u:secret@127.0.0.1:1/x" }), { instanceOf: SqlError });
  t.is(e?.code, "SQL_CONFIG");
  t.notRegex(e?.message ?? "", /secret/);
});

test("openDatabase with neither sqlite nor postgres is SQL_CONFIG", async (t) => {
  const e = await t.throwsAsync(openDatabase({} as unknown as { sqlite: string }), { instanceOf: SqlError });
  t.is(e?.code, "SQL_CONFIG");
});

test("SQLite: the file is created 0600 whatever the umask, in WAL mode with foreign keys on", async (t) => {
  const file = await tempFile();
  const old = process.umask(0o000);
  let db: Db;
  try {
    db = await openDatabase({ sqlite: file });
    opened.push(db);
  } finally {
    process.umask(old);
  }
  t.is((await stat(file)).mode & 0o777, 0o600);
  await db.exec("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER REFERENCES p(id))");
  t.is((await stat(`${file}-wal`)).mode & 0o777, 0o600);
  t.deepEqual(await db.query("PRAGMA journal_mode"), [{ journal_mode: "wal" }]);
  t.is((await t.throwsAsync(db.run("INSERT INTO c (p) VALUES (42)"), { instanceOf: SqlError }))?.code, "SQL_CONSTRAINT");
});

test("SQLite: concurrent transactions do not interleave, and statements outside wait for them", async (t) => {
  const { db } = await ENGINES[0].fresh();
  await db.exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)");
  const events: string[] = [];
  const txs = Array.from({ length: 20 }, (_, i) =>
    db.transaction(async (tx) => {
      events.push(`begin ${i}`);
      const [{ n }] = await tx.query<{ n: number }>("SELECT n FROM counter WHERE id = 1");
      await new Promise((r) => setTimeout(r, 2));
      await tx.run("UPDATE counter SET n = $1 WHERE id = 1", [n + 1]);
      events.push(`end ${i}`);
    }),
  );
  // Issued while the first transaction runs: waits for its turn (first come, first served), outside every transaction.
  const outside = db.run("UPDATE counter SET n = n + 1000 WHERE id = 1").then(() => events.push("outside"));
  await Promise.all([...txs, outside]);
  t.deepEqual(await db.query("SELECT n FROM counter"), [{ n: 1020 }]);
  for (let i = 0; i < events.length; i++) {
    const m = /^begin (\d+)$/.exec(events[i]);
    if (m) t.is(events[i + 1], `end ${m[1]}`, `transaction ${m[1]} ran alone`);
  }
  t.is(events.indexOf("outside"), 40, "the outside statement waited for the transactions queued before it");
});

test("SQLite: two connections to one file in one process share the file's lock; using the second inside the first's transaction is SQL_DEADLOCK", async (t) => {
  const { db, again } = await ENGINES[0].fresh();
  const other = await again();
  await db.exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)");
  const bump = (d: Db): Promise<void> =>
    d.transaction(async (tx) => {
      const [{ n }] = await tx.query<{ n: number }>("SELECT n FROM counter WHERE id = 1");
      await new Promise((r) => setTimeout(r, 1));
      await tx.run("UPDATE counter SET n = $1 WHERE id = 1", [n + 1]);
    });
  await Promise.all(Array.from({ length: 20 }, (_, i) => bump(i % 2 === 0 ? db : other)));
  t.deepEqual(await other.query("SELECT n FROM counter"), [{ n: 20 }]);
  const e = await t.throwsAsync(
    db.transaction(async () => other.run("UPDATE counter SET n = 0")),
    { instanceOf: SqlError },
  );
  t.is(e?.code, "SQL_DEADLOCK");
  t.deepEqual(await db.query("SELECT n FROM counter"), [{ n: 20 }]);
});

test("SQLite: three processes migrating one file at once apply each migration once, and their transactions all count", async (t) => {
  const file = await tempFile();
  const mod = pathToFileURL(path.join(import.meta.dirname, "mod.ts")).href;
  const script = `
    import { migrate, openDatabase } from ${JSON.stringify(mod)};
    const db = await openDatabase({ sqlite: ${JSON.stringify(file)} });
    const r = await migrate(db, "race", [
      { version: 1, description: "counter", sql: "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)" },
      { version: 2, description: "more", sql: "CREATE TABLE more (i INTEGER)" },
    ]);
    for (let i = 0; i < 20; i++) {
      await db.transaction(async (tx) => {
        const [{ n }] = await tx.query("SELECT n FROM counter WHERE id = 1");
        await new Promise((res) => setTimeout(res, 1));
        await tx.run("UPDATE counter SET n = $1 WHERE id = 1", [n + 1]);
      });
    }
    await db.close();
    process.stdout.write(JSON.stringify(r.applied));
  `;
  const runChild = (): Promise<number[]> =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`child exited ${code}: ${err}`))));
    });
  const applied = await Promise.all([runChild(), runChild(), runChild()]);
  t.deepEqual(applied.flat().sort(), [1, 2]);
  const db = await openDatabase({ sqlite: file });
  opened.push(db);
  t.deepEqual(await db.query("SELECT n FROM counter"), [{ n: 60 }]);
});
