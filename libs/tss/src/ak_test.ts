/**
 * Attestation keys under the EK: create (RSA and ECC AKs under the RSA and ECC EKs), store as blobs,
 * reload on a new connection, quote and verify, ActivateCredential; and nothing may stay loaded,
 * also when an operation fails.
 */
import test, { type ExecutionContext } from "ava";
import { createHash, randomBytes } from "node:crypto";
import {
  type AkKind,
  akTemplate,
  type EkKind,
  makeCredential,
  objectName,
  pcrSelection,
  TPM_ALG,
  TPM_HT,
  TPMA_OBJECT,
  TpmResponseError,
  TpmVerifyError,
  verifyQuote,
} from "@tessera/tpm2";
import { activateAkCredential, type AkBlobs, createAk, loadAk, parseAkBlobs, withAk } from "./ak.ts";
import { createEk, withEk } from "./ek.ts";
import { Tpm } from "./tpm.ts";
import { swtpmForTests } from "./_test_support.ts";

const sim = swtpmForTests();

const SHA256 = TPM_ALG.SHA256;
const COMBOS: readonly { ek: EkKind; ak: AkKind }[] = [
  { ek: "rsa2048", ak: "rsa" },
  { ek: "rsa2048", ak: "ecc" },
  { ek: "ecc-p256", ak: "rsa" },
  { ek: "ecc-p256", ak: "ecc" },
];
const stored = new Map<string, { publicBytes: Uint8Array; privateBytes: Uint8Array; name: Uint8Array }>();
const key = (ek: EkKind, ak: AkKind): string => `${ek}/${ak}`;

/** Asserts no transient object and no session is loaded. */
async function nothingLoaded(t: ExecutionContext, except: readonly number[] = []): Promise<void> {
  t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), [...except], "transient objects left loaded");
  t.deepEqual(await sim.tpm.handles(TPM_HT.HMAC_SESSION), [], "HMAC sessions left loaded");
  t.deepEqual(await sim.tpm.handles(TPM_HT.POLICY_SESSION), [], "policy sessions left loaded");
}

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[at] ^= 0x01;
  return c;
}

const REQUIRED = TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent;

for (const { ek: ekKind, ak: akKind } of COMBOS) {
  test.serial(`createAk ${akKind} under the ${ekKind} EK: restricted signing key, blobs round-trip`, async (t) => {
    t.timeout(20_000);
    const blobs = await withEk(sim.tpm, ekKind, (ek) => createAk(sim.tpm, ek, akKind));
    t.is(blobs.public.objectAttributes & REQUIRED, REQUIRED);
    t.is(blobs.public.objectAttributes & TPMA_OBJECT.decrypt, 0, "an AK must not decrypt");
    t.is(blobs.public.type, akKind === "rsa" ? TPM_ALG.RSA : TPM_ALG.ECC);
    t.is(blobs.public.nameAlg, SHA256);
    t.deepEqual(blobs.name, objectName(blobs.public));
    // The template's attributes and parameters are kept; only unique is filled in.
    t.deepEqual({ ...blobs.public, unique: null }, { ...akTemplate(akKind), unique: null });

    const parsed: AkBlobs = parseAkBlobs(blobs.publicBytes, blobs.privateBytes);
    t.deepEqual(parsed.public, blobs.public);
    t.deepEqual(parsed.name, blobs.name);
    t.deepEqual(parsed.publicBytes, blobs.publicBytes);
    t.deepEqual(parsed.privateBytes, blobs.privateBytes);
    // TPM2B framing: a 2-byte size in front.
    t.is(new DataView(blobs.privateBytes.buffer, blobs.privateBytes.byteOffset).getUint16(0), blobs.privateBytes.length - 2);
    t.is(new DataView(blobs.publicBytes.buffer, blobs.publicBytes.byteOffset).getUint16(0), blobs.publicBytes.length - 2);
    t.throws(() => parseAkBlobs(blobs.publicBytes.subarray(0, 20), blobs.privateBytes));
    t.throws(() => parseAkBlobs(blobs.publicBytes, blobs.privateBytes.subarray(0, blobs.privateBytes.length - 1)));

    stored.set(key(ekKind, akKind), { publicBytes: Uint8Array.from(blobs.publicBytes), privateBytes: Uint8Array.from(blobs.privateBytes), name: blobs.name });
    await nothingLoaded(t);
  });
}

test.serial("reload on a new connection: recreate the EK, loadAk gives the same Name; quotes verify, tampered ones do not", async (t) => {
  t.timeout(25_000);
  // A new connection, as a later run of the agent would have.
  await sim.tpm.close();
  sim.tpm = Tpm.open(sim.sw.tcti);
  // Make PCR 16 non-trivial.
  await sim.tpm.pcrExtend(16, [{ hashAlg: SHA256, digest: new Uint8Array(createHash("sha256").update("ak_test").digest()) }]);
  const sel = [pcrSelection(SHA256, [0, 1, 2, 7, 16])];
  for (const { ek: ekKind, ak: akKind } of COMBOS) {
    const s = stored.get(key(ekKind, akKind));
    if (!s) return t.fail(`no stored AK ${key(ekKind, akKind)}`);
    const blobs = parseAkBlobs(s.publicBytes, s.privateBytes);
    await withEk(sim.tpm, ekKind, async (ek) => {
      await withAk(sim.tpm, ek, blobs, async (ak) => {
        t.deepEqual(ak.name, s.name, `${key(ekKind, akKind)} Name changed`);
        const read = await sim.tpm.readPublic(ak.handle);
        t.deepEqual(read.name, s.name);
        t.is(read.public.objectAttributes & REQUIRED, REQUIRED);

        const nonce = new Uint8Array(randomBytes(32));
        const q = await sim.tpm.quote(ak.handle, nonce, sel);
        const pcrs = await sim.tpm.pcrRead(sel);
        const v = verifyQuote(ak.public, q.quoted, q.signature, { nonce, pcrs });
        t.true(v.pcrsChecked);
        t.is(v.hashAlg, SHA256);
        // The signature bytes form verifies as well.
        verifyQuote(ak.public, q.quoted, q.signatureBytes, { nonce, pcrs });

        const codeOf = (f: () => unknown): string | undefined => {
          try {
            f();
            return undefined;
          } catch (e) {
            return e instanceof TpmVerifyError ? e.code : `not a TpmVerifyError: ${String(e)}`;
          }
        };
        // A flipped byte in the signed attestation.
        t.is(
          codeOf(() => verifyQuote(ak.public, flip(q.quoted, q.quoted.length - 5), q.signature, { nonce, pcrs })),
          "TPM2_VERIFY_SIGNATURE",
        );
        // A flipped byte in the signature.
        t.is(
          codeOf(() => verifyQuote(ak.public, q.quoted, flip(q.signatureBytes, q.signatureBytes.length - 3), { nonce, pcrs })),
          "TPM2_VERIFY_SIGNATURE",
        );
        // Another nonce.
        t.is(
          codeOf(() => verifyQuote(ak.public, q.quoted, q.signature, { nonce: flip(nonce, 0), pcrs })),
          "TPM2_VERIFY_NONCE",
        );
        // Other PCR values than the quoted ones.
        const other = new Map([[SHA256, new Map(pcrs.get(SHA256))]]);
        other.get(SHA256)?.set(16, new Uint8Array(32));
        t.is(
          codeOf(() => verifyQuote(ak.public, q.quoted, q.signature, { nonce, pcrs: other })),
          "TPM2_VERIFY_PCR_DIGEST",
        );
        // Another AK's key.
        const otherAk = stored.get(key(ekKind, akKind === "rsa" ? "ecc" : "rsa"));
        if (otherAk) {
          const code = codeOf(() => verifyQuote(parseAkBlobs(otherAk.publicBytes, otherAk.privateBytes).public, q.quoted, q.signature, { nonce, pcrs }));
          t.true(code === "TPM2_VERIFY_SCHEME" || code === "TPM2_VERIFY_SIGNATURE", code);
        }
      });
    });
  }
  await nothingLoaded(t);
});

for (const ekKind of ["rsa2048", "ecc-p256"] as const) {
  test.serial(`activateAkCredential recovers a makeCredential secret with the ${ekKind} EK`, async (t) => {
    t.timeout(20_000);
    for (const akKind of ["rsa", "ecc"] as const) {
      const s = stored.get(key(ekKind, akKind));
      if (!s) return t.fail("no stored AK");
      const blobs = parseAkBlobs(s.publicBytes, s.privateBytes);
      await withEk(sim.tpm, ekKind, (ek) =>
        withAk(sim.tpm, ek, blobs, async (ak) => {
          const secret = new Uint8Array(randomBytes(32));
          const { credentialBlob, secret: encSecret } = makeCredential(ek.public, ak.name, secret);
          t.deepEqual(await activateAkCredential(sim.tpm, ek, ak, credentialBlob, encSecret), secret);
          // A shorter credential (e.g. a 16-byte key) too.
          const short = new Uint8Array(randomBytes(16));
          const c2 = makeCredential(ek.public, ak.name, short);
          t.deepEqual(await activateAkCredential(sim.tpm, ek, ak, c2.credentialBlob, c2.secret), short);
        }),
      );
    }
    await nothingLoaded(t);
  });

  test.serial(`a credential made for another Name fails with TPM_RC_INTEGRITY (${ekKind} EK) and leaves nothing loaded`, async (t) => {
    t.timeout(20_000);
    const s = stored.get(key(ekKind, "ecc"));
    const otherName = stored.get(key(ekKind, "rsa"))?.name;
    if (!s || !otherName) return t.fail("no stored AK");
    const blobs = parseAkBlobs(s.publicBytes, s.privateBytes);
    await withEk(sim.tpm, ekKind, (ek) =>
      withAk(sim.tpm, ek, blobs, async (ak) => {
        const c = makeCredential(ek.public, otherName, new Uint8Array(32).fill(7));
        const e = await t.throwsAsync(activateAkCredential(sim.tpm, ek, ak, c.credentialBlob, c.secret), { instanceOf: TpmResponseError });
        if (e instanceof TpmResponseError) {
          t.is(e.code, "TPM_RC_INTEGRITY", e.message);
          t.is(e.decoded.parameter, 1, e.message); // credentialBlob
          t.is(e.command, "TPM2_ActivateCredential");
        }
        // Only the EK and the AK are loaded; the EK policy session is gone.
        await nothingLoaded(
          t,
          [ek.handle, ak.handle].sort((a, b) => a - b),
        );
      }),
    );
    await nothingLoaded(t);
  });
}

test.serial("loadAk with a corrupted private blob throws and leaves no transient handle and no session", async (t) => {
  t.timeout(20_000);
  const s = stored.get(key("rsa2048", "rsa"));
  if (!s) return t.fail("no stored AK");
  const ek = await createEk(sim.tpm, "rsa2048");
  try {
    // Flip a byte inside the encrypted sensitive area (after size, integrity TPM2B).
    const corrupted = parseAkBlobs(s.publicBytes, flip(s.privateBytes, 40));
    const e = await t.throwsAsync(loadAk(sim.tpm, ek, corrupted), { instanceOf: TpmResponseError });
    if (e instanceof TpmResponseError) t.is(e.code, "TPM_RC_INTEGRITY", e.message);
    await nothingLoaded(t, [ek.handle]);

    // A public area that does not belong to the private one.
    const other = stored.get(key("rsa2048", "ecc"));
    if (!other) return t.fail("no stored AK");
    const mixed = parseAkBlobs(other.publicBytes, s.privateBytes);
    await t.throwsAsync(loadAk(sim.tpm, ek, mixed), { instanceOf: TpmResponseError });
    await nothingLoaded(t, [ek.handle]);

    // withAk on a failing load does not run the callback.
    let ran = false;
    await t.throwsAsync(
      withAk(sim.tpm, ek, corrupted, async () => {
        ran = true;
      }),
    );
    t.false(ran);
    await nothingLoaded(t, [ek.handle]);
  } finally {
    await sim.tpm.flush(ek.handle);
  }
  await nothingLoaded(t);
});

test.serial("an AK made under one EK does not load under the other", async (t) => {
  t.timeout(20_000);
  const s = stored.get(key("rsa2048", "ecc"));
  if (!s) return t.fail("no stored AK");
  await withEk(sim.tpm, "ecc-p256", async (ek) => {
    await t.throwsAsync(loadAk(sim.tpm, ek, parseAkBlobs(s.publicBytes, s.privateBytes)), { instanceOf: TpmResponseError });
    await nothingLoaded(t, [ek.handle]);
  });
  await nothingLoaded(t);
});

test.serial("after everything: no transient objects and no sessions remain", async (t) => {
  await nothingLoaded(t);
});
