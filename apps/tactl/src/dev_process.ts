/**
 * The processes of `tactl dev`: started detached (their own session and process group, output to a log file,
 * unreferenced) so that they outlive tactl, recorded by pid AND the kernel's start time of that pid (so a pid the
 * kernel gave to another process after ours ended is never signalled), and stopped by pid: SIGTERM to the
 * process group, a grace period, then SIGKILL, waiting until none is left.
 * Linux only: liveness and start times come from /proc.
 * @module
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { DevError } from "./dev_errors.ts";

/** One process `tactl dev up` started, as pids.json records it. */
export interface DevProcess {
  /** What it is: `kmipd`, `attestd`, `kmxd`, `swtpm host-1`, `kmxa host-1`. */
  readonly name: string;
  /** Its pid (also its process group: it was started in a session of its own). */
  readonly pid: number;
  /** /proc/<pid>/stat's starttime (clock ticks after boot): tells our process from a later one with the same pid. */
  readonly startTime: number;
  /** Its log file (stdout and stderr). */
  readonly log: string;
}

/** The state and start time of `pid` from /proc/<pid>/stat, or undefined when there is no such process. */
export function procStat(pid: number): { state: string; startTime: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses: fields follow the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
  const startTime = Number(rest[19]);
  if (rest[0] === undefined || !Number.isFinite(startTime)) return undefined;
  return { state: rest[0], startTime };
}

/**
 * Whether the recorded process still runs: its pid exists, is the same process (same start time) and is not a
 * zombie (an exited child its parent has not reaped yet runs no more).
 */
export function isAlive(p: Pick<DevProcess, "pid" | "startTime">): boolean {
  const s = procStat(p.pid);
  return s !== undefined && s.startTime === p.startTime && s.state !== "Z" && s.state !== "X";
}

/** How to start one process. */
export interface DetachedSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Its log file (created or truncated; stdout and stderr both go there). */
  readonly log: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts `spec` detached: a new session (setsid, so it is its own process group and no terminal's signals reach
 * it), stdin from /dev/null, output to its log, not waited for by this process. Resolves once it has a pid and
 * its start time is read.
 * @throws DevError DEV_SPAWN when it cannot be started (the command missing, not executable)
 */
export async function spawnDetached(spec: DetachedSpec): Promise<DevProcess> {
  const fd = openSync(spec.log, "w", 0o600);
  let child;
  try {
    child = spawn(spec.command, [...spec.args], { detached: true, stdio: ["ignore", fd, fd], cwd: spec.cwd, env: spec.env ?? process.env });
  } finally {
    closeSync(fd);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("error", (e) => reject(new DevError("DEV_SPAWN", `cannot start ${spec.name} (${spec.command}): ${e.message}`, { cause: e })));
    child.once("spawn", () => resolve(child.pid!));
  });
  child.unref();
  const stat = procStat(pid);
  if (stat === undefined) {
    throw new DevError("DEV_SPAWN", `${spec.name} (${spec.command}) exited at once; its log: ${spec.log}\n${await tail(spec.log)}`);
  }
  return { name: spec.name, pid, startTime: stat.startTime, log: spec.log };
}

/** The last `max` characters of a log file ("" when unreadable). */
export async function tail(file: string, max = 2000): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.length > max ? `…${text.slice(-max)}` : text;
  } catch {
    return "";
  }
}

/**
 * Waits until `p`'s log matches `ready` and resolves with the match.
 * @throws DevError DEV_START_FAILED when the process ends first (with its log's end), DEV_START_TIMEOUT after `timeoutMs`
 */
export async function waitForLogLine(p: DevProcess, ready: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(p.log, "utf8").catch(() => "");
    const m = ready.exec(text);
    if (m) return m;
    if (!isAlive(p)) throw new DevError("DEV_START_FAILED", `${p.name} (pid ${p.pid}) exited before it was ready; its log ${p.log}:\n${await tail(p.log)}`);
    if (Date.now() > deadline) throw new DevError("DEV_START_TIMEOUT", `${p.name} (pid ${p.pid}) was not ready within ${timeoutMs / 1000} s; its log ${p.log}:\n${await tail(p.log)}`);
    await sleep(100);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  // The group first (whatever it started goes too), else the process alone (it may have left its group).
  try {
    process.kill(-pid, sig);
    return;
  } catch {
    // no such group
  }
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

async function waitGone(ps: readonly DevProcess[], ms: number): Promise<DevProcess[]> {
  const deadline = Date.now() + ms;
  let left = ps.filter(isAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(10);
    left = left.filter(isAlive);
  }
  return left;
}

/**
 * Stops the processes that still run (SIGTERM to each one's process group, then SIGKILL to those left after
 * `graceMs`) and waits for them to end. A recorded pid that now belongs to another process is left alone.
 * Resolves with the processes still alive after it all (none, unless the kernel could not kill them).
 */
export async function stopProcesses(ps: readonly DevProcess[], graceMs = 5000): Promise<DevProcess[]> {
  const alive = ps.filter(isAlive);
  for (const p of alive) signal(p.pid, "SIGTERM");
  const stubborn = await waitGone(alive, graceMs);
  for (const p of stubborn) signal(p.pid, "SIGKILL");
  return waitGone(stubborn, 5000);
}
