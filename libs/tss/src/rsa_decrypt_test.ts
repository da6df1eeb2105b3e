// Tpm.rsaDecrypt against a real swtpm: a binding key (libs/tpm2's bindingKeyTemplate) under an SRK opens what
// node:crypto encrypted to its public key (OAEP with SHA-256 and SHA-1, with and without a label; RSAES; raw
// RSA under the null scheme), through password and HMAC sessions; a wrong key, label or authValue fails with
// the TPM's response code decoded; tpm2_rsadecrypt on the same swtpm agrees.
import test, { type ExecutionContext } from "ava";
import { constants, publicEncrypt, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { bindingKeyTemplate, publicKeyOf, srkTemplate, TPM_RH, TpmResponseError, type TpmtPublic } from "@tessera/tpm2";
import { rejectsRc, rejectsTss, swtpmForTests, tpm2Tool, withoutConnection } from "./_test_support.ts";
import type { LoadedObject } from "./tpm.ts";

const AUTH = new TextEncoder().encode("binding key auth");

let srk: number;
let key: LoadedObject;

const sim = swtpmForTests({
  setUp: async ({ tpm }) => {
    srk = (await tpm.createPrimary(TPM_RH.OWNER, srkTemplate())).handle;
    const blobs = await tpm.create(srk, bindingKeyTemplate());
    key = await tpm.load(srk, blobs.privateBlob, blobs.public);
  },
});

/**
 * A ciphertext that does not decode under the key, scheme and label. The reference implementation answers
 * TPM_RC_VALUE on `cipherText` (parameter 1); libtpms' OpenSSL back end (swtpm) answers TPM_RC_FAILURE when
 * EVP_PKEY_decrypt fails — an ordinary response code there, the TPM stays operational (next command works).
 */
async function rejectsUndecodable(t: ExecutionContext, p: Promise<unknown>): Promise<TpmResponseError> {
  const e = await t.throwsAsync(p, { instanceOf: TpmResponseError });
  if (!(e instanceof TpmResponseError)) throw new Error("not a TpmResponseError");
  t.is(e.command, "TPM2_RSA_Decrypt");
  t.true(e.code === "TPM_RC_FAILURE" || (e.code === "TPM_RC_VALUE" && e.decoded.parameter === 1), e.message);
  t.deepEqual((await sim.tpm.getRandom(4)).length, 4, "the TPM still answers");
  return e;
}

const oaep = (pub: TpmtPublic, data: Uint8Array, hash = "sha256", label?: Uint8Array): Uint8Array =>
  new Uint8Array(publicEncrypt({ key: publicKeyOf(pub), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: label }, data));

test.serial("OAEP-SHA256 (RSA-OAEP-256) with an empty label: the TPM recovers what node:crypto encrypted", async (t) => {
  for (const n of [0, 1, 32, 190]) {
    const cek = new Uint8Array(randomBytes(n));
    t.deepEqual(await sim.tpm.rsaDecrypt(key.handle, oaep(key.public, cek), { scheme: "oaep" }), cek, `${n} bytes`);
    t.deepEqual(await sim.tpm.rsaDecrypt(key.handle, oaep(key.public, cek), { scheme: "oaep", hash: "sha256", label: new Uint8Array() }), cek);
  }
});

test.serial("OAEP with SHA-1, RSAES-PKCS1-v1_5, and the null scheme (raw RSA for a key whose scheme is null)", async (t) => {
  const secret = new Uint8Array(randomBytes(20));
  t.deepEqual(await sim.tpm.rsaDecrypt(key.handle, oaep(key.public, secret, "sha1"), { scheme: "oaep", hash: "SHA1" }), secret);
  const v15 = new Uint8Array(publicEncrypt({ key: publicKeyOf(key.public), padding: constants.RSA_PKCS1_PADDING }, secret));
  t.deepEqual(await sim.tpm.rsaDecrypt(key.handle, v15, { scheme: "rsaes" }), secret);
  // Raw RSA: a full-size block below the modulus (leading 0) comes back as it went in.
  const block = new Uint8Array(256);
  block.set(randomBytes(255), 1);
  const raw = new Uint8Array(publicEncrypt({ key: publicKeyOf(key.public), padding: constants.RSA_NO_PADDING }, block));
  t.deepEqual(await sim.tpm.rsaDecrypt(key.handle, raw, { scheme: "null" }), block);
  // OAEP under SHA-256 does not open a SHA-1 ciphertext.
  await rejectsUndecodable(t, sim.tpm.rsaDecrypt(key.handle, oaep(key.public, secret, "sha1"), { scheme: "oaep" }));
});

test.serial("an OAEP label must match and, when not empty, end in NUL (as tpm2-tools' -l sends it)", async (t) => {
  const label = new TextEncoder().encode("tessera\0");
  const secret = new Uint8Array(randomBytes(32));
  const sealed = oaep(key.public, secret, "sha256", label);
  t.deepEqual(await sim.tpm.rsaDecrypt(key.handle, sealed, { scheme: "oaep", label }), secret);
  await rejectsUndecodable(t, sim.tpm.rsaDecrypt(key.handle, sealed, { scheme: "oaep" }));
  await rejectsUndecodable(t, sim.tpm.rsaDecrypt(key.handle, sealed, { scheme: "oaep", label: new TextEncoder().encode("tesserb\0") }));
  const unterminated = await rejectsRc(t, sim.tpm.rsaDecrypt(key.handle, sealed, { scheme: "oaep", label: label.subarray(0, 7) }), "TPM_RC_VALUE");
  t.is(unterminated?.decoded.parameter, 3, "the TPM names the label");
});

test.serial("another key, a signing key, or a wrong authValue fails with the TPM's error decoded", async (t) => {
  const other = await sim.tpm.create(srk, bindingKeyTemplate());
  const loaded = await sim.tpm.load(srk, other.privateBlob, other.public);
  const secret = new Uint8Array(randomBytes(32));
  try {
    t.deepEqual(await sim.tpm.rsaDecrypt(loaded.handle, oaep(other.public, secret), { scheme: "oaep" }), secret);
    const e = await rejectsUndecodable(t, sim.tpm.rsaDecrypt(key.handle, oaep(other.public, secret), { scheme: "oaep" }));
    t.regex(e.message, /TPM2_RSA_Decrypt/);
  } finally {
    await sim.tpm.flush(loaded.handle);
  }
  // The SRK is a restricted decryption key: TPM2_RSA_Decrypt refuses it by its attributes (an ECC key also by type).
  const srkError = await t.throwsAsync(sim.tpm.rsaDecrypt(srk, oaep(key.public, secret), { scheme: "oaep" }));
  t.regex(srkError?.message ?? "", /TPM_RC_(KEY|ATTRIBUTES|TYPE)/);

  const withAuth = await sim.tpm.create(srk, bindingKeyTemplate(), { authValue: AUTH });
  const authed = await sim.tpm.load(srk, withAuth.privateBlob, withAuth.public);
  try {
    const sealed = oaep(withAuth.public, secret);
    t.deepEqual(await sim.tpm.rsaDecrypt(authed.handle, sealed, { scheme: "oaep", auth: AUTH }), secret);
    t.deepEqual(await sim.tpm.rsaDecrypt({ handle: authed.handle, authValue: AUTH }, sealed, { scheme: "oaep" }), secret);
    const session = await sim.tpm.startAuthSession();
    try {
      t.deepEqual(await sim.tpm.rsaDecrypt(authed.handle, sealed, { scheme: "oaep", auth: AUTH, session }), secret, "through an HMAC session");
    } finally {
      await sim.tpm.flush(session.handle);
    }
    const bad = await rejectsRc(t, sim.tpm.rsaDecrypt(authed.handle, sealed, { scheme: "oaep", auth: new Uint8Array([1]) }), "TPM_RC_AUTH_FAIL");
    t.is(bad?.decoded.session, 1);
  } finally {
    await sim.tpm.flush(authed.handle);
  }
});

test.serial("unknown schemes and hashes are TSS_ARGUMENT before anything is sent", async (t) => {
  const c = oaep(key.public, new Uint8Array(8));
  await rejectsTss(t, sim.tpm.rsaDecrypt(key.handle, c, { scheme: "oaep", hash: "md5" }), "TSS_ARGUMENT");
  await rejectsTss(t, sim.tpm.rsaDecrypt(key.handle, c, { scheme: "rsaes", hash: "sha256" }), "TSS_ARGUMENT");
  await rejectsTss(t, sim.tpm.rsaDecrypt(key.handle, c, { scheme: "pss" as "oaep" }), "TSS_ARGUMENT");
});

test.serial("tpm2_rsadecrypt -s oaep on the same swtpm recovers the same content key", async (t) => {
  const handle = 0x81000700;
  await sim.tpm.evictControl(key.handle, handle);
  try {
    const label = new TextEncoder().encode("label\0");
    const secret = new Uint8Array(randomBytes(32));
    const plain = oaep(key.public, secret);
    const labelled = oaep(key.public, secret, "sha256", label);
    const dir = sim.sw.dir;
    await writeFile(path.join(dir, "cek.enc"), plain);
    await writeFile(path.join(dir, "cek-label.enc"), labelled);
    await withoutConnection(sim, () => {
      tpm2Tool(t, "tpm2_rsadecrypt", ["-T", sim.sw.tcti, "-c", `0x${handle.toString(16)}`, "-s", "oaep", "-o", path.join(dir, "cek.out"), path.join(dir, "cek.enc")]);
      // tpm2-tools appends the NUL to -l itself.
      tpm2Tool(t, "tpm2_rsadecrypt", ["-T", sim.sw.tcti, "-c", `0x${handle.toString(16)}`, "-s", "oaep", "-l", "label", "-o", path.join(dir, "cek-label.out"), path.join(dir, "cek-label.enc")]);
    });
    t.deepEqual(new Uint8Array(await readFile(path.join(dir, "cek.out"))), secret);
    t.deepEqual(new Uint8Array(await readFile(path.join(dir, "cek-label.out"))), secret);
    t.deepEqual(await sim.tpm.rsaDecrypt(handle, plain, { scheme: "oaep" }), secret, "and so does rsaDecrypt on the persistent handle");
    t.deepEqual(await sim.tpm.rsaDecrypt(handle, labelled, { scheme: "oaep", label }), secret);
  } finally {
    await sim.tpm.evictControl(handle, handle);
  }
});
