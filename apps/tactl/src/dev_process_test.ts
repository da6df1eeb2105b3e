/**
 * The detached processes of `tactl dev` with real processes: started in a session of their own and logging to a
 * file, stopped by SIGTERM or (when they ignore it) SIGKILL, a recorded pid whose start time differs never
 * signalled, a process ending before its ready line named with its log, and /proc/<pid>/stat read right when the
 * command name holds spaces and parentheses.
 */
import test from "ava";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DevError } from "./dev_errors.ts";
import { isAlive, procStat, spawnDetached, stopProcesses, waitForLogLine, type DevProcess } from "./dev_process.ts";

let dir: string;
const started: DevProcess[] = [];

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tdevp-"));
});

test.after.always(async () => {
  await stopProcesses(started, 200);
  await rm(dir, { recursive: true, force: true });
});

async function detached(name: string, script: string): Promise<DevProcess> {
  const p = await spawnDetached({ name, command: "/bin/sh", args: ["-c", script], log: path.join(dir, `${name}.log`) });
  started.push(p);
  return p;
}

/** Field 5 of /proc/<pid>/stat: the process group. */
async function pgidOf(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/stat`, "utf8");
  return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[2]);
}

test("a detached process leads its own process group, logs to its file, and stops on SIGTERM", async (t) => {
  const p = await detached("term", "echo ready; exec sleep 60");
  t.true(isAlive(p));
  t.is(await pgidOf(p.pid), p.pid);
  t.is((await waitForLogLine(p, /^ready$/m, 10_000))[0], "ready");
  t.deepEqual(await stopProcesses([p], 5000), []);
  t.false(isAlive(p));
});

test("a process that ignores SIGTERM is killed after the grace period", async (t) => {
  const p = await detached("stubborn", "trap '' TERM; echo ready; while :; do sleep 1; done");
  await waitForLogLine(p, /ready/, 10_000);
  t.deepEqual(await stopProcesses([p], 300), []);
  t.false(isAlive(p));
});

test("a recorded pid with another start time is not ours: not alive, never signalled", async (t) => {
  const p = await detached("other", "exec sleep 60");
  const stale: DevProcess = { ...p, startTime: p.startTime + 1 };
  t.false(isAlive(stale));
  await stopProcesses([stale], 100);
  t.true(isAlive(p));
});

test("a process that ends before its ready line: DEV_START_FAILED with its log", async (t) => {
  const p = await detached("dies", "echo 'cannot bind: address in use' >&2; exit 3");
  const e = await t.throwsAsync(waitForLogLine(p, /listening/, 10_000), { instanceOf: DevError });
  t.is(e.code, "DEV_START_FAILED");
  t.regex(e.message, /address in use/);
});

test("a command that cannot start: DEV_SPAWN naming it", async (t) => {
  const e = await t.throwsAsync(spawnDetached({ name: "none", command: path.join(dir, "no-such-program"), args: [], log: path.join(dir, "none.log") }), { instanceOf: DevError });
  t.is(e.code, "DEV_SPAWN");
  t.regex(e.message, /no-such-program/);
});

test("procStat reads state and start time after a command name holding spaces and parentheses", async (t) => {
  const odd = path.join(dir, "a) (b c)");
  await copyFile("/bin/sleep", odd);
  const p = await spawnDetached({ name: "odd", command: odd, args: ["60"], log: path.join(dir, "odd.log") });
  started.push(p);
  const s = procStat(p.pid);
  t.truthy(s);
  t.is(s!.startTime, p.startTime);
  t.regex(s!.state, /^[RSD]$/);
  t.is(procStat(2 ** 22 + 12345), undefined);
});
