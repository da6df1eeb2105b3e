import test from "ava";
import fc from "fast-check";
import { createCipheriv, randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ServiceError } from "./errors.ts";
import { startSwtpm } from "@tessera/swtpm-testing";
import { seal, Tpm, unseal } from "@tessera/tss";
import { isEnvelope, readEnvelopeHeader } from "@tessera/vtpm";
import { aesGcmKeyring, assertMasterKeyUnwraps, loadOrCreateMasterKey, loadOrCreateSealedMasterKey } from "./master_key.ts";

/** Material as the keyring wrote it before the envelope: version(1) || nonce(12) || ciphertext || tag(16), the id as AAD. */
function legacyWrap(masterKey: Uint8Array, id: string, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", masterKey, nonce);
  c.setAAD(Buffer.from(id, "utf8"));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([Buffer.from([1]), nonce, body, c.getAuthTag()]));
}

const masterKeyError = (t: { throws: (fn: () => unknown, e: { instanceOf: typeof ServiceError }) => ServiceError | undefined; is: (a: unknown, b: unknown) => void }, fn: () => unknown) => {
  const e = t.throws(fn, { instanceOf: ServiceError });
  t.is(e?.code, "SERVICE_MASTER_KEY");
  return e?.message ?? "";
};

test("aesGcmKeyring: wraps in an envelope (master-key, local; the id as context), unwraps it for the same id only; altered material fails", (t) => {
  const k = aesGcmKeyring(new Uint8Array(32).fill(7));
  const w = k.wrap("obj-1", new Uint8Array([1, 2, 3]));
  t.true(isEnvelope(w));
  t.like(readEnvelopeHeader(w), { context: "obj-1", provider: { name: "master-key", kind: "local" }, key: { id: "master", version: 1 }, contentLength: 3 });
  t.is(readEnvelopeHeader(w).wrappedDataKey.length, 0, "nothing wraps the master key");
  t.deepEqual(k.unwrap("obj-1", w), new Uint8Array([1, 2, 3]));
  t.regex(masterKeyError(t, () => k.unwrap("obj-2", w)), /^wrapped key material of object obj-2 is object "obj-1"'s, not this object's$/);
  const bad = w.slice();
  bad[bad.length - 5] ^= 1;
  t.regex(masterKeyError(t, () => k.unwrap("obj-1", bad)), /does not open with this master key \(envelope content .*fails authentication/);
  t.regex(masterKeyError(t, () => k.unwrap("obj-1", w.subarray(0, 30))), /does not open with this master key/);
  t.regex(masterKeyError(t, () => aesGcmKeyring(new Uint8Array(32).fill(8)).unwrap("obj-1", w)), /does not open with this master key/);
  t.regex(masterKeyError(t, () => k.unwrap("obj-1", new Uint8Array(10))), /unknown format/);
  t.throws(() => aesGcmKeyring(new Uint8Array(16)), { instanceOf: ServiceError });
  t.deepEqual(k.unwrap("empty", k.wrap("empty", new Uint8Array())), new Uint8Array());
  const master = new Uint8Array(32).fill(9);
  const k9 = aesGcmKeyring(master);
  master.fill(0);
  t.deepEqual(k9.unwrap("x", k9.wrap("x", new Uint8Array([5]))), new Uint8Array([5]), "the keyring keeps its own copy of the master key");
});

test("aesGcmKeyring: material wrapped before the envelope (version byte 1) still unwraps, for its id and master key only", (t) => {
  const master = new Uint8Array(32).fill(7);
  const k = aesGcmKeyring(master);
  const secret = new Uint8Array(randomBytes(32));
  const old = legacyWrap(master, "obj-1", secret);
  t.is(old.length, 1 + 12 + 32 + 16);
  t.false(isEnvelope(old));
  t.deepEqual(k.unwrap("obj-1", old), secret);
  t.deepEqual(k.unwrap("obj-1", old), secret, "twice (one key object kept)");
  t.regex(masterKeyError(t, () => k.unwrap("obj-2", old)), /^wrapped key material of object obj-2 \(version 1\) fails authentication/);
  const bad = old.slice();
  bad[20] ^= 1;
  masterKeyError(t, () => k.unwrap("obj-1", bad));
  masterKeyError(t, () => aesGcmKeyring(new Uint8Array(32).fill(8)).unwrap("obj-1", old));
  // Re-wrapping old material moves it to the envelope.
  t.true(isEnvelope(k.wrap("obj-1", k.unwrap("obj-1", old))));
});

test("aesGcmKeyring: any bytes — junk, envelope-like, version-1-like, or a wrapped value cut or spliced — only ever give a SERVICE_MASTER_KEY error (property)", (t) => {
  const k = aesGcmKeyring(new Uint8Array(32).fill(7));
  const env = k.wrap("obj-1", new Uint8Array(32).fill(1));
  const old = legacyWrap(new Uint8Array(32).fill(7), "obj-1", new Uint8Array(32).fill(1));
  const prefixed = (prefix: number[]) => fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array([...prefix, ...b]));
  const spliced = (base: Uint8Array) =>
    fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.boolean()).map(([at, ins, cut]) => {
      const i = at % base.length;
      return cut ? base.subarray(0, i) : new Uint8Array([...base.subarray(0, i), ...ins, ...base.subarray(i)]);
    });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), prefixed([0x54, 0x45, 0x4e, 0x56]), prefixed([1]), spliced(env), spliced(old)), (bytes) => {
      try {
        k.unwrap("obj-1", bytes);
        return false;
      } catch (e) {
        return e instanceof ServiceError && e.code === "SERVICE_MASTER_KEY";
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
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

test("loadOrCreateSealedMasterKey (a real swtpm): an envelope (0600) whose data key the TPM seals, the key not in the file; unsealed the same later; another TPM cannot", async (t) => {
  const sw = await startSwtpm();
  const other = await startSwtpm();
  const d = await mkdtemp(path.join(os.tmpdir(), "tessera-sealed-"));
  try {
    const f = path.join(d, "master.key.tpm");
    const a = await loadOrCreateSealedMasterKey(f, sw.tcti);
    t.true(a.created);
    t.is(a.key.length, 32);
    t.is((await stat(f)).mode & 0o777, 0o600);
    const file = new Uint8Array(await readFile(f));
    t.false(Buffer.from(file).includes(Buffer.from(a.key)), "the file does not hold the key in the clear");
    t.true(isEnvelope(file));
    const h = readEnvelopeHeader(file);
    t.like(h, { provider: { name: "tpm", kind: "local" }, key: { id: "srk", version: 1 }, context: "master-key", contentLength: 32 });
    // The wrapped data key is a libs/tss sealed blob: the TPM unseals it to a fresh key, not the master key.
    const tpm = Tpm.open(sw.tcti);
    try {
      const dataKey = await unseal(tpm, h.wrappedDataKey);
      t.is(dataKey.length, 32);
      t.notDeepEqual(dataKey, a.key);
    } finally {
      await tpm.close();
    }
    const b = await loadOrCreateSealedMasterKey(f, sw.tcti);
    t.false(b.created);
    t.deepEqual(b.key, a.key);
    await t.throwsAsync(loadOrCreateSealedMasterKey(f, other.tcti));
    // A changed byte of the content (the master key's ciphertext) is refused, naming the file.
    const tampered = path.join(d, "tampered.tpm");
    const m = file.slice();
    m[m.length - 20] ^= 1;
    await writeFile(tampered, m, { mode: 0o600 });
    const e = await t.throwsAsync(loadOrCreateSealedMasterKey(tampered, sw.tcti), { instanceOf: ServiceError });
    t.is(e?.code, "SERVICE_MASTER_KEY");
    t.regex(e?.message ?? "", /sealed master key .*tampered\.tpm does not open \(envelope content .*fails authentication/);
    const cut = path.join(d, "cut.tpm");
    await writeFile(cut, file.subarray(0, 40), { mode: 0o600 });
    t.regex((await t.throwsAsync(loadOrCreateSealedMasterKey(cut, sw.tcti), { instanceOf: ServiceError }))?.message ?? "", /is not a readable envelope/);
  } finally {
    await sw.stop();
    await other.stop();
    await rm(d, { recursive: true, force: true });
  }
});

test("loadOrCreateSealedMasterKey (a real swtpm): a file of the format before the envelope (the master key itself sealed) is still read, and left as it is", async (t) => {
  const sw = await startSwtpm();
  const d = await mkdtemp(path.join(os.tmpdir(), "tessera-sealed-old-"));
  try {
    const f = path.join(d, "master.key.tpm");
    const master = new Uint8Array(randomBytes(32));
    // The old file: libs/tss seal of the master key, TPM2B_PUBLIC || TPM2B_PRIVATE, written as is.
    const tpm = Tpm.open(sw.tcti);
    let old: Uint8Array;
    try {
      old = await seal(tpm, master);
    } finally {
      await tpm.close();
    }
    t.false(isEnvelope(old));
    await writeFile(f, old, { mode: 0o600 });
    const r = await loadOrCreateSealedMasterKey(f, sw.tcti);
    t.false(r.created);
    t.deepEqual(r.key, master);
    t.deepEqual(new Uint8Array(await readFile(f)), old, "not rewritten");
  } finally {
    await sw.stop();
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
