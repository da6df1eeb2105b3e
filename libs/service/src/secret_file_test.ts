import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ServiceError } from "./errors.ts";
import { readPem, writeSecretFile } from "./secret_file.ts";

async function tmpDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "tessera-service-"));
}

test("writeSecretFile: the file is 0600 even under umask 000, and an overwrite keeps 0600", async (t) => {
  const dir = await tmpDir();
  const old = process.umask(0o000);
  try {
    const f = path.join(dir, "admin.password");
    await writeSecretFile(f, "s3cret\n");
    t.is((await stat(f)).mode & 0o777, 0o600);
    t.is(await readFile(f, "utf8"), "s3cret\n");
    await writeFile(f, "x", { mode: 0o666 });
    await writeSecretFile(f, new Uint8Array([1, 2, 3]));
    t.is((await stat(f)).mode & 0o777, 0o600);
    t.deepEqual(new Uint8Array(await readFile(f)), new Uint8Array([1, 2, 3]));
    await writeSecretFile(path.join(dir, "ca.pem"), "cert", { mode: 0o644 });
    t.is((await stat(path.join(dir, "ca.pem"))).mode & 0o777, 0o644);
  } finally {
    process.umask(old);
    await rm(dir, { recursive: true, force: true });
  }
});

test("writeSecretFile is atomic: a write that fails half-way (file size limit) leaves the old content and no temporary file", async (t) => {
  const dir = await tmpDir();
  try {
    const f = path.join(dir, "secret");
    await writeSecretFile(f, "old content");
    // A child process limited to 64 KiB files (ulimit -f, in 1 KiB blocks): writing 1 MiB fails with EFBIG
    // after the first 64 KiB are on disk. Node ignores SIGXFSZ, so the write fails instead of killing it.
    const mod = path.join(path.dirname(fileURLToPath(import.meta.url)), "secret_file.ts");
    const script = `import { writeSecretFile } from ${JSON.stringify(mod)};
try { await writeSecretFile(${JSON.stringify(f)}, new Uint8Array(1 << 20).fill(65)); console.log("WROTE"); }
catch (e) { console.log(e.code + " " + e.message); }`;
    const r = spawnSync("bash", ["-c", `ulimit -f 64; exec "$0" --input-type=module -e "$1"`, process.execPath, script], { encoding: "utf8" });
    t.regex(r.stdout, /^SERVICE_FILE cannot write .*secret: EFBIG/m, r.stderr);
    t.is(await readFile(f, "utf8"), "old content");
    t.deepEqual(await readdir(dir), ["secret"]);
    // The same file, without the limit: written whole.
    const ok = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    t.regex(ok.stdout, /WROTE/, ok.stderr);
    t.is((await stat(f)).size, 1 << 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("writeSecretFile into a missing directory: SERVICE_FILE naming the file", async (t) => {
  const f = path.join(os.tmpdir(), "tessera-no-such-dir-" + process.pid, "x");
  const e = await t.throwsAsync(writeSecretFile(f, "x"), { instanceOf: ServiceError });
  t.is(e?.code, "SERVICE_FILE");
  t.true(e?.message.includes(f));
  t.regex(e?.message ?? "", /ENOENT/);
});

test("readPem names what it reads and the file", async (t) => {
  const e = await t.throwsAsync(readPem("/nonexistent/tls.pem", "TLS certificate"), { instanceOf: ServiceError });
  t.is(e?.message, "cannot read TLS certificate /nonexistent/tls.pem: ENOENT");
});
