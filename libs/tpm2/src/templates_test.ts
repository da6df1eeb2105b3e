// The EK templates of the TCG EK Credential Profile (L-1, L-2 low range; H-1, H-2 high range) and the AK
// templates, byte for byte. The low-range bytes are checked against EKs that real TPMs created from them
// (tpm2-tools' and keylime's test suites); PolicyA, PolicyC and PolicyB are recomputed here from the
// profile's definitions (Annex B.6) and compared with its published values.
import test from "ava";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TPM_ALG, TPM_CC, TPM_ECC_CURVE, TPM_RH, TPMA_NV, TPMA_OBJECT } from "./constants.ts";
import { fromHex, toHex } from "./hex.ts";
import { nvName, objectName } from "./name.ts";
import { marshal, unmarshal } from "./schema.ts";
import { TPM2B_PUBLIC, TPMT_PUBLIC, type TpmsEccPoint, type TpmtSymDef } from "./structures.ts";
import { akTemplate, bindingKeyTemplate, EK_KINDS, EK_NV, EK_POLICY_A_SHA256, EK_POLICY_B_SHA256, ekTemplate } from "./templates.ts";

// Published values, TCG EK Credential Profile 2.x, Annex B.6 (Tables 33-36).
const POLICY_A = "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa";
const I1_NAME = "000b0c9d717e9c3fe69fda41769450bb145957f8b3610e084dbf65591a5d11ecd83f";
const POLICY_C = "3767e2edd43ff45a3a7e1eaefcef78643dca964632e7aad82c673a30d8633fde";
const POLICY_B = "ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0";

const sha256 = (...parts: (Uint8Array | string)[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(typeof p === "string" ? Buffer.from(p, "hex") : p);
  return h.digest();
};
const u32hex = (v: number): string => v.toString(16).padStart(8, "0");
const ZERO = "00".repeat(32);

// ---------------------------------------------------------------------------------------------
// Policies

test("PolicyA is PolicySecret(TPM_RH_ENDORSEMENT) from a zero digest", (t) => {
  // Part 3, TPM2_PolicySecret: PolicyUpdate(TPM_CC_PolicySecret, authObject→Name, policyRef):
  //   d = H(d || TPM_CC_PolicySecret || Name(TPM_RH_ENDORSEMENT)); d = H(d || policyRef) with an empty policyRef.
  const step = sha256(ZERO, u32hex(TPM_CC.PolicySecret), u32hex(TPM_RH.ENDORSEMENT));
  const policyA = sha256(step);
  t.is(policyA.toString("hex"), POLICY_A);
  t.is(toHex(EK_POLICY_A_SHA256), POLICY_A);
});

test("PolicyB is PolicyOR(PolicyA, PolicyC), PolicyC is PolicyAuthorizeNV(I-1): templates.ts has the published value", (t) => {
  // NV index I-1 (Annex B.6.3): 0x01C07F01, SHA-256, PolicyA, dataSize 0x22, and these attributes.
  const attributes =
    TPMA_NV.POLICYWRITE | TPMA_NV.WRITEALL | TPMA_NV.PPREAD | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.POLICYREAD | TPMA_NV.NO_DA | TPMA_NV.WRITTEN;
  t.is(attributes, 0x220f1008);
  const name = nvName({ nvIndex: 0x01c07f01, nameAlg: TPM_ALG.SHA256, attributes, authPolicy: fromHex(POLICY_A), dataSize: 0x22 });
  t.is(toHex(name), I1_NAME);
  // TPM2_PolicyAuthorizeNV: d = H(d || TPM_CC_PolicyAuthorizeNV || nvIndex→Name).
  const policyC = sha256(ZERO, u32hex(TPM_CC.PolicyAuthorizeNV), name);
  t.is(policyC.toString("hex"), POLICY_C);
  // TPM2_PolicyOR: d = H(0…0 || TPM_CC_PolicyOR || digests).
  const policyB = sha256(ZERO, u32hex(TPM_CC.PolicyOR), POLICY_A, policyC);
  t.is(policyB.toString("hex"), POLICY_B);
  t.is(toHex(EK_POLICY_B_SHA256), POLICY_B);
});

// ---------------------------------------------------------------------------------------------
// EK templates

const L1 =
  "0001" +
  "000b" +
  "000300b2" +
  "0020" +
  POLICY_A +
  "0006" +
  "0080" +
  "0043" + // symmetric AES-128-CFB
  "0010" + // scheme NULL
  "0800" +
  "00000000" + // 2048 bits, default exponent
  "0100" +
  "00".repeat(256); // unique: 256 zero bytes
const L2 =
  "0023" +
  "000b" +
  "000300b2" +
  "0020" +
  POLICY_A +
  "0006" +
  "0080" +
  "0043" +
  "0010" + // AES-128-CFB, scheme NULL
  "0003" +
  "0010" + // NIST P-256, KDF NULL
  "0020" +
  "00".repeat(32) +
  "0020" +
  "00".repeat(32);
const H1 = "0001" + "000b" + "000300f2" + "0020" + POLICY_B + "0006" + "0080" + "0043" + "0010" + "0800" + "00000000" + "0000";
const H2 = "0023" + "000b" + "000300f2" + "0020" + POLICY_B + "0006" + "0080" + "0043" + "0010" + "0003" + "0010" + "0000" + "0000";

test("ekTemplate('rsa2048') marshals to template L-1", (t) => {
  const tpl = ekTemplate("rsa2048");
  t.is(tpl.objectAttributes, 0x000300b2);
  t.is(
    tpl.objectAttributes,
    TPMA_OBJECT.fixedTPM |
      TPMA_OBJECT.fixedParent |
      TPMA_OBJECT.sensitiveDataOrigin |
      TPMA_OBJECT.adminWithPolicy |
      TPMA_OBJECT.restricted |
      TPMA_OBJECT.decrypt,
  );
  t.is(toHex(marshal(TPMT_PUBLIC, tpl)), L1);
  t.is(toHex(marshal(TPM2B_PUBLIC, tpl)).slice(0, 4), "013a");
});

test("ekTemplate('ecc-p256') marshals to template L-2", (t) => {
  const tpl = ekTemplate("ecc-p256");
  t.is(tpl.objectAttributes, 0x000300b2);
  t.is(toHex(marshal(TPMT_PUBLIC, tpl)), L2);
});

test("the low-range templates are what real TPMs made their EKs from", (t) => {
  // A real RSA EK: tpm2-tools test/integration/tests/getekcertificate.sh ("Sample ek public from a real platform").
  const rsaEk = fromHex(
    "013a0001000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa00060080004300100800000000000100" +
      "c320e2f244a8601aacf3e01d26c665249935562de1da197e9e7f076c469613cfb653e98ec2c386fc1d133f2c8c6cc338b732f0b208bd838a877a3e5b" +
      "bc3e1d4084e835c7c8906a1c05b4d2d30fdbebc1dbad950fa6b165bd4b6a864603146164c0c4f59d489011ef1f928deea6e90061f3d375e564627315" +
      "1ef622252098be1a4ab01dc0a12227c609fdaceb115af408d4693a6f49919774695b0c12bc18a1ff7120a7337b2fb5f1951d8bb7f094d5b554c11c95" +
      "23b30729fe64787d0a13b9e630488dab4dfd86634a5270ec72fcc5a44dc679a8f32938dd8197e29dae839f5b4ca0f5de27c9522c23c54e1c2ce57859" +
      "525118bd4470b18180eef78ae4267bcd",
  );
  const rsa = unmarshal(TPM2B_PUBLIC, rsaEk);
  t.deepEqual({ ...rsa, unique: null }, { ...ekTemplate("rsa2048"), unique: null });
  // The template with the EK's modulus in it is the EK.
  t.is(toHex(marshal(TPM2B_PUBLIC, { ...ekTemplate("rsa2048"), unique: rsa.unique })), toHex(rsaEk));
  // An ECC EK: keylime test/test_tpm_util.py.
  const eccEk = fromHex(
    "007a0023000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa0006008000430010000300100020d31f" +
      "0e190c36691abdc5c8cef7201139664f93bcc45e68861a62d649d9a157d400209bf3cc57da9b2c09539cae40f0518e651b65befaab84f26a3285d88be134b0cf",
  );
  const ecc = unmarshal(TPM2B_PUBLIC, eccEk);
  t.is(toHex(marshal(TPM2B_PUBLIC, { ...ekTemplate("ecc-p256"), unique: ecc.unique })), toHex(eccEk));
});

test("ekTemplate('rsa2048-high') is template H-1: PolicyB, userWithAuth, empty unique", (t) => {
  const tpl = ekTemplate("rsa2048-high");
  t.is(tpl.objectAttributes, 0x000300f2);
  t.is(tpl.objectAttributes, ekTemplate("rsa2048").objectAttributes | TPMA_OBJECT.userWithAuth);
  t.is(toHex(tpl.authPolicy), POLICY_B);
  t.is(toHex(marshal(TPMT_PUBLIC, tpl)), H1);
});

test("ekTemplate('ecc-p256-high') is template H-2", (t) => {
  const tpl = ekTemplate("ecc-p256-high");
  t.is(tpl.objectAttributes, 0x000300f2);
  t.is(toHex(tpl.authPolicy), POLICY_B);
  t.is(toHex(marshal(TPMT_PUBLIC, tpl)), H2);
});

test("a low-range nonce fills the start of the unique field; the high range ignores it", (t) => {
  const nonce = fromHex("0102030405");
  const rsa = ekTemplate("rsa2048", nonce);
  t.is((rsa.unique as Uint8Array).length, 256);
  t.is(toHex((rsa.unique as Uint8Array).subarray(0, 6)), "010203040500");
  const ecc = ekTemplate("ecc-p256", nonce);
  t.is(toHex((ecc.unique as TpmsEccPoint).x), "0102030405" + "00".repeat(27));
  t.is(toHex((ecc.unique as TpmsEccPoint).y), "00".repeat(32));
  // A nonce longer than the field is cut to it.
  t.is((ekTemplate("ecc-p256", new Uint8Array(40).fill(7)).unique as TpmsEccPoint).x.length, 32);
  t.is(toHex(marshal(TPMT_PUBLIC, ekTemplate("rsa2048-high", nonce))), H1);
  t.is(toHex(marshal(TPMT_PUBLIC, ekTemplate("ecc-p256-high", nonce))), H2);
});

test("EK NV indexes are those of the profile (2.2.1.4/2.2.1.5)", (t) => {
  t.deepEqual(EK_KINDS, {
    rsa2048: { cert: 0x01c00002, nonce: 0x01c00003, template: 0x01c00004 },
    "ecc-p256": { cert: 0x01c0000a, nonce: 0x01c0000b, template: 0x01c0000c },
    "rsa2048-high": { cert: 0x01c00012 },
    "ecc-p256-high": { cert: 0x01c00014 },
  });
  t.is(EK_NV.H3_ECC_P384_CERT, 0x01c00016);
  t.is(EK_NV.H4_ECC_P521_CERT, 0x01c00018);
  t.is(EK_NV.H6_RSA3072_CERT, 0x01c0001c);
  t.is(EK_NV.H7_RSA4096_CERT, 0x01c0001e);
});

// Templates are handed out as mutable TpmtPublic values that callers fill in (unique, nonce); sharing the
// module's AES128CFB object and policy byte arrays between calls means one caller's edit changes every later
// template, and the exported EK_POLICY_*_SHA256 constants with it.
test("each ekTemplate() call returns an independent value", (t) => {
  const a = ekTemplate("rsa2048");
  const sym = (a.parameters as { symmetric: TpmtSymDef }).symmetric;
  try {
    sym.keyBits = 256;
    a.authPolicy[0] ^= 0xff;
    const b = ekTemplate("rsa2048");
    t.is((b.parameters as { symmetric: TpmtSymDef }).symmetric.keyBits, 128, "editing one template's symmetric changed the next template");
    t.is(toHex(b.authPolicy), POLICY_A, "editing one template's authPolicy changed the next template");
    t.is(toHex(EK_POLICY_A_SHA256), POLICY_A, "editing a template's authPolicy changed EK_POLICY_A_SHA256");
    t.is(toHex(marshal(TPMT_PUBLIC, ekTemplate("ecc-p256"))), L2, "editing the RSA template changed the ECC template");
  } finally {
    // Undo the edit, in case it reached shared state, so the other tests here see the real templates.
    sym.keyBits = 128;
    a.authPolicy[0] ^= 0xff;
  }
});

// ---------------------------------------------------------------------------------------------
// AK templates

test("akTemplate('rsa') is a restricted RSASSA-SHA256 signing key, attributes 0x00050072", (t) => {
  const tpl = akTemplate("rsa");
  t.is(tpl.objectAttributes, 0x00050072);
  t.is(
    tpl.objectAttributes,
    TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.restricted | TPMA_OBJECT.sign,
  );
  t.is(toHex(marshal(TPMT_PUBLIC, tpl)), "0001" + "000b" + "00050072" + "0000" + "0010" + "0014" + "000b" + "0800" + "00000000" + "0000");
});

test("akTemplate('ecc') is a restricted ECDSA-SHA256 P-256 signing key, attributes 0x00050072", (t) => {
  const tpl = akTemplate("ecc");
  t.is(tpl.objectAttributes, 0x00050072);
  t.deepEqual((tpl.parameters as { curveID: number }).curveID, TPM_ECC_CURVE.NIST_P256);
  t.is(toHex(marshal(TPMT_PUBLIC, tpl)), "0023" + "000b" + "00050072" + "0000" + "0010" + "0018" + "000b" + "0003" + "0010" + "0000" + "0000");
});

test("akTemplate with a key filled in is named like any object", (t) => {
  const tpl = akTemplate("rsa");
  tpl.unique = new Uint8Array(256).fill(0xaa);
  const bytes = marshal(TPMT_PUBLIC, tpl);
  t.is(toHex(objectName(tpl)), "000b" + sha256(bytes).toString("hex"));
});

// ---------------------------------------------------------------------------------------------
// tpm2-tools

test("tpm2_print reads the templates as we wrote them", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tpm2-templates-"));
  try {
    for (const [kind, attrs, policy] of [
      ["rsa2048", "0x300b2", POLICY_A],
      ["ecc-p256", "0x300b2", POLICY_A],
      ["rsa2048-high", "0x300f2", POLICY_B],
    ] as const) {
      const file = join(dir, `${kind}.pub`);
      writeFileSync(file, marshal(TPM2B_PUBLIC, ekTemplate(kind)));
      const r = spawnSync("tpm2_print", ["-t", "TPM2B_PUBLIC", file], { encoding: "utf8" });
      if (r.error) throw new Error(`tpm2_print (tpm2-tools) is required for this test: ${r.error.message}`);
      t.is(r.status, 0, r.stderr);
      t.true(r.stdout.includes(`raw: ${attrs}\n`), r.stdout);
      t.true(r.stdout.includes(`authorization policy: ${policy}`), r.stdout);
      t.true(r.stdout.includes("value: aes\n") && r.stdout.includes("value: cfb\n") && r.stdout.includes("sym-keybits: 128"), r.stdout);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bindingKeyTemplate: an RSA 2048 decryption key fixed to its TPM, neither signing nor restricted, scheme null", (t) => {
  const k = bindingKeyTemplate();
  const A = TPMA_OBJECT;
  t.is(k.type, TPM_ALG.RSA);
  t.is(k.objectAttributes & (A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.decrypt), A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.decrypt);
  t.is(k.objectAttributes & (A.sign | A.restricted), 0);
  t.deepEqual(k.parameters, {
    symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null },
    scheme: { scheme: TPM_ALG.NULL, details: null },
    keyBits: 2048,
    exponent: 0,
  });
  const n = new Uint8Array(256).fill(0xc1);
  t.is(bindingKeyTemplate(n).unique, n);
  t.is((bindingKeyTemplate().unique as Uint8Array).length, 0);
});
