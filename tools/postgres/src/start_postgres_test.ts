import test from "ava";
import { existsSync, statSync } from "node:fs";
import pg from "pg";
import { PostgresTestingError, startPostgres, type PostgresCluster } from "./mod.ts";

let cluster: PostgresCluster | undefined;

test.before(async () => {
  cluster = await startPostgres();
});

test.after.always(async () => {
  await cluster?.stop();
});

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

test("the cluster accepts SQL on its default database", async (t) => {
  const rows = await query<{ one: number }>(cluster!.url(), "SELECT 1 AS one");
  t.deepEqual(rows, [{ one: 1 }]);
});

test("createDatabase gives separate databases: a table in one is not in the other", async (t) => {
  const [a, b] = await Promise.all([cluster!.createDatabase("pgtest_a"), cluster!.createDatabase()]);
  t.regex(a, /\/pgtest_a$/);
  t.not(a, b);
  await query(a, "CREATE TABLE only_here (x int)");
  t.deepEqual(await query<{ n: string }>(a, "SELECT count(*) AS n FROM only_here"), [{ n: "0" }]);
  const inB = await query<{ t: string | null }>(b, "SELECT to_regclass('only_here')::text AS t");
  t.deepEqual(inB, [{ t: null }]);
});

test("several createDatabase calls at once all succeed (CREATE DATABASE serialized)", async (t) => {
  const urls = await Promise.all(Array.from({ length: 6 }, () => cluster!.createDatabase()));
  t.is(new Set(urls).size, 6);
});

test("a database name that is not a plain identifier is refused with PG_BAD_NAME", async (t) => {
  const e = await t.throwsAsync(cluster!.createDatabase("x; DROP DATABASE postgres"), { instanceOf: PostgresTestingError });
  t.is(e?.code, "PG_BAD_NAME");
});

test("creating a database twice fails with PG_QUERY naming it", async (t) => {
  await cluster!.createDatabase("pgtest_twice");
  const e = await t.throwsAsync(cluster!.createDatabase("pgtest_twice"), { instanceOf: PostgresTestingError });
  t.is(e?.code, "PG_QUERY");
  t.regex(e?.message ?? "", /pgtest_twice/);
});

test("stop() ends the server and removes its directory; the cluster then refuses new databases", async (t) => {
  const other = await startPostgres();
  const url = await other.createDatabase("pgtest_stop");
  t.true(existsSync(other.dir));
  t.true(statSync(other.dir).isDirectory());
  await other.stop();
  await other.stop();
  t.false(existsSync(other.dir));
  await t.throwsAsync(query(url, "SELECT 1"));
  const e = await t.throwsAsync(other.createDatabase("pgtest_after"), { instanceOf: PostgresTestingError });
  t.is(e?.code, "PG_STOPPED");
});
