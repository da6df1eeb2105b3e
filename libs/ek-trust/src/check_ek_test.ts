import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { createPublicKey } from "node:crypto";
import { marshal, TPM2B_PUBLIC, TPM_ALG, TPMT_PUBLIC, unmarshalPublic } from "@tessera/tpm2";
import { checkEk, type EkTrust, type EkVerdict } from "./check_ek.ts";
import { ekFingerprint } from "./ek_fingerprint.ts";
import { x509 } from "./_x509.ts";
import { freshSpki, issueCrl, issueEkCertificate, testIntermediateCa, testRootCa, type TestCa } from "./_test_support.ts";
import { ekPublicFromCertificateKey } from "./_ek_public.ts";

const NOW = new Date();
const CODES: string[] = ["ek-untrusted", "ek-not-pinned", "ek-mismatch", "ek-malformed"];

/** The TPM2B_PUBLIC of the default EK template holding `spki`'s key, as a TPM would report it. */
function ekPublicOf(spki: Uint8Array): Uint8Array {
  return marshal(TPM2B_PUBLIC, ekPublicFromCertificateKey(createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" })));
}

function refused(t: ExecutionContext, v: EkVerdict, code: string, reason: string, detail: RegExp): void {
  if (v.ok) {
    t.fail(`expected ${code}/${reason}, got ok via ${v.via}`);
    return;
  }
  t.is(v.code as string, code, v.detail);
  t.is(v.reason as string, reason, v.detail);
  t.regex(v.detail, detail);
}

let vendor: { root: TestCa; other: TestCa; spki: { rsa: Uint8Array; ecc: Uint8Array } } | undefined;
async function setup(): Promise<NonNullable<typeof vendor>> {
  vendor ??= { root: await testRootCa("Test TPM Root CA"), other: await testRootCa("Another TPM Root CA"), spki: { rsa: freshSpki("rsa"), ecc: freshSpki("ecc") } };
  return vendor;
}
const caTrust = (cas: TestCa[], more: Partial<EkTrust> = {}): EkTrust => ({ mode: "ca", cas: cas.map((c) => c.der), crls: [], ...more });

for (const kind of ["rsa", "ecc"] as const) {
  test(`${kind}: a certificate from a trusted CA is trusted; the EK public area is the default template with its key`, async (t) => {
    const { root, spki } = await setup();
    const cert = await issueEkCertificate(root, spki[kind]);
    const v = await checkEk({ host: "h1", ekCertificate: cert }, caTrust([root]), NOW);
    if (!v.ok) return t.fail(v.detail);
    t.is(v.via, "ca");
    t.deepEqual(v.chain, ["", root.certificate.subject]);
    // The anchor is named by the SHA-256 of its certificate DER (kmxd's trusted clusters match on it).
    t.is(v.anchorFingerprint, Buffer.from(await globalThis.crypto.subtle.digest("SHA-256", root.der.slice())).toString("hex"));
    t.deepEqual(v.ekPublicBytes, ekPublicOf(spki[kind]));
    t.is(v.ekPublic.type, kind === "rsa" ? TPM_ALG.RSA : TPM_ALG.ECC);
    t.is(v.fingerprint, ekFingerprint(v.ekPublic));
    // The fingerprint is the SHA-256 of the certificate's SubjectPublicKeyInfo.
    t.is(v.fingerprint, Buffer.from(await globalThis.crypto.subtle.digest("SHA-256", spki[kind].slice())).toString("hex"));
    // With the matching ekPublic too, and with NV padding after the DER, and as PEM: the same verdict.
    const padded = new Uint8Array([...cert, ...new Uint8Array(64).fill(0xff)]);
    const pem = new TextEncoder().encode(x509.PemConverter.encode(cert.slice().buffer, "CERTIFICATE"));
    for (const ekCertificate of [cert, padded, pem]) {
      const again = await checkEk({ host: "h1", ekCertificate, ekPublic: ekPublicOf(spki[kind]) }, caTrust([root]), NOW);
      t.true(again.ok && again.fingerprint === v.fingerprint, again.ok ? "" : again.detail);
    }
  });
}

test("unknown issuer: a certificate from another CA, and no CA at all", async (t) => {
  const { root, other, spki } = await setup();
  const cert = await issueEkCertificate(other, spki.rsa);
  refused(t, await checkEk({ host: "h2", ekCertificate: cert }, caTrust([root]), NOW), "ek-untrusted", "unknown-issuer", /host h2: .*Another TPM Root CA/);
  refused(t, await checkEk({ host: "h2", ekCertificate: cert }, caTrust([]), NOW), "ek-untrusted", "unknown-issuer", /No trusted roots/);
});

test("expired: checked after notAfter; not yet valid before notBefore", async (t) => {
  const { root, spki } = await setup();
  const cert = await issueEkCertificate(root, spki.ecc, { notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2030-01-01T00:00:00Z") });
  t.true((await checkEk({ host: "h3", ekCertificate: cert }, caTrust([root]), new Date("2029-12-31T00:00:00Z"))).ok);
  refused(t, await checkEk({ host: "h3", ekCertificate: cert }, caTrust([root]), new Date("2030-01-02T00:00:00Z")), "ek-untrusted", "expired", /expired: notAfter 2030-01-01/);
  refused(t, await checkEk({ host: "h3", ekCertificate: cert }, caTrust([root]), new Date("2019-06-01T00:00:00Z")), "ek-untrusted", "expired", /not yet valid/);
});

test("revoked: a CRL of the issuing CA listing the serial; other serials and other CAs' CRLs do not revoke", async (t) => {
  const { root, other, spki } = await setup();
  const serial = "0badc0ffee0123";
  const cert = await issueEkCertificate(root, spki.rsa, { serial });
  const revoking = await issueCrl(root, ["01", serial]);
  const v = await checkEk({ host: "h4", ekCertificate: cert }, caTrust([root], { crls: [revoking] }), NOW);
  refused(t, v, "ek-untrusted", "revoked", /host h4: its EK certificate \(serial 0badc0ffee0123\) was revoked .* by the CRL of "O=Tessera Test TPM Vendor, CN=Test TPM Root CA" \(trust\.crls\[0\]\)/);
  t.true((await checkEk({ host: "h4", ekCertificate: cert }, caTrust([root], { crls: [await issueCrl(root, ["02", "03"])] }), NOW)).ok);
  t.true((await checkEk({ host: "h4", ekCertificate: cert }, caTrust([root], { crls: [await issueCrl(other, [serial])] }), NOW)).ok);
});

test("a CRL in the issuer's name but signed by another key is ignored (it is not the issuer's word); an unreadable CRL fails closed", async (t) => {
  const { root, other, spki } = await setup();
  const serial = "0abc01";
  const cert = await issueEkCertificate(root, spki.ecc, { serial });
  const forged = await issueCrl(root, [serial], other);
  const crl = new x509.X509Crl(forged.slice());
  t.is(crl.issuer, root.certificate.subject); // it does name the issuer
  t.truthy(crl.findRevoked(serial)); // and does list the serial
  const v = await checkEk({ host: "h5", ekCertificate: cert }, caTrust([root], { crls: [forged] }), NOW);
  t.true(v.ok, v.ok ? "" : v.detail);
  refused(t, await checkEk({ host: "h5", ekCertificate: cert }, caTrust([root], { crls: [forged, new Uint8Array([1, 2, 3])] }), NOW), "ek-malformed", "malformed", /trust\.crls\[1\] is not a CRL/);
});

test("wrong usage: digitalSignature only, no keyUsage, RSA with keyAgreement only, keyCertSign, a CA certificate, an EKU without tcg-kp-EKCertificate", async (t) => {
  const { root, spki } = await setup();
  const f = x509.KeyUsageFlags;
  const cases: { name: string; kind: "rsa" | "ecc"; options: Parameters<typeof issueEkCertificate>[2]; detail: RegExp }[] = [
    { name: "digitalSignature only (RSA)", kind: "rsa", options: { keyUsage: f.digitalSignature }, detail: /keyUsage digitalSignature without keyEncipherment/ },
    { name: "digitalSignature only (ECC)", kind: "ecc", options: { keyUsage: f.digitalSignature }, detail: /keyUsage digitalSignature without keyAgreement/ },
    { name: "no keyUsage", kind: "rsa", options: { keyUsage: null }, detail: /has no keyUsage/ },
    { name: "RSA with keyAgreement", kind: "rsa", options: { keyUsage: f.keyAgreement }, detail: /without keyEncipherment/ },
    { name: "keyCertSign", kind: "ecc", options: { keyUsage: f.keyAgreement | f.keyCertSign }, detail: /keyCertSign, which belongs to a CA/ },
    { name: "cA", kind: "rsa", options: { ca: true }, detail: /is a CA certificate/ },
    { name: "serverAuth EKU", kind: "ecc", options: { eku: ["1.3.6.1.5.5.7.3.1"] }, detail: /extendedKeyUsage 1\.3\.6\.1\.5\.5\.7\.3\.1 without tcg-kp-EKCertificate/ },
  ];
  for (const c of cases) {
    const cert = await issueEkCertificate(root, spki[c.kind], c.options);
    const v = await checkEk({ host: "h6", ekCertificate: cert }, caTrust([root]), NOW);
    t.false(v.ok, c.name);
    refused(t, v, "ek-untrusted", "wrong-usage", c.detail);
  }
  // Accepted: no EKU at all (real vTPM EK certificates omit it), and digitalSignature next to the required bit.
  for (const options of [{ eku: null }, { keyUsage: f.keyEncipherment | f.digitalSignature }]) {
    const v = await checkEk({ host: "h6", ekCertificate: await issueEkCertificate(root, spki.rsa, options) }, caTrust([root]), NOW);
    t.true(v.ok, v.ok ? "" : v.detail);
  }
});

test("mode pin: unpinned host, another host's pinned certificate, pinned + trusted CA, pinned but CA not trusted", async (t) => {
  const { root, other, spki } = await setup();
  const mine = await issueEkCertificate(root, spki.rsa);
  const theirs = await issueEkCertificate(root, spki.ecc);
  const pinMode = (pin: EkTrust["pin"], cas = [root]): EkTrust => ({ mode: "pin", cas: cas.map((c) => c.der), crls: [], ...(pin ? { pin } : {}) });
  refused(t, await checkEk({ host: "h7", ekCertificate: mine }, pinMode(undefined), NOW), "ek-not-pinned", "not-pinned", /mode is "pin" and no EK certificate is pinned/);
  refused(t, await checkEk({ host: "h7", ekCertificate: mine }, pinMode({ certificate: theirs }), NOW), "ek-not-pinned", "not-pinned", /is not the certificate pinned for it/);
  const ok = await checkEk({ host: "h7", ekCertificate: mine }, pinMode({ certificate: mine }), NOW);
  t.true(ok.ok && ok.via === "pinned-certificate", ok.ok ? ok.via : ok.detail);
  refused(t, await checkEk({ host: "h7", ekCertificate: mine }, pinMode({ certificate: mine }, [other]), NOW), "ek-untrusted", "unknown-issuer", /Test TPM Root CA/);
  // A pinned certificate narrows mode "ca" too: another certificate from a trusted CA is not this host's.
  refused(t, await checkEk({ host: "h7", ekCertificate: theirs }, caTrust([root], { pin: { certificate: mine } }), NOW), "ek-not-pinned", "not-pinned", /not the certificate pinned/);
});

test("bare pinned key: trusted in both modes without certificate; another key is not pinned; no pin and no certificate is not pinned", async (t) => {
  const { root, other, spki } = await setup();
  const pinned = ekPublicOf(spki.ecc);
  for (const mode of ["ca", "pin"] as const) {
    const v = await checkEk({ host: "h8", ekPublic: pinned }, { mode, cas: [], crls: [], pin: { ekPublic: pinned } }, NOW);
    if (!v.ok) return t.fail(v.detail);
    t.is(v.via, "pinned-key");
    t.deepEqual(v.ekPublicBytes, pinned);
    t.is(v.chain, undefined);
    refused(t, await checkEk({ host: "h8", ekPublic: ekPublicOf(spki.rsa) }, { mode, cas: [], crls: [], pin: { ekPublic: pinned } }, NOW), "ek-not-pinned", "not-pinned", /is not the EK key pinned for it/);
    refused(t, await checkEk({ host: "h8", ekPublic: pinned }, { mode, cas: [], crls: [] }, NOW), "ek-not-pinned", "not-pinned", /sent no EK certificate and has no pinned EK key/);
  }
  // A key pinned together with a certificate is not a bare pin: the certificate and the CA are still checked.
  const cert = await issueEkCertificate(other, spki.ecc);
  const both = { ekPublic: pinned, certificate: cert };
  refused(t, await checkEk({ host: "h8", ekCertificate: cert }, { mode: "pin", cas: [root.der], crls: [], pin: both }, NOW), "ek-untrusted", "unknown-issuer", /Another TPM Root CA/);
  const v = await checkEk({ host: "h8", ekCertificate: cert }, { mode: "pin", cas: [other.der], crls: [], pin: both }, NOW);
  t.true(v.ok && v.via === "pinned-certificate", v.ok ? v.via : v.detail);
  // A bare TPMT_PUBLIC pin and a TPM2B_PUBLIC from the host are the same key.
  const bare = marshal(TPMT_PUBLIC, unmarshalPublic(pinned));
  t.true((await checkEk({ host: "h8", ekPublic: pinned }, { mode: "pin", cas: [], crls: [], pin: { ekPublic: bare } }, NOW)).ok);
});

test("certificate and ekPublic of different keys: ek-mismatch", async (t) => {
  const { root, spki } = await setup();
  const cert = await issueEkCertificate(root, spki.rsa);
  refused(t, await checkEk({ host: "h9", ekCertificate: cert, ekPublic: ekPublicOf(spki.ecc) }, caTrust([root]), NOW), "ek-mismatch", "mismatch", /ekPublic \([0-9a-f]{64}\) is not the key of its EK certificate \([0-9a-f]{64}\)/);
  const otherRsa = freshSpki("rsa");
  refused(t, await checkEk({ host: "h9", ekCertificate: cert, ekPublic: ekPublicOf(otherRsa) }, caTrust([root]), NOW), "ek-mismatch", "mismatch", /host h9/);
});

test("chains through intermediates: root + intermediate, the intermediate alone, the root alone (intermediate missing)", async (t) => {
  const { root, other, spki } = await setup();
  const intermediate = await testIntermediateCa(root, "Test TPM EK Intermediate CA 01");
  const cert = await issueEkCertificate(intermediate, spki.ecc);
  const both = await checkEk({ host: "h10", ekCertificate: cert }, caTrust([root, intermediate]), NOW);
  if (!both.ok) return t.fail(both.detail);
  // Every CA in `cas` is an anchor: the chain stops at the first one it reaches.
  t.deepEqual(both.chain, ["", intermediate.certificate.subject]);
  const alone = await checkEk({ host: "h10", ekCertificate: cert }, caTrust([intermediate]), NOW);
  t.true(alone.ok, alone.ok ? "" : alone.detail);
  refused(t, await checkEk({ host: "h10", ekCertificate: cert }, caTrust([root]), NOW), "ek-untrusted", "unknown-issuer", /Intermediate CA 01/);
  refused(t, await checkEk({ host: "h10", ekCertificate: cert }, caTrust([other, root]), NOW), "ek-untrusted", "unknown-issuer", /h10/);
  // A CRL of the root revoking the intermediate revokes what the intermediate issued, when the chain goes through the root.
  const deepCert = await issueEkCertificate(intermediate, spki.rsa);
  const rootOnlyAnchor: EkTrust = { mode: "ca", cas: [root.der], crls: [await issueCrl(root, [intermediate.certificate.serialNumber])] };
  // with only the root as anchor the intermediate must be found: it is not in cas, so the chain cannot be built.
  refused(t, await checkEk({ host: "h10", ekCertificate: deepCert }, rootOnlyAnchor, NOW), "ek-untrusted", "unknown-issuer", /h10/);
  t.true((await checkEk({ host: "h10", ekCertificate: deepCert }, { ...rootOnlyAnchor, cas: [root.der, intermediate.der] }, NOW)).ok);
  const revokedInt = await checkEk({ host: "h10", ekCertificate: deepCert }, { mode: "ca", cas: [intermediate.der], crls: [await issueCrl(intermediate, [new x509.X509Certificate(deepCert.slice()).serialNumber])] }, NOW);
  refused(t, revokedInt, "ek-untrusted", "revoked", /CRL of "O=Tessera Test TPM Vendor, CN=Test TPM EK Intermediate CA 01"/);
});

test("malformed input names the field: nothing sent, garbage ekPublic, garbage ekCertificate, a template without a key, a bad pin, a bad CA", async (t) => {
  const { root, spki } = await setup();
  const trust = caTrust([root]);
  refused(t, await checkEk({ host: "m" }, trust, NOW), "ek-malformed", "malformed", /host m sent neither ekCertificate nor ekPublic/);
  refused(t, await checkEk({ host: "m", ekPublic: new Uint8Array([0, 4, 1, 2, 3, 4]) }, trust, NOW), "ek-malformed", "malformed", /host m: ekPublic is not a TPM public area/);
  refused(t, await checkEk({ host: "m", ekCertificate: new Uint8Array([0x30, 0x03, 1, 2, 3]) }, trust, NOW), "ek-malformed", "malformed", /host m: ekCertificate is not an X\.509 certificate/);
  refused(t, await checkEk({ host: "m", ekCertificate: new TextEncoder().encode("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n") }, trust, NOW), "ek-malformed", "malformed", /ekCertificate has no PEM block labelled "CERTIFICATE"/);
  const template = marshal(TPM2B_PUBLIC, unmarshalPublic(ekPublicOf(spki.rsa)));
  const zero = unmarshalPublic(template);
  refused(t, await checkEk({ host: "m", ekPublic: marshal(TPM2B_PUBLIC, { ...zero, unique: new Uint8Array(256) }) }, trust, NOW), "ek-malformed", "malformed", /ekPublic holds no usable key: .*zero modulus/);
  refused(t, await checkEk({ host: "m", ekPublic: template }, { ...trust, pin: { ekPublic: new Uint8Array([9]) } }, NOW), "ek-malformed", "malformed", /trust\.pin\.ekPublic is not a TPM public area/);
  const cert = await issueEkCertificate(root, spki.rsa);
  refused(t, await checkEk({ host: "m", ekCertificate: cert }, { ...trust, cas: [root.der, new Uint8Array([1])] }, NOW), "ek-malformed", "malformed", /trust\.cas\[1\]/);
  refused(t, await checkEk({ host: "m", ekCertificate: cert }, trust, new Date(NaN)), "ek-malformed", "malformed", /now is not a valid Date/);
});

test("an EK certificate for a key without a default low-range template (P-384) needs ekPublic", async (t) => {
  const { root } = await setup();
  const { generateKeyPairSync } = await import("node:crypto");
  const p384 = new Uint8Array(generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey.export({ type: "spki", format: "der" }));
  const cert = await issueEkCertificate(root, p384);
  refused(t, await checkEk({ host: "p", ekCertificate: cert }, caTrust([root]), NOW), "ek-malformed", "malformed", /no TCG default low-range EK template \(NIST P-256\): send ekPublic/);
});

test("property: any bytes in any field give a verdict, never an exception; garbage alone is ek-malformed naming its field", async (t) => {
  const { root, spki } = await setup();
  const cert = await issueEkCertificate(root, spki.rsa);
  const bytes = fc.uint8Array({ maxLength: 300 });
  const maybe = fc.option(bytes, { nil: undefined });
  await fc.assert(
    fc.asyncProperty(maybe, maybe, maybe, maybe, fc.array(bytes, { maxLength: 2 }), fc.array(bytes, { maxLength: 2 }), fc.constantFrom("ca" as const, "pin" as const), async (c, p, pc, pp, cas, crls, mode) => {
      const v = await checkEk({ host: "fuzz", ...(c ? { ekCertificate: c } : {}), ...(p ? { ekPublic: p } : {}) }, { mode, cas: [root.der, ...cas], crls, pin: { ...(pc ? { certificate: pc } : {}), ...(pp ? { ekPublic: pp } : {}) } }, NOW);
      if (v.ok) return false; // random bytes are never a trusted EK
      return CODES.includes(v.code) && v.detail.length > 0;
    }),
    { numRuns: 300 },
  );
  await fc.assert(
    fc.asyncProperty(bytes, async (b) => {
      const v = await checkEk({ host: "fuzz", ekCertificate: b }, caTrust([root]), NOW);
      return !v.ok && v.code === "ek-malformed" && v.detail.includes("ekCertificate");
    }),
    { numRuns: 300 },
  );
  await fc.assert(
    fc.asyncProperty(bytes, async (b) => {
      const v = await checkEk({ host: "fuzz", ekPublic: b }, caTrust([root]), NOW);
      return !v.ok && v.code === "ek-malformed" && v.detail.includes("ekPublic");
    }),
    { numRuns: 300 },
  );
  // Mutations of a trusted certificate: never an exception, and never a different key trusted.
  const good = await checkEk({ host: "fuzz", ekCertificate: cert }, caTrust([root]), NOW);
  if (!good.ok) return t.fail(good.detail);
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: cert.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const mutated = cert.slice();
      mutated[at] = (mutated[at] as number) ^ xor;
      const v = await checkEk({ host: "fuzz", ekCertificate: mutated }, caTrust([root]), NOW);
      return v.ok ? v.fingerprint === good.fingerprint : CODES.includes(v.code);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
