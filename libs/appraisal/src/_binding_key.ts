/**
 * The binding key's check (PROTOCOL.md §3): an RSA-2048 decryption key that cannot leave its TPM, certified by
 * the AK with TPM2_Certify.
 * @module
 */
import {
  objectName,
  rsaParms,
  TPM_ALG,
  TPM_GENERATED_VALUE,
  TPM_ST,
  TPMA_OBJECT,
  TPMS_ATTEST,
  toHex,
  unmarshal,
  unmarshalPublic,
  type TpmsAttest,
  type TpmsCertifyInfo,
  type TpmtPublic,
} from "@tessera/tpm2";
import { message, sameBytes, signatureProblem } from "./_util.ts";
import type { AppraisalPolicy, BindingKeyEvidence, Failure } from "./types.ts";

/** The qualifyingData tpm2_certify always sends (tpm2-tools 5.x has no option to change it). */
const TPM2_TOOLS_CERTIFY_QUALIFIER = new Uint8Array([0x00, 0xff, 0x55, 0xaa]);

const REQUIRED: [keyof typeof TPMA_OBJECT, boolean][] = [
  ["decrypt", true],
  ["sign", false],
  ["restricted", false],
  ["fixedTPM", true],
  ["fixedParent", true],
  ["sensitiveDataOrigin", true],
];

/**
 * Every `binding-key` failure of the evidence, and the decoded key. `akKept`: `ak` is the object _ak_cache.ts keeps
 * for the AK's bytes (no caller holds it), so a certification that verified with it need not be verified again.
 */
export function checkBindingKey(
  evidence: BindingKeyEvidence,
  ak: TpmtPublic | undefined,
  nonce: Uint8Array,
  policy: AppraisalPolicy,
  akKept = false,
): { failures: Failure[]; key?: TpmtPublic } {
  const failures: Failure[] = [];
  const fail = (detail: string, extra: Partial<Failure> = {}) => failures.push({ check: "binding-key", detail, ...extra });
  let key: TpmtPublic | undefined;
  try {
    key = unmarshalPublic(evidence.public);
  } catch (e) {
    fail(`the binding key public area does not decode: ${message(e)}`);
  }
  if (key !== undefined) {
    if (key.type !== TPM_ALG.RSA) fail("the binding key is not an RSA key");
    else {
      const p = rsaParms(key);
      if (p.keyBits !== 2048) fail(`the binding key has ${p.keyBits} bits, not 2048`);
      if (p.scheme.scheme !== TPM_ALG.NULL && p.scheme.scheme !== TPM_ALG.OAEP) fail("the binding key's scheme is neither null nor OAEP");
    }
    const bad = REQUIRED.filter(([bit, set]) => ((key.objectAttributes & TPMA_OBJECT[bit]) !== 0) !== set).map(
      ([bit, set]) => `${bit} ${set ? "clear" : "set"}`,
    );
    if (bad.length > 0) fail(`the binding key is not a fixed decryption key: ${bad.join(", ")}`);
  }
  if (ak === undefined) fail("not checked: the certification's signature needs the AK, which does not decode");
  else {
    const problem = signatureProblem(ak, evidence.certifyInfo, evidence.signature, policy, "certification", akKept);
    if (problem !== undefined) fail(problem);
  }
  let attest: TpmsAttest | undefined;
  try {
    attest = unmarshal(TPMS_ATTEST, evidence.certifyInfo);
  } catch (e) {
    fail(`certifyInfo is not a TPMS_ATTEST: ${message(e)}`);
  }
  if (attest !== undefined) {
    if (attest.magic !== TPM_GENERATED_VALUE) fail(`certifyInfo magic 0x${attest.magic.toString(16)} is not TPM_GENERATED_VALUE`);
    if (attest.type !== TPM_ST.ATTEST_CERTIFY) fail(`certifyInfo type 0x${attest.type.toString(16)} is not TPM_ST_ATTEST_CERTIFY`);
    else if (key !== undefined) {
      const name = objectName(key);
      const certified = (attest.attested as TpmsCertifyInfo).name;
      if (!sameBytes(certified, name)) fail("the certified Name is not the binding key's Name", { expected: toHex(name), measured: toHex(certified) });
    }
    // A key that cannot leave its TPM needs no freshness (PROTOCOL.md): empty, the nonce, or the fixed
    // 00ff55aa that tpm2_certify (tpm2-tools 5.x) always sends and cannot be told to change.
    const data = attest.extraData;
    if (data.length > 0 && !sameBytes(data, nonce) && !sameBytes(data, TPM2_TOOLS_CERTIFY_QUALIFIER)) {
      fail("the certification's qualifyingData is neither empty, the nonce, nor tpm2_certify's fixed 00ff55aa", { expected: toHex(nonce), measured: toHex(data) });
    }
  }
  return key === undefined ? { failures } : { failures, key };
}
