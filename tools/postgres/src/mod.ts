/**
 * @tessera/postgres-testing: a throw-away PostgreSQL cluster for tests.
 *
 * {@link startPostgres} runs initdb and postgres in a temporary directory (as the `postgres` user when the
 * tests run as root, since initdb refuses root), installing the Debian `postgresql` package first when its
 * binaries are missing (as root; otherwise it fails naming the package). {@link PostgresCluster.createDatabase}
 * gives each test a database of its own.
 *
 * @module
 */
export { PostgresTestingError, type PostgresTestingErrorCode } from "./errors.ts";
export { startPostgres, findPostgresBin, type PostgresCluster, type StartPostgresOptions } from "./start_postgres.ts";
export { postgresForTests, type PostgresForTests, type TestHooks } from "./postgres_for_tests.ts";
