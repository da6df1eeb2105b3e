/**
 * The launchers of tactl and kmipd (`apps/<app>/bin/<app>`), as an administrator puts them on PATH: a symlink in
 * another directory, run from another directory, with a PATH whose `node` is the machine's own (older) one.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fixturePath } from "@tessera/fixtures";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const PATH_WITHOUT_REPO = "/usr/local/bin:/usr/bin:/bin";
let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-launcher-"));
  await symlink(path.join(ROOT, "apps/tactl/bin/tactl"), path.join(dir, "tactl"));
  await symlink(path.join(ROOT, "apps/kmipd/bin/kmipd"), path.join(dir, "kmipd"));
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function runLinked(name: string, argv: string[], env: Record<string, string> = {}) {
  return spawnSync(name, argv, {
    cwd: os.tmpdir(),
    encoding: "utf8",
    timeout: 60_000,
    env: { HOME: os.homedir(), PATH: `${dir}:${PATH_WITHOUT_REPO}`, ...env },
  });
}

test("tactl through a symlink on PATH runs on the repository's Node 24 from any directory", (t) => {
  const r = runLinked("tactl", ["eventlog", "show", fixturePath("eventlogs/go-tpm-tools_gdc-host.bin")]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^format crypto-agile, 158 events$/m);
  const h = runLinked("tactl", ["--help"]);
  t.is(h.status, 0, h.stderr);
  t.regex(h.stdout, /tactl eventlog show/);
  const bad = runLinked("tactl", ["frobnicate"]);
  t.is(bad.status, 2, "the exit code passes through the launcher");
});

test("tactl's launcher works with the compile cache off and with a cache directory it cannot write", async (t) => {
  const log = fixturePath("eventlogs/go-tpm-tools_gdc-host.bin");
  // A directory that cannot be created (below a regular file). (Not /proc: there Node 24 itself loops.)
  const file = path.join(dir, "a-file");
  await writeFile(file, "");
  const envs: Record<string, string>[] = [{ NODE_DISABLE_COMPILE_CACHE: "1" }, { NODE_COMPILE_CACHE: path.join(file, "cache") }, { TMPDIR: file }];
  for (const env of envs) {
    const r = runLinked("tactl", ["eventlog", "show", log], env);
    t.is(r.status, 0, `${JSON.stringify(env)}: ${r.stderr}`);
    t.is(r.stderr, "", JSON.stringify(env));
    t.regex(r.stdout, /158 events/);
  }
});

test("kmipd through a symlink on PATH runs on the repository's Node 24 from any directory", (t) => {
  const r = runLinked("kmipd", ["--help"]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /usage: kmipd/);
});

test("install-bins links tactl and kmipd into a directory, from which they run", async (t) => {
  const bin = path.join(dir, "installed", "bin");
  const r = spawnSync("sh", [path.join(ROOT, "tools/ci/install-bins.sh"), bin], { cwd: os.tmpdir(), encoding: "utf8", timeout: 60_000 });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /is not on PATH/);
  const env = { HOME: os.homedir(), PATH: `${bin}:${PATH_WITHOUT_REPO}` };
  const tactl = spawnSync("tactl", ["--help"], { cwd: "/", encoding: "utf8", timeout: 60_000, env });
  t.is(tactl.status, 0, tactl.stderr);
  const kmipd = spawnSync("kmipd", ["--help"], { cwd: "/", encoding: "utf8", timeout: 60_000, env });
  t.is(kmipd.status, 0, kmipd.stderr);
  t.false(spawnSync("sh", ["-c", "command -v install-bins"], { env }).status === 0, "install-bins does not install itself");
});
