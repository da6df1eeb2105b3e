/**
 * attestd nodes for the `fleet-sim` suite: this repository's attestd, each node its own process and data
 * directory, all on one PostgreSQL database and one master key file (as a cluster's nodes must share it: it wraps
 * the token signing keys), and what the suite reads of PostgreSQL (its connections, its CPU).
 * @module
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
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
  /** The agent's most sockets (default 64). */
  readonly maxSockets?: number;
}

/** Starts one attestd node on a fresh data directory and a loopback port; resolves once it says it is listening. */
export async function startAttestdNode(o: AttestdNodeOptions = {}): Promise<AttestdNode> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-fleet-attestd-"));
  const args = [ATTESTD_MAIN, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"];
  if (o.database !== undefined) args.push("--database", o.database);
  if (o.masterKeyFile !== undefined) args.push("--master-key-file", o.masterKeyFile);
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      let out = "";
      proc.stdout.on("data", (c: Buffer) => {
        out += c.toString("utf8");
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
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
export function pgConnections(serverUrl: string, database: string): Promise<Map<string, number>> {
  const bin = findPostgresBin();
  if (bin === undefined) return Promise.reject(new Error("psql: PostgreSQL's binaries are not installed"));
  const sql = `SELECT coalesce(state, 'none'), count(*) FROM pg_stat_activity WHERE datname = '${database.replace(/'/g, "''")}' GROUP BY 1`;
  return new Promise((resolve, reject) => {
    execFile(path.join(bin, "psql"), [serverUrl, "-AtF", "\t", "-c", sql], { encoding: "utf8", timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`psql: ${stderr || error.message}`));
        return;
      }
      const m = new Map<string, number>();
      for (const line of stdout.split("\n").filter(Boolean)) {
        const [state, count] = line.split("\t");
        m.set(state, Number(count));
      }
      resolve(m);
    });
  });
}
