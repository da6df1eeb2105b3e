/**
 * One throw-away PostgreSQL cluster per test file, started in a `before` hook and stopped in an `after.always`
 * hook, with a fresh database per test.
 * @module
 */
import { startPostgres, type PostgresCluster, type StartPostgresOptions } from "./start_postgres.ts";

/** The hooks of a test runner (ava's `test` fits). */
export interface TestHooks {
  before(fn: () => Promise<void>): void;
  readonly after: { always(fn: () => Promise<void>): void };
}

/** What {@link postgresForTests} gives a test file. */
export interface PostgresForTests {
  /**
   * A new database on the file's cluster; its URL. Rejects with the start's own error (a PostgresTestingError
   * naming the program and its output) when the cluster could not be started, so each test using it fails loudly.
   */
  createDatabase(): Promise<string>;
  /** The cluster (same rejection as {@link PostgresForTests.createDatabase}). */
  cluster(): Promise<PostgresCluster>;
}

/**
 * Registers the hooks that start (with `start`, {@link startPostgres} unless given) and stop the file's cluster. Call it after the file's own `after.always` hooks
 * that close connections: ava runs them in the order registered, so those connections close before the server stops.
 * @example
 * ```ts
 * test.after.always(async () => { for (const db of opened) await db.close(); });
 * const pg = postgresForTests(test);
 * test("…", async () => { const db = await openDatabase({ postgres: await pg.createDatabase() }); … });
 * ```
 */
export function postgresForTests(
  hooks: TestHooks,
  options: StartPostgresOptions = {},
  start: (options: StartPostgresOptions) => Promise<PostgresCluster> = startPostgres,
): PostgresForTests {
  let started: Promise<PostgresCluster> | undefined;
  hooks.before(async () => {
    started = start(options);
    // The failure is each test's to report (through createDatabase), not the hook's.
    started.catch(() => undefined);
  });
  hooks.after.always(async () => {
    await started?.then(
      (c) => c.stop(),
      () => undefined,
    );
  });
  const cluster = (): Promise<PostgresCluster> => started ?? Promise.reject(new Error("postgresForTests: the cluster is asked for before the before hook ran"));
  return { cluster, createDatabase: async () => (await cluster()).createDatabase() };
}
