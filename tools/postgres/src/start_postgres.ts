/**
 * A throw-away PostgreSQL cluster: initdb in a temporary directory, postgres on a free loopback port (and a
 * unix socket in that directory), databases created on demand, and everything removed by stop().
 * @module
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { ensureDebianPackages } from "@tessera/swtpm-testing";
import { PostgresTestingError } from "./errors.ts";
import { freePort } from "@tessera/process-testing";

/** A running throw-away cluster. Trust authentication for the superuser `postgres`, loopback only. */
export interface PostgresCluster {
  /** The loopback TCP port it listens on. */
  readonly port: number;
  /** The temporary directory holding the data directory and the unix socket. */
  readonly dir: string;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (default database `postgres`). */
  url(database?: string): string;
  /**
   * Creates a database and returns its URL. Without a name, one unique to this cluster is chosen.
   * @throws PostgresTestingError PG_BAD_NAME for a name that is not `[a-z_][a-z0-9_]*` (≤ 63), PG_QUERY when CREATE DATABASE fails
   */
  createDatabase(name?: string): Promise<string>;
  /** The server's output so far (for failure messages). */
  log(): string;
  /** Stops the server (fast shutdown) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /** How long to wait for the server to accept connections, ms (default 60 000). */
  readonly startTimeoutMs?: number;
}

/**
 * The newest `/usr/lib/postgresql/<version>/bin` holding initdb and postgres (Debian's layout), or undefined.
 */
export function findPostgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, "bin", "initdb")) && existsSync(path.join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin");
}

/** Runs a short-lived tool, as `postgres` when `asPostgres`; resolves with its exit status and output. */
function runTool(cmd: string, args: readonly string[], asPostgres: boolean, timeout: number): Promise<{ ok: boolean; out: string }> {
  const [file, argv] = asPostgres ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { encoding: "utf8", timeout }, (error, stdout, stderr) => {
      resolve({ ok: error === null, out: `${stdout}${stderr}${error ? ` (${error.message})` : ""}` });
    });
  });
}

function postgresIds(): { uid: number; gid: number } {
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new PostgresTestingError("PG_INITDB", "running as root but there is no postgres user to run PostgreSQL as (initdb refuses root)");
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The postmaster's pid from its pid file (the first line), when the file is there. */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function canConnect(port: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2_000 });
  c.on("error", () => undefined);
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Server {
  proc: ChildProcess;
  port: number;
  log: () => string;
}

/** Starts postgres on a fresh port; undefined when the port was taken meanwhile (the caller retries). */
async function startServer(bin: string, dir: string, data: string, asPostgres: boolean, timeoutMs: number): Promise<Server | undefined> {
  const port = await freePort();
  const args = [
    "-D",
    data,
    "-k",
    dir,
    "-p",
    String(port),
    "-h",
    "127.0.0.1",
    // A test cluster: durability is not what is tested, speed is welcome.
    "-c",
    "fsync=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "max_connections=200",
  ];
  const cmd = path.join(bin, "postgres");
  const proc = asPostgres
    ? spawn("runuser", ["-u", "postgres", "--", cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  let exited = false;
  proc.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  proc.once("exit", () => (exited = true));
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      if (/could not bind|Address already in use/i.test(log)) return undefined;
      throw new PostgresTestingError("PG_START", `postgres exited before accepting connections: ${log.slice(-2000)}`);
    }
    if (await canConnect(port)) return { proc, port, log: () => log };
    if (Date.now() > end) {
      proc.kill("SIGKILL");
      throw new PostgresTestingError("PG_START", `PostgreSQL on port ${port} did not accept connections within ${timeoutMs} ms: ${log.slice(-2000)}`);
    }
    await sleep(50);
  }
}

/**
 * Starts a throw-away PostgreSQL cluster. Installs the Debian `postgresql` package first when its binaries
 * are missing and the process runs as root; otherwise fails naming it.
 *
 * @throws PostgresTestingError PG_NOT_INSTALLED, PG_INITDB or PG_START (with the tool's output)
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  let bin = findPostgresBin();
  if (bin === undefined) {
    try {
      ensureDebianPackages(["postgresql"]);
    } catch (e) {
      throw new PostgresTestingError("PG_NOT_INSTALLED", `PostgreSQL is not installed: ${(e as Error).message}`, { cause: e });
    }
    bin = findPostgresBin();
    if (bin === undefined) {
      throw new PostgresTestingError("PG_NOT_INSTALLED", "the postgresql package is installed but /usr/lib/postgresql/*/bin/{initdb,postgres} are not there");
    }
  }
  const asPostgres = process.getuid?.() === 0;
  const dir = await mkdtemp(path.join(tmpdir(), "tessera-pg-"));
  const data = path.join(dir, "data");
  let server: Server | undefined;
  // A test process that dies without stop() must not leave a server behind: SIGQUIT is immediate shutdown.
  const onExit = (): void => {
    const pid = postmasterPid(data);
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGQUIT");
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  try {
    if (asPostgres) {
      const { uid, gid } = postgresIds();
      await chown(dir, uid, gid);
    }
    const init = await runTool(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], asPostgres, 120_000);
    if (!init.ok) throw new PostgresTestingError("PG_INITDB", `initdb -D ${data} failed: ${init.out.slice(-2000)}`);
    for (let attempt = 0; attempt < 5 && server === undefined; attempt++) {
      server = await startServer(bin, dir, data, asPostgres, options.startTimeoutMs ?? 60_000);
    }
    if (server === undefined) throw new PostgresTestingError("PG_START", "postgres could not bind a free loopback port in 5 attempts");
  } catch (e) {
    process.removeListener("exit", onExit);
    onExit();
    throw e;
  }
  const { port, proc } = server;
  const log = server.log;
  let stopped = false;
  let counter = 0;
  // CREATE DATABASE copies template1 and fails while another CREATE DATABASE reads it: one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const url = (database = "postgres"): string => `postgres://postgres@127.0.0.1:${port}/${database}`;

  return {
    port,
    dir,
    url,
    log,
    createDatabase(name?: string): Promise<string> {
      const db = name ?? `db_${process.pid}_${++counter}`;
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db)) {
        return Promise.reject(new PostgresTestingError("PG_BAD_NAME", `database name ${JSON.stringify(db)} is not [a-z_][a-z0-9_]* of at most 63 characters`));
      }
      const p = queue.then(async () => {
        if (stopped) throw new PostgresTestingError("PG_STOPPED", `the cluster on port ${port} was stopped`);
        const c = new pg.Client({ connectionString: url() });
        c.on("error", () => undefined);
        try {
          await c.connect();
          await c.query(`CREATE DATABASE ${db}`);
        } catch (e) {
          throw new PostgresTestingError("PG_QUERY", `CREATE DATABASE ${db} on port ${port} failed: ${(e as Error).message}`, { cause: e });
        } finally {
          await c.end().catch(() => undefined);
        }
        return url(db);
      });
      queue = p.catch(() => undefined);
      return p;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      const exited = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => proc.once("exit", () => r()));
      const stop = await runTool(path.join(bin, "pg_ctl"), ["-D", data, "stop", "-m", "fast", "-w", "-t", "30"], asPostgres, 40_000);
      if (!stop.ok) {
        const pid = postmasterPid(data);
        if (pid !== undefined) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        proc.kill("SIGKILL");
      }
      await exited;
      process.removeListener("exit", onExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
