/**
 * The kmxd process (`bin/kmxd`): a bad configuration exits 2 naming the field; the first start creates D/tls/
 * and D/master.key (0600) and prints its ready line with the bound port; it starts while attestd is down (the
 * health says so) and a restart reuses the same TLS material and master key.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { readFile, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createCa } from "@tessera/pki";
import { call, freePort, startKmxdProcess } from "./_admin_test_support.ts";

const KMXD = path.resolve(import.meta.dirname, "../bin/kmxd");
let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmxd-main-"));
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a bad configuration exits 2 naming the field; --help prints the usage", (t) => {
  const bad = spawnSync(KMXD, ["--attestd", "http://x.example", "--attestd-ca", "/nonexistent"], { encoding: "utf8" });
  t.is(bad.status, 2);
  t.regex(bad.stderr, /^kmxd: .*attestd/m);
  const help = spawnSync(KMXD, ["--help"], { encoding: "utf8" });
  t.is(help.status, 0);
  t.regex(help.stdout, /usage: kmxd --attestd URL --attestd-ca FILE\.pem/);
});

test("first start: D/tls/ and D/master.key (0600), ready line with the bound port; up while attestd is down; a restart reuses them", async (t) => {
  // Any certificate will do as attestd's CA: attestd is not running at all.
  const first = await startKmxdProcess(["--attestd", `https://127.0.0.1:${await freePort()}`, "--attestd-ca", await someCa()], path.join(dir, "d"));
  try {
    t.regex(first.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    t.not(first.url, "https://127.0.0.1:0");
    const key = await stat(path.join(dir, "d", "master.key"));
    t.is(key.mode & 0o777, 0o600);
    t.is((await stat(path.join(dir, "d"))).mode & 0o777, 0o700);
    t.true((await stat(path.join(dir, "d", "tls", "server.pem"))).isFile());
    t.is((await stat(path.join(dir, "d", "tls", "server-key.pem"))).mode & 0o777, 0o600);
    const health = await call(first.url, first.ca, "GET", "/api/v1/health");
    t.is(health.status, 200);
    t.is(health.body.attestdEvents, "disconnected");
  } finally {
    await first.stop();
  }
  const masterBefore = await readFile(path.join(dir, "d", "master.key"));
  const caBefore = await readFile(path.join(dir, "d", "tls", "ca.pem"), "utf8");
  const second = await startKmxdProcess(["--attestd", `https://127.0.0.1:${await freePort()}`, "--attestd-ca", await someCa()], path.join(dir, "d"));
  await second.stop();
  t.deepEqual(await readFile(path.join(dir, "d", "master.key")), masterBefore);
  t.is(await readFile(path.join(dir, "d", "tls", "ca.pem"), "utf8"), caBefore);
});

/** A PEM certificate file (a CA made by another kmxd start would do; @tessera/pki makes one). */
async function someCa(): Promise<string> {
  const ca = await createCa({ commonName: "not attestd" });
  const f = path.join(dir, "some-ca.pem");
  await writeFile(f, ca.certificatePem);
  return f;
}
