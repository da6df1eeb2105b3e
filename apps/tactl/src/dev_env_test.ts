/**
 * The environment's files and the refusals before anything starts: pids.json and env.json read back what was
 * written and refuse anything else with DEV_ENV_INVALID naming the entry (property tests over arbitrary JSON),
 * a missing environment is DEV_NO_ENV, and `tactl dev up` refuses a bad --hosts and a directory that is not empty
 * (exit 2) without starting a process; `down` on a directory with no environment stops nothing.
 */
import test from "ava";
import fc from "fast-check";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { tactl } from "./_test_support.ts";
import { devLayout, readEnv, readPids, writePids, type DevEnv } from "./dev_env.ts";
import { DevError } from "./dev_errors.ts";

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tdeve-"));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ENV: DevEnv = {
  attestd: "https://127.0.0.1:1",
  kmxd: "https://127.0.0.1:2",
  kmipd: "127.0.0.1:3",
  ca: "/d/ca.pem",
  adminPasswordFile: "/d/attestd/admin.password",
  keyProvider: "dev",
  hosts: [{ name: "host-1", tcti: "swtpm:path=/d/s", agentSocket: "/d/k.sock", agentUrl: "https://127.0.0.1:4" }],
};

test("pids.json: written and read back; absent is no process", async (t) => {
  const l = devLayout(path.join(dir, "pids"));
  t.deepEqual(await readPids(l), { processes: [] });
  const pids = { processes: [{ name: "kmipd", pid: 1234, startTime: 99, log: "/d/logs/kmipd.log" }] };
  await writePids(l, pids);
  t.deepEqual(await readPids(l), pids);
});

test("pids.json: anything but a list of {name, pid > 1, startTime, log} is DEV_ENV_INVALID", async (t) => {
  const l = devLayout(path.join(dir, "bad-pids"));
  await mkdir(l.root, { recursive: true });
  const valid = fc.record({ name: fc.string(), pid: fc.integer({ min: 2, max: 2 ** 22 }), startTime: fc.nat(), log: fc.string() });
  // Arbitrary JSON, and lists mixing valid records with arbitrary values.
  const input = fc.oneof(fc.jsonValue(), fc.record({ processes: fc.array(fc.oneof(valid, valid, fc.jsonValue()), { maxLength: 5 }) }));
  await fc.assert(
    fc.asyncProperty(input, async (v) => {
      await writeFile(l.pids, JSON.stringify(v));
      const isValid = typeof v === "object" && v !== null && !Array.isArray(v) && Array.isArray((v as Record<string, unknown>).processes) && (v as { processes: unknown[] }).processes.every(ok);
      try {
        t.deepEqual((await readPids(l)).processes, (v as { processes: unknown[] }).processes);
        return isValid;
      } catch (e) {
        return e instanceof DevError && e.code === "DEV_ENV_INVALID" && !isValid;
      }
    }),
    { numRuns: 300 },
  );
  await writeFile(l.pids, JSON.stringify({ processes: [{ name: "x", pid: 1, startTime: 0, log: "l" }] }));
  const e = await t.throwsAsync(readPids(l), { instanceOf: DevError });
  t.regex(e.message, /processes\[0\]/);
  await writeFile(l.pids, "{not json");
  t.is((await t.throwsAsync(readPids(l), { instanceOf: DevError })).code, "DEV_ENV_INVALID");
});

function ok(p: unknown): boolean {
  if (typeof p !== "object" || p === null || Array.isArray(p)) return false;
  const r = p as Record<string, unknown>;
  return typeof r.name === "string" && typeof r.log === "string" && Number.isSafeInteger(r.pid) && (r.pid as number) > 1 && Number.isSafeInteger(r.startTime) && (r.startTime as number) >= 0;
}

test("env.json: read back; missing is DEV_NO_ENV; each field checked, naming it", async (t) => {
  const l = devLayout(path.join(dir, "env"));
  t.is((await t.throwsAsync(readEnv(l), { instanceOf: DevError })).code, "DEV_NO_ENV");
  await mkdir(l.root, { recursive: true });
  await writeFile(l.env, JSON.stringify(ENV));
  t.deepEqual(await readEnv(l), ENV);
  for (const k of ["attestd", "kmxd", "kmipd", "ca", "adminPasswordFile", "keyProvider"] as const) {
    await writeFile(l.env, JSON.stringify({ ...ENV, [k]: 7 }));
    const e = await t.throwsAsync(readEnv(l), { instanceOf: DevError });
    t.is(e.code, "DEV_ENV_INVALID");
    t.true(e.message.includes(`"${k}"`), e.message);
  }
  await writeFile(l.env, JSON.stringify({ ...ENV, hosts: [{ name: "h" }] }));
  t.regex((await t.throwsAsync(readEnv(l), { instanceOf: DevError })).message, /hosts\[0\]/);
  await fc.assert(
    fc.asyncProperty(fc.jsonValue(), async (v) => {
      await writeFile(l.env, JSON.stringify(v));
      try {
        await readEnv(l);
        return false; // arbitrary JSON is never an environment
      } catch (e) {
        return e instanceof DevError && e.code === "DEV_ENV_INVALID";
      }
    }),
    { numRuns: 200 },
  );
});

test("dev up refuses a bad --hosts and a directory that is not empty, before starting anything (exit 2)", async (t) => {
  for (const hosts of ["0", "17", "two"]) {
    const r = await tactl("dev", "up", "--dir", path.join(dir, "never"), "--hosts", hosts);
    t.is(r.code, 2, hosts);
    t.regex(r.err, /DEV_USAGE/);
  }
  const used = path.join(dir, "used");
  await mkdir(used);
  await writeFile(path.join(used, "notes.txt"), "mine");
  const r = await tactl("dev", "up", "--dir", used);
  t.is(r.code, 2);
  t.regex(r.err, /DEV_DIR_NOT_EMPTY/);
  t.deepEqual(await readdir(used), ["notes.txt"]);
  t.is((await tactl("dev", "up")).code, 2);
});

test("dev status with no environment: DEV_NO_ENV (exit 2); dev down there stops nothing", async (t) => {
  const none = path.join(dir, "none");
  const s = await tactl("dev", "status", "--dir", none);
  t.is(s.code, 2);
  t.regex(s.err, /DEV_NO_ENV/);
  const d = await tactl("dev", "down", "--dir", none);
  t.is(d.code, 0);
  t.regex(d.out, /stopped 0 processes/);
});
