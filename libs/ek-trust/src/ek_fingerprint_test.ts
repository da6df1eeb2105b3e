import test from "ava";
import { createHash, createPublicKey } from "node:crypto";
import { marshal, TPM2B_PUBLIC, TPMT_PUBLIC } from "@tessera/tpm2";
import { ekFingerprint } from "./ek_fingerprint.ts";
import { EkTrustError } from "./errors.ts";
import { ekPublicFromCertificateKey } from "./_ek_public.ts";
import { freshSpki } from "./_test_support.ts";

test("the fingerprint is the SHA-256 of the SubjectPublicKeyInfo, the same for TPM2B_PUBLIC, TPMT_PUBLIC and the decoded area", (t) => {
  for (const kind of ["rsa", "ecc"] as const) {
    const spki = freshSpki(kind);
    const pub = ekPublicFromCertificateKey(createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }));
    const expected = createHash("sha256").update(spki).digest("hex");
    t.is(ekFingerprint(pub), expected, kind);
    t.is(ekFingerprint(marshal(TPM2B_PUBLIC, pub)), expected, kind);
    t.is(ekFingerprint(marshal(TPMT_PUBLIC, pub)), expected, kind);
    // Attributes and policy are not part of it: only the key.
    t.is(ekFingerprint({ ...pub, objectAttributes: pub.objectAttributes ^ 0x40, authPolicy: new Uint8Array() }), expected, kind);
  }
});

test("bytes that are no public area, or a template without a key, throw EK_TRUST_PARSE", (t) => {
  t.is(t.throws(() => ekFingerprint(new Uint8Array([0, 1, 2])), { instanceOf: EkTrustError })?.code, "EK_TRUST_PARSE");
  const pub = ekPublicFromCertificateKey(createPublicKey({ key: Buffer.from(freshSpki("rsa")), format: "der", type: "spki" }));
  const e = t.throws(() => ekFingerprint({ ...pub, unique: new Uint8Array(256) }), { instanceOf: EkTrustError });
  t.regex(e?.message ?? "", /Cannot fingerprint the EK public area: .*zero modulus/);
});
