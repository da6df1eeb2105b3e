import test from "ava";
import pg from "pg";
import { PostgresTestingError } from "./errors.ts";
import { postgresForTests } from "./postgres_for_tests.ts";

const db = postgresForTests(test);

test("each test gets a database of its own on one cluster, which answers queries", async (t) => {
  const [a, b] = await Promise.all([db.createDatabase(), db.createDatabase()]);
  t.not(a, b);
  t.is(new URL(a).port, new URL(b).port);
  const client = new pg.Client({ connectionString: a });
  await client.connect();
  try {
    t.is((await client.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one, 1);
  } finally {
    await client.end();
  }
  t.true((await db.cluster()).port > 0);
});

test("a cluster that cannot start fails each test that asks for a database with the start's own error", async (t) => {
  const hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {};
  const failure = new PostgresTestingError("PG_START", "postgres did not accept connections (a start that fails, given here)");
  const broken = postgresForTests({ before: (fn) => (hooks.before = fn), after: { always: (fn) => (hooks.after = fn) } }, {}, () => Promise.reject(failure));
  await t.throwsAsync(broken.createDatabase(), { message: /before the before hook ran/ });
  await hooks.before?.();
  t.is(await t.throwsAsync(broken.createDatabase()), failure);
  t.is(await t.throwsAsync(broken.cluster()), failure);
  await hooks.after?.();
});
