/**
 * The host's TPM identity against a real swtpm (RSA and ECC EK certificates from its CA): made once, persistent,
 * found again from the state; a lost AK (a cleared TPM) or another AK algorithm gives a new AK, the enrollment
 * dropped and the binding key certified again by the new AK; another EK gives new keys and the recorded ones
 * evicted; the certification is a valid TPM2_Certify of the binding key by the AK; the binding key decrypts
 * RSA-OAEP-256 in the TPM; the AK answers ActivateCredential and quotes. Serial: one TPM.
 */
import test from "ava";
import { constants, createPublicKey, publicEncrypt, randomBytes, X509Certificate } from "node:crypto";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import {
  encodeCredentialFile,
  makeCredential,
  marshal,
  parsePcrSelection,
  publicKeyDer,
  TPM_ST,
  TPMS_ATTEST,
  TPMT_SIGNATURE,
  toHex,
  unmarshal,
  verifySignature,
  type TpmsCertifyInfo,
} from "@tessera/tpm2";
import { evictPersistent, listPersistent, Tpm } from "@tessera/tss";
import type { AgentStateFile } from "./state.ts";
import { activateCredential, chooseEkKind, quote, setUpTpmIdentity, bindingKeyDecrypt } from "./tpm_identity.ts";

let sw: SwtpmInstance;
let tpm: Tpm;
let baseline: number[];
let first: Awaited<ReturnType<typeof setUpTpmIdentity>>;

const added = async (): Promise<number[]> => (await listPersistent(tpm)).filter((h) => !baseline.includes(h));
const ENROLLMENT = { host: "h.example.test", attestd: "https://ta.example:7889", enrolledAt: "2026-12-03T09:00:00.000Z" };

test.before(async () => {
  sw = await startSwtpm({ pcrBanks: ["sha256"] });
  tpm = Tpm.open(sw.tcti);
  baseline = await listPersistent(tpm);
});

test.after.always(async () => {
  await tpm?.close();
  await sw?.stop();
});

test.serial("first start: the RSA EK (auto), a persistent AK and binding key, the binding key certified by the AK", async (t) => {
  t.is(await chooseEkKind(tpm, "auto"), "rsa2048");
  first = await setUpTpmIdentity(tpm, undefined, { ek: "auto", ak: "rsa" });
  const { identity, state, created, notes } = first;
  t.deepEqual(created, { ak: true, bindingKey: true });
  t.deepEqual(notes, []);
  t.is(identity.ek.kind, "rsa2048");
  // The EK is the certified one: the certificate's key is the EK's.
  t.deepEqual(new Uint8Array(new X509Certificate(identity.ek.certificate!).publicKey.export({ type: "spki", format: "der" })), identity.ek.spki);
  t.regex(identity.ek.fingerprint, /^[0-9a-f]{64}$/);
  t.deepEqual((await added()).sort(), [identity.ak.handle, identity.bindingKey.handle].sort());
  t.deepEqual(state.ak, { kind: "rsa", handle: `0x${identity.ak.handle.toString(16)}`, name: toHex(identity.ak.name), public: Buffer.from(identity.ak.publicBytes).toString("base64") });
  t.is(state.bindingKey!.certifiedBy, toHex(identity.ak.name));
  t.is(state.enrollment, undefined);

  // A TPM2_Certify by the AK naming the binding key, with empty qualifying data.
  const attest = unmarshal(TPMS_ATTEST, identity.bindingKey.certifyInfo);
  t.is(attest.type, TPM_ST.ATTEST_CERTIFY);
  t.deepEqual(new Uint8Array((attest.attested as TpmsCertifyInfo).name), new Uint8Array(identity.bindingKey.name));
  t.is(attest.extraData.length, 0);
  t.notThrows(() => verifySignature(identity.ak.public, identity.bindingKey.certifyInfo, unmarshal(TPMT_SIGNATURE, identity.bindingKey.signature)));
});

test.serial("a restart with the state: the same keys, nothing made, the certification kept", async (t) => {
  const withEnrollment: AgentStateFile = { ...first.state, enrollment: { ...ENROLLMENT, akName: first.state.ak!.name } };
  const again = await setUpTpmIdentity(tpm, withEnrollment, { ek: "auto", ak: "rsa" });
  t.deepEqual(again.created, { ak: false, bindingKey: false });
  t.deepEqual(again.notes, []);
  t.deepEqual(again.state, withEnrollment);
  t.is(again.identity.ak.handle, first.identity.ak.handle);
  t.deepEqual(again.identity.bindingKey.certifyInfo, first.identity.bindingKey.certifyInfo);
  t.is((await added()).length, 2);
});

test.serial("the binding key decrypts RSA-OAEP-256 in the TPM; the AK quotes and answers ActivateCredential", async (t) => {
  const { identity } = first;
  const pub = createPublicKey({ key: Buffer.from(publicKeyDer(identity.bindingKey.public)), format: "der", type: "spki" });
  const cek = randomBytes(32);
  const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
  t.deepEqual(Buffer.from(await bindingKeyDecrypt(tpm, identity.bindingKey, new Uint8Array(ct))), cek);

  const nonce = new Uint8Array(randomBytes(32));
  const q = await quote(tpm, identity.ak, nonce, parsePcrSelection("sha256:0,1,2,3"));
  t.deepEqual(Object.keys(q.pcrs["sha256"]!).sort(), ["0", "1", "2", "3"]);
  t.notThrows(() => verifySignature(identity.ak.public, q.quoted, unmarshal(TPMT_SIGNATURE, q.signature)));
  t.deepEqual(new Uint8Array(unmarshal(TPMS_ATTEST, q.quoted).extraData), nonce);

  // What attestd does at enrollment: MakeCredential to the EK for the AK's Name.
  const secret = new Uint8Array(randomBytes(32));
  const cred = makeCredential(identity.ek.public, identity.ak.name, secret);
  t.deepEqual(await activateCredential(tpm, identity, encodeCredentialFile(cred)), secret);
});

test.serial("the AK gone (a cleared TPM): a new AK, the enrollment dropped, the same binding key certified again", async (t) => {
  const state: AgentStateFile = { ...first.state, enrollment: { ...ENROLLMENT, akName: first.state.ak!.name } };
  await evictPersistent(tpm, first.identity.ak.handle);
  const r = await setUpTpmIdentity(tpm, state, { ek: "auto", ak: "rsa" });
  t.deepEqual(r.created, { ak: true, bindingKey: true });
  t.regex(r.notes.join("\n"), /no longer in the TPM/);
  t.is(r.state.enrollment, undefined);
  t.not(r.state.ak!.name, first.state.ak!.name);
  t.is(r.state.bindingKey!.name, first.state.bindingKey!.name, "the binding key is kept");
  t.is(r.state.bindingKey!.certifiedBy, r.state.ak!.name);
  t.notThrows(() => verifySignature(r.identity.ak.public, r.identity.bindingKey.certifyInfo, unmarshal(TPMT_SIGNATURE, r.identity.bindingKey.signature)));
  t.is((await added()).length, 2);
  first = r;
});

test.serial("another AK algorithm: the old AK evicted, an ECC AK made", async (t) => {
  const r = await setUpTpmIdentity(tpm, first.state, { ek: "auto", ak: "ecc" });
  t.is(r.state.ak!.kind, "ecc");
  t.true(r.created.ak);
  t.regex(r.notes.join("\n"), /configuration asks for ecc/);
  t.is((await added()).length, 2, "the RSA AK is gone, not left behind");
  const atOldHandle = (await listPersistent(tpm)).includes(first.identity.ak.handle) ? await tpm.readPublic(first.identity.ak.handle) : undefined;
  t.not(atOldHandle === undefined ? undefined : toHex(atOldHandle.name), toHex(first.identity.ak.name));
  first = r;
});

test.serial("another EK (here: the ECC one): new AK and binding key, the recorded ones evicted", async (t) => {
  const r = await setUpTpmIdentity(tpm, first.state, { ek: "ecc-p256", ak: "ecc" });
  t.is(r.identity.ek.kind, "ecc-p256");
  t.not(r.state.ek.fingerprint, first.state.ek.fingerprint);
  t.deepEqual(r.created, { ak: true, bindingKey: true });
  t.regex(r.notes.join("\n"), /EK is not the recorded one/);
  t.not(r.state.bindingKey!.name, first.state.bindingKey!.name);
  t.deepEqual((await added()).sort(), [r.identity.ak.handle, r.identity.bindingKey.handle].sort());
  // The TPM2B_PUBLIC bytes recorded are the key's.
  t.deepEqual(Buffer.from(r.state.bindingKey!.public, "base64"), Buffer.from(r.identity.bindingKey.publicBytes));
  t.is(marshal(TPMT_SIGNATURE, unmarshal(TPMT_SIGNATURE, r.identity.bindingKey.signature)).length, r.identity.bindingKey.signature.length);
});
