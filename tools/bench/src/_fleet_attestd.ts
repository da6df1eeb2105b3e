/**
 * attestd nodes for the `fleet-sim` suite: this repository's attestd, each node its own process and data
 * directory, all on one PostgreSQL database and one master key file (as a cluster's nodes must share it: it wraps
 * the token signing keys), and what the suite reads of PostgreSQL (its connections, its CPU).
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { findPostgresBin } from "@tessera/postgres-testing";

/** The attestd entry point of this repository (run on this Node, as apps/attestd/bin/attestd does). */
const ATTESTD_MAIN = path.resolve(import.meta.dirname, "../../../apps/attestd/src/main.ts");

/** A running attestd node. */
export interface AttestdNode {
  readonly url: string;
  readonly pid: number | undefined;
  readonly dataDir: string;
  /** A keep-alive agent trusting this node's TLS CA. */
  readonly agent: https.Agent;
  stop(): Promise<void>;
}

/** Options of {@link startAttestdNode}. */
export interface AttestdNodeOptions {
  /** `--database` (absent: SQLite in the data directory). */
  readonly database?: string;
  /** `--master-key-file` (absent: attestd's default, in the data directory). */
  readonly masterKeyFile?: string;
  /** Node options for the node (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** The agent's most sockets (default 64). */
  readonly maxSockets?: number;
}

/** Starts one attestd node on a fresh data directory and a loopback port; resolves once it says it is listening. */
export async function startAttestdNode(o: AttestdNodeOptions = {}): Promise<AttestdNode> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-fleet-attestd-"));
  const args = [...(o.nodeArgs ?? []), ATTESTD_MAIN, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"];
  if (o.database !== undefined) args.push("--database", o.database);
  if (o.masterKeyFile !== undefined) args.push("--master-key-file", o.masterKeyFile);
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      let listening = false;
      proc.stdout.setEncoding("utf8").on("data", (c: string) => {
        // Kept and matched only until attestd listens (matching all of it on every chunk is quadratic in a long run).
        if (listening) return;
        out += c;
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) {
          listening = true;
          resolve(m[1]);
        }
      });
      proc.once("exit", (code) => reject(new Error(`attestd exited (${code}) before listening: ${out}`)));
    });
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  proc.stdout.resume();
  const ca = await readFile(path.join(dataDir, "tls", "ca.pem"), "utf8");
  const agent = new https.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64, ca });
  return {
    url,
    pid: proc.pid,
    dataDir,
    agent,
    async stop() {
      agent.destroy();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The generated admin password: in the data directory of whichever node made the admin account (exactly one). */
export function adminPassword(nodes: readonly AttestdNode[]): string {
  for (const n of nodes) {
    const f = path.join(n.dataDir, "admin.password");
    if (existsSync(f)) return readFileSync(f, "utf8").trim();
  }
  throw new Error(`no admin.password in any node's data directory (${nodes.map((n) => n.dataDir).join(", ")})`);
}

/** The postmaster's process id of a cluster started in `dir` (its data/postmaster.pid). */
export function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Connections of database `database` by state (`active`, `idle`, …), from pg_stat_activity, through psql. */
export async function pgConnections(serverUrl: string, database: string): Promise<Map<string, number>> {
  const rows = await psql(
    serverUrl,
    `SELECT coalesce(state, 'none'), count(*) FROM pg_stat_activity WHERE datname = '${database.replace(/'/g, "''")}' GROUP BY 1`,
  );
  return new Map(rows.map(([state, count]) => [state, Number(count)]));
}

/** utime, stime, cutime, cstime of a /proc/<pid>/stat line, µs (cutime/cstime: its children waited for). */
function statCpuUs(pid: number, withChildren: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14–17 of proc(5); `f` starts at field 3.
    const ticks = Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
    return (ticks * 1e6) / 100;
  } catch {
    return 0;
  }
}

/**
 * PostgreSQL's CPU time, µs: the postmaster's, its live children's (backends, background workers), and the children
 * it has reaped (cutime/cstime) — a backend that exits between two readings still counts.
 */
export function postgresCpuUs(postmaster: number | undefined): number | undefined {
  if (postmaster === undefined) return undefined;
  let sum = statCpuUs(postmaster, true);
  try {
    for (const tid of readdirSync(`/proc/${postmaster}/task`)) {
      for (const c of readFileSync(`/proc/${postmaster}/task/${tid}/children`, "utf8").split(" ").filter(Boolean)) sum += statCpuUs(Number(c), true);
    }
  } catch {
    return undefined;
  }
  return sum;
}

/** Runs one SQL statement through psql; the rows, tab-separated fields. */
export function psql(serverUrl: string, sql: string): Promise<string[][]> {
  const bin = findPostgresBin();
  if (bin === undefined) return Promise.reject(new Error("psql: PostgreSQL's binaries are not installed"));
  return new Promise((resolve, reject) => {
    execFile(path.join(bin, "psql"), [serverUrl, "-AtF", "\t", "-c", sql], { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`psql: ${stderr || error.message}`));
      else resolve(stdout.split("\n").filter(Boolean).map((l) => l.split("\t")));
    });
  });
}

/** Rows and total size (bytes, indexes and TOAST included) of each of `tables`. */
export async function tableSizes(databaseUrl: string, tables: readonly string[]): Promise<{ table: string; rows: number; bytes: number }[]> {
  const out: { table: string; rows: number; bytes: number }[] = [];
  for (const t of tables) {
    if (!/^[a-z_]+$/.test(t)) throw new Error(`not a table name: ${t}`);
    const [[rows, bytes]] = await psql(databaseUrl, `SELECT count(*), pg_total_relation_size('${t}') FROM ${t}`);
    out.push({ table: t, rows: Number(rows), bytes: Number(bytes) });
  }
  return out;
}

/** pg_stat_database's counters of `database`: committed transactions and rows written (inserted + updated + deleted) and read. */
export async function pgDatabaseStats(serverUrl: string, database: string): Promise<{ commits: number; rowsWritten: number; rowsRead: number }> {
  const [[commits, written, read]] = await psql(
    serverUrl,
    `SELECT xact_commit, tup_inserted + tup_updated + tup_deleted, tup_returned + tup_fetched FROM pg_stat_database WHERE datname = '${database.replace(/'/g, "''")}'`,
  );
  return { commits: Number(commits), rowsWritten: Number(written), rowsRead: Number(read) };
}
