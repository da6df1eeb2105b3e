/**
 * checkEk on EK certificates of real TPMs (testdata/README.md) against the whole bundle of 51 real
 * manufacturer CAs, as an administrator would import it.
 */
import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fixturePath } from "@tessera/fixtures";
import { TPM_ALG } from "@tessera/tpm2";
import { checkEk, type EkTrust } from "./check_ek.ts";
import { parseCaBundle } from "./parse_ca_bundle.ts";

const TESTDATA = path.join(import.meta.dirname, "..", "testdata");
const DIR = fixturePath("tpm-ca-certs");
// Every vendor CA at once: one bundle of 51 PEM files.
const bundle = readdirSync(DIR)
  .filter((f) => f.endsWith(".pem"))
  .map((f) => readFileSync(path.join(DIR, f), "latin1"))
  .join("\n");
const trust: EkTrust = { mode: "ca", cas: parseCaBundle(bundle).map((c) => c.certificate), crls: [] };
const AT = new Date("2024-06-01T00:00:00Z");

test("the bundle of all 51 vendor CA files gives 51 trust anchors", (t) => {
  t.is(trust.cas.length, 51);
});

for (const [file, type, issuer] of [
  ["stm_st33htphahb4_rsa_ek_nv.der", TPM_ALG.RSA, "STM TPM EK Intermediate CA 05"],
  ["stm_st33htphahb4_ecc_ek.der", TPM_ALG.ECC, "STM TPM ECC Intermediate CA 01"],
  ["stm_st33htphahd8_rsa_ek.pem", TPM_ALG.RSA, "STM TPM EK Intermediate CA 06"],
] as const) {
  test(`${file}: a real STMicro EK certificate is trusted by the vendor bundle`, async (t) => {
    const v = await checkEk({ host: "stm", ekCertificate: new Uint8Array(readFileSync(path.join(TESTDATA, file))) }, trust, AT);
    if (!v.ok) return t.fail(v.detail);
    t.is(v.via, "ca");
    t.is(v.ekPublic.type, type);
    t.regex(v.chain?.at(-1) ?? "", new RegExp(`CN=${issuer}$`));
    // Not once the issuing CA has expired.
    const anchor = parseCaBundle(bundle).find((c) => c.subject === v.chain?.at(-1));
    if (anchor === undefined) return t.fail("the anchor is not in the bundle");
    const later = new Date(anchor.notAfter.getTime() + 86_400_000);
    const expired = await checkEk({ host: "stm", ekCertificate: new Uint8Array(readFileSync(path.join(TESTDATA, file))) }, trust, later);
    t.true(!expired.ok && expired.reason === "expired", expired.ok ? "ok" : expired.detail);
    // Nor by a bundle without STMicro's CAs.
    const noStm: EkTrust = { ...trust, cas: parseCaBundle(bundle).filter((c) => !c.subject.includes("STMicro")).map((c) => c.certificate) };
    const refused = await checkEk({ host: "stm", ekCertificate: new Uint8Array(readFileSync(path.join(TESTDATA, file))) }, noStm, AT);
    t.true(!refused.ok && refused.reason === "unknown-issuer", refused.ok ? "ok" : refused.detail);
  });
}

test("a real Infineon EK certificate whose Manufacturing CA 007 is not in the bundle: unknown issuer, naming it", async (t) => {
  const v = await checkEk({ host: "ifx", ekCertificate: new Uint8Array(readFileSync(path.join(TESTDATA, "ifx_slb9670_rsa_ek.der"))) }, trust, AT);
  t.false(v.ok);
  if (v.ok) return;
  t.is(v.code, "ek-untrusted");
  t.is(v.reason, "unknown-issuer");
  t.regex(v.detail, /Infineon OPTIGA\(TM\) RSA Manufacturing CA 007/);
});
