/**
 * `tactl dev status` and `tactl dev down`: the fleet of an environment (attestd's host list, signed in with the
 * environment's admin password) with each process's liveness, and stopping every process `tactl dev up` started.
 * @module
 */
import { readFile } from "node:fs/promises";
import { devLayout, readEnv, readPids, type DevEnv } from "./dev_env.ts";
import { DevError } from "./dev_errors.ts";
import { isAlive, stopProcesses, type DevProcess } from "./dev_process.ts";
import { taRequest } from "./ta_client.ts";

/** Stop order: the agents first (they hold their TPM's one connection and talk to the services), the TPMs last. */
function rank(name: string): number {
  if (name.startsWith("kmxa ")) return 0;
  if (name === "kmxd") return 1;
  if (name === "attestd") return 2;
  if (name === "kmipd") return 3;
  return 4;
}

/** What {@link devDown} did. */
export interface DevDownResult {
  /** The processes that were running and were stopped. */
  readonly stopped: readonly DevProcess[];
  /** The recorded processes that were not running any more. */
  readonly gone: readonly DevProcess[];
}

/**
 * Stops every process pids.json records, the agents first, then kmxd, attestd, kmipd and the swtpms (SIGTERM to
 * each one's process group, SIGKILL after a grace period), and waits until none runs.
 * @throws DevError DEV_STOP_FAILED naming those still alive
 */
export async function devDown(dir: string): Promise<DevDownResult> {
  const l = devLayout(dir);
  const { processes } = await readPids(l);
  const gone = processes.filter((p) => !isAlive(p));
  const stopped = processes.filter(isAlive);
  for (const r of [...new Set(stopped.map((p) => rank(p.name)))].sort()) {
    const left = await stopProcesses(stopped.filter((p) => rank(p.name) === r));
    if (left.length > 0) throw new DevError("DEV_STOP_FAILED", `still running after SIGKILL: ${left.map((p) => `${p.name} pid ${p.pid}`).join(", ")}`);
  }
  return { stopped, gone };
}

/** One host in {@link DevStatus}. */
export interface DevHostStatus {
  readonly host: string;
  /** attestd's status (green, red, stale, unknown). */
  readonly status: string;
  readonly message?: string;
  readonly image?: { readonly name: string; readonly version: string };
  readonly lastAttempt?: string;
  readonly tokenExpiresAt?: string;
}

/** What `tactl dev status` reports. */
export interface DevStatus {
  readonly env: DevEnv;
  /** Every recorded process and whether it runs. */
  readonly processes: readonly (Pick<DevProcess, "name" | "pid" | "log"> & { readonly alive: boolean })[];
  /** attestd's host list (absent when attestd does not run or answer: see `attestdError`). */
  readonly hosts?: readonly DevHostStatus[];
  readonly summary?: Readonly<Record<string, number>>;
  readonly attestdError?: string;
}

/** The environment's processes and, from attestd, its fleet. */
export async function devStatus(dir: string): Promise<DevStatus> {
  const l = devLayout(dir);
  const env = await readEnv(l);
  const { processes } = await readPids(l);
  const procs = processes.map((p) => ({ name: p.name, pid: p.pid, log: p.log, alive: isAlive(p) }));
  try {
    const ca = await readFile(env.ca, "utf8");
    const password = (await readFile(env.adminPasswordFile, "utf8")).trim();
    const t = await taRequest({ server: env.attestd, ca, timeoutMs: 10_000 }, "POST", "/api/v1/auth/token", { user: "admin", password });
    const token = String((t.body as { token?: unknown }).token);
    const r = (await taRequest({ server: env.attestd, ca, token, timeoutMs: 10_000 }, "GET", "/api/v1/hosts")).body as { hosts: DevHostStatus[]; summary: Record<string, number> };
    return { env, processes: procs, hosts: r.hosts, summary: r.summary };
  } catch (e) {
    return { env, processes: procs, attestdError: (e as Error).message };
  }
}
