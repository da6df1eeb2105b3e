import test from "ava";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ServiceError } from "./errors.ts";
import { startSwtpm } from "@tessera/swtpm-testing";
import { aesGcmKeyring, assertMasterKeyUnwraps, loadOrCreateMasterKey, loadOrCreateSealedMasterKey } from "./master_key.ts";

test("aesGcmKeyring: unwraps what it wrapped for the same id only; altered material fails", (t) => {
  const k = aesGcmKeyring(new Uint8Array(32).fill(7));
  const w = k.wrap("obj-1", new Uint8Array([1, 2, 3]));
  t.is(w.length, 1 + 12 + 3 + 16);
  t.deepEqual(k.unwrap("obj-1", w), new Uint8Array([1, 2, 3]));
  t.throws(() => k.unwrap("obj-2", w));
  const bad = w.slice();
  bad[14] ^= 1;
  t.throws(() => k.unwrap("obj-1", bad));
  t.is(t.throws(() => k.unwrap("obj-1", new Uint8Array(10)), { instanceOf: ServiceError })?.code, "SERVICE_MASTER_KEY");
  t.throws(() => aesGcmKeyring(new Uint8Array(16)), { instanceOf: ServiceError });
});

test("loadOrCreateMasterKey: created 0600 once, then loaded; a file open to others is refused", async (t) => {
  const d = await mkdtemp(path.join(os.tmpdir(), "tessera-mk-"));
  const old = process.umask(0o000);
  try {
    const f = path.join(d, "master.key");
    const a = await loadOrCreateMasterKey(f);
    t.true(a.created);
    t.is(a.key.length, 32);
    t.is((await stat(f)).mode & 0o777, 0o600);
    const b = await loadOrCreateMasterKey(f);
    t.false(b.created);
    t.deepEqual(b.key, a.key);
    await chmod(f, 0o644);
    const e = await t.throwsAsync(loadOrCreateMasterKey(f), { instanceOf: ServiceError });
    t.regex(e?.message ?? "", /accessible by group or others \(mode 644\)/);
    const short = path.join(d, "short.key");
    await writeFile(short, "x", { mode: 0o600 });
    t.regex((await t.throwsAsync(loadOrCreateMasterKey(short)))?.message ?? "", /is 1 bytes, expected 32/);
  } finally {
    process.umask(old);
    await rm(d, { recursive: true, force: true });
  }
});

test("loadOrCreateSealedMasterKey (a real swtpm): created and sealed (0600, the key not in the file), unsealed the same later; another TPM cannot", async (t) => {
  const sw = await startSwtpm();
  const other = await startSwtpm();
  const d = await mkdtemp(path.join(os.tmpdir(), "tessera-sealed-"));
  try {
    const f = path.join(d, "master.key.tpm");
    const a = await loadOrCreateSealedMasterKey(f, sw.tcti);
    t.true(a.created);
    t.is(a.key.length, 32);
    t.is((await stat(f)).mode & 0o777, 0o600);
    t.false(Buffer.from(await readFile(f)).includes(Buffer.from(a.key)), "the sealed blob does not hold the key in the clear");
    const b = await loadOrCreateSealedMasterKey(f, sw.tcti);
    t.false(b.created);
    t.deepEqual(b.key, a.key);
    await t.throwsAsync(loadOrCreateSealedMasterKey(f, other.tcti));
  } finally {
    await sw.stop();
    await other.stop();
    await rm(d, { recursive: true, force: true });
  }
});

test("assertMasterKeyUnwraps: what this node's key wrapped passes; another node's key is named with the item", (t) => {
  const mine = aesGcmKeyring(new Uint8Array(32).fill(1));
  const theirs = aesGcmKeyring(new Uint8Array(32).fill(2));
  const item = { id: "signing-key:k1", wrapped: mine.wrap("signing-key:k1", new Uint8Array([9])), what: "token signing key k1" };
  t.notThrows(() => assertMasterKeyUnwraps(mine, "/d/master.key", "attestd", [item]));
  const e = t.throws(() => assertMasterKeyUnwraps(theirs, "/d/master.key", "attestd", [item]), { instanceOf: ServiceError });
  t.is(e?.code, "SERVICE_MASTER_KEY");
  t.regex(e?.message ?? "", /the master key \/d\/master\.key does not unwrap token signing key k1 in the database: every attestd node/);
});
