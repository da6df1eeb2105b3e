import test from "ava";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ensurePrivateDir } from "./data_dir.ts";
import { ServiceError } from "./errors.ts";

test("ensurePrivateDir: creates 0700; makes an open directory 0700 and says so; refuses a file", async (t) => {
  const base = await mkdtemp(path.join(os.tmpdir(), "tessera-dir-"));
  const old = process.umask(0o000);
  try {
    const logs: string[] = [];
    const a = path.join(base, "a", "b");
    await ensurePrivateDir(a, (m) => logs.push(m));
    t.is((await stat(a)).mode & 0o777, 0o700);
    t.deepEqual(logs, []);
    const open = path.join(base, "open");
    await mkdir(open);
    await chmod(open, 0o755);
    await ensurePrivateDir(open, (m) => logs.push(m));
    t.is((await stat(open)).mode & 0o777, 0o700);
    t.deepEqual(logs, ["data directory was open to group or others; made it private"]);
    const file = path.join(base, "file");
    await writeFile(file, "x");
    const e = await t.throwsAsync(ensurePrivateDir(file), { instanceOf: ServiceError });
    t.is(e?.code, "SERVICE_DIR");
  } finally {
    process.umask(old);
    await rm(base, { recursive: true, force: true });
  }
});
