/**
 * `tactl dev up|status|down` end to end, run as a user runs it: `apps/tactl/bin/tactl` as its own process, which
 * exits once the environment is up. Its processes must outlive it (they are all alive after it exited), both
 * hosts are green, each agent hands out a data key over its Unix socket (and unwraps it again to the same key),
 * a second `up` on the same directory is refused, and after `down` none of the recorded pids runs.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import type { DevEnv, DevPids } from "./dev_env.ts";
import type { DevStatus } from "./dev_down.ts";

const TACTL = path.resolve(import.meta.dirname, "../bin/tactl");

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs `apps/tactl/bin/tactl argv…` (from the sources) as a process of its own. */
function tactlProcess(...argv: string[]): Promise<Ran> {
  return tactlProcessWith({}, ...argv);
}

/** {@link tactlProcess} with more environment variables. */
function tactlProcessWith(env: NodeJS.ProcessEnv, ...argv: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(TACTL, argv, { env: { ...process.env, TACTL_FROM_SOURCE: "1", ...env }, timeout: 150_000 }, (err, out, errText) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1;
      resolve({ code, out, err: errText });
    });
  });
}

/** One JSON request over a Unix socket (plain HTTP, as a local consumer of kmxa talks to it). */
function unixJson(socketPath: string, method: string, p: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request({ socketPath, path: p, method, headers: { host: "localhost", "content-type": "application/json", accept: "application/json" } }, (res) => {
      let s = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (s += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(s || "{}") as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end(text);
  });
}

/** Whether `pid` is a live process with that start time, read straight from /proc (not through dev_process.ts). */
function running(pid: number, startTime: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // A zombie has ended: only its exit status waits for a parent (here init) to collect it.
  return fields[0] !== "Z" && fields[0] !== "X" && Number(fields[19]) === startTime;
}

let dir: string;

test.before(async () => {
  // A short path: the swtpm and kmxa Unix sockets live under it.
  dir = await mkdtemp(path.join(os.tmpdir(), "tdev-"));
});

test.after.always(async () => {
  // Whatever happened, nothing is left running.
  await tactlProcess("dev", "down", "--dir", path.join(dir, "env"));
  await tactlProcess("dev", "down", "--dir", path.join(dir, "failed"));
  await rm(dir, { recursive: true, force: true });
});

test.serial("dev up with 2 hosts: green, a data key through each agent's socket; dev down leaves no process", async (t) => {
  const d = path.join(dir, "env");
  const up = await tactlProcess("dev", "up", "--dir", d, "--hosts", "2", "--json");
  t.is(up.code, 0, up.err);
  const printed = JSON.parse(up.out) as DevEnv;
  const env = JSON.parse(await readFile(path.join(d, "env.json"), "utf8")) as DevEnv;
  t.deepEqual(printed, env);
  t.regex(env.attestd, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.regex(env.kmxd, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.regex(env.kmipd, /^127\.0\.0\.1:\d+$/);
  t.is(env.keyProvider, "dev");
  t.true((await readFile(env.ca, "utf8")).includes("BEGIN CERTIFICATE"));
  t.true((await readFile(env.adminPasswordFile, "utf8")).trim().length > 0);
  t.deepEqual(
    env.hosts.map((h) => h.name),
    ["host-1", "host-2"],
  );
  for (const h of env.hosts) {
    t.regex(h.tcti, /^swtpm:path=/);
    t.regex(h.agentUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  }

  // tactl has exited: every process it started still runs, and attestd says both hosts are green.
  const status = await tactlProcess("dev", "status", "--dir", d, "--json");
  t.is(status.code, 0, status.err);
  const s = JSON.parse(status.out) as DevStatus;
  t.is(s.processes.length, 3 + 2 * 2);
  t.true(
    s.processes.every((p) => p.alive),
    JSON.stringify(s.processes),
  );
  t.deepEqual(
    s.hosts?.map((h) => [h.host, h.status]),
    [
      ["host-1", "green"],
      ["host-2", "green"],
    ],
  );
  const text = await tactlProcess("dev", "status", "--dir", d);
  t.regex(text.out, /host-1\s+green/);
  t.regex(text.out, /kmxa host-2\s+\d+\s+running/);

  // A data key from the trusted key provider, through each host's agent (opened in its TPM), and unwrapped again.
  const keys: string[] = [];
  for (const h of env.hosts) {
    const made = await unixJson(h.agentSocket, "POST", `/api/v1/providers/${env.keyProvider}/data-keys`, {});
    t.is(made.status, 201, JSON.stringify(made.json));
    const key = String(made.json.key);
    t.is(Buffer.from(key, "base64").length, 32);
    const again = await unixJson(h.agentSocket, "POST", `/api/v1/providers/${env.keyProvider}/unwrap`, { wrapped: made.json.wrapped });
    t.is(again.status, 200, JSON.stringify(again.json));
    t.is(again.json.key, key);
    keys.push(key);
  }
  t.not(keys[0], keys[1]);

  // The directory runs an environment: a second `up` there is refused before anything starts.
  const twice = await tactlProcess("dev", "up", "--dir", d, "--hosts", "1");
  t.is(twice.code, 2);
  t.regex(twice.err, /DEV_DIR_IN_USE/);

  const pids = JSON.parse(await readFile(path.join(d, "pids.json"), "utf8")) as DevPids;
  t.is(pids.processes.length, 7);
  t.true(pids.processes.every((p) => running(p.pid, p.startTime)));
  const down = await tactlProcess("dev", "down", "--dir", d, "--json");
  t.is(down.code, 0, down.err);
  t.is((JSON.parse(down.out) as { stopped: unknown[] }).stopped.length, 7);
  for (const p of pids.processes) t.false(running(p.pid, p.startTime), `${p.name} (pid ${p.pid}) still runs`);

  // Afterwards: status says so (exit 1), and down again has nothing to stop.
  const after = await tactlProcess("dev", "status", "--dir", d, "--json");
  t.is(after.code, 1);
  t.true((JSON.parse(after.out) as DevStatus).processes.every((p) => !p.alive));
  const again = await tactlProcess("dev", "down", "--dir", d);
  t.is(again.code, 0);
  t.regex(again.out, /stopped 0 processes; 7 had ended already/);
});

test.serial("a dev up that fails half-way (swtpm_setup fails) names the step and leaves no process running", async (t) => {
  // A swtpm_setup that fails, found first on PATH: kmipd and attestd are being started meanwhile.
  const bin = path.join(dir, "fake-bin");
  await mkdir(bin);
  await writeFile(path.join(bin, "swtpm_setup"), "#!/bin/sh\necho 'swtpm_setup: simulated manufacturing failure' >&2\nexit 1\n", { mode: 0o755 });
  const d = path.join(dir, "failed");
  const up = await tactlProcessWith({ PATH: `${bin}:${process.env.PATH ?? ""}` }, "dev", "up", "--dir", d, "--hosts", "1");
  t.is(up.code, 3, up.out);
  t.regex(up.err, /DEV_SWTPM_SETUP.*\n?.*simulated manufacturing failure/s);
  const pids = JSON.parse(await readFile(path.join(d, "pids.json"), "utf8")) as DevPids;
  t.true(pids.processes.length >= 1, JSON.stringify(pids));
  for (const p of pids.processes) t.false(running(p.pid, p.startTime), `${p.name} (pid ${p.pid}) still runs`);
  await t.throwsAsync(readFile(path.join(d, "env.json"), "utf8"));
});
