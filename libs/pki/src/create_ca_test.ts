import test from "ava";
import { spawnSync } from "node:child_process";
import { X509Certificate as NodeX509, createPrivateKey } from "node:crypto";
import { createCa } from "./create_ca.ts";
import { PkiError } from "./errors.ts";
import { x509 } from "./_x509.ts";

function opensslText(pem: string): string {
  const result = spawnSync("openssl", ["x509", "-noout", "-text"], {
    input: pem,
    encoding: "utf8",
  });
  if (result.error) throw new Error(`openssl is required for these tests and could not be run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`openssl x509 failed: ${result.stderr}`);
  return result.stdout;
}

for (const keyAlgorithm of ["ecdsa-p256", "rsa-2048", "rsa-3072"] as const) {
  test(`createCa (${keyAlgorithm}) makes a self-signed CA certificate with a matching PKCS#8 key`, async (t) => {
    const ca = await createCa({
      commonName: "Tessera Root",
      organization: "Tessera",
      keyAlgorithm,
      pathLength: 1,
    });
    t.regex(ca.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    t.regex(ca.certificatePem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    t.is(ca.certificate.subject, "O=Tessera, CN=Tessera Root");
    t.is(ca.certificate.issuer, ca.certificate.subject);
    t.true(await ca.certificate.isSelfSigned());

    // independent check with node's (OpenSSL's) X509Certificate
    const node = new NodeX509(ca.certificatePem);
    t.true(node.ca);
    t.true(node.checkPrivateKey(createPrivateKey(ca.privateKeyPem)));
    t.true(node.verify(node.publicKey));

    const text = opensslText(ca.certificatePem);
    t.regex(text, /X509v3 Basic Constraints: critical\n\s*CA:TRUE, pathlen:1\n/);
    t.regex(text, /X509v3 Key Usage: critical\n\s*Certificate Sign, CRL Sign\n/);
    t.regex(text, /X509v3 Subject Key Identifier/);
    t.regex(
      text,
      keyAlgorithm === "ecdsa-p256"
        ? /ecdsa-with-SHA256[\s\S]*NIST CURVE: P-256/
        : new RegExp(`sha256WithRSAEncryption[\\s\\S]*Public-Key: \\(${keyAlgorithm.slice(4)} bit\\)`),
    );
  });
}

test("createCa defaults: ECDSA P-256, ten years, no path length, notBefore 5 minutes back", async (t) => {
  const before = Math.floor(Date.now() / 1000) * 1000; // certificate times have whole seconds
  const ca = await createCa({ commonName: "Defaults" });
  const after = Date.now();
  const within = (d: Date, offset: number) => d.getTime() >= before + offset && d.getTime() <= after + offset;
  t.is(ca.certificate.publicKey.algorithm.name, "ECDSA");
  const basic = ca.certificate.getExtension(x509.BasicConstraintsExtension);
  t.true(basic?.ca);
  t.true(basic?.critical);
  t.is(basic?.pathLength, undefined);
  t.true(within(ca.certificate.notBefore, -300_000), ca.certificate.notBefore.toISOString());
  t.true(within(ca.certificate.notAfter, 3650 * 86_400_000), ca.certificate.notAfter.toISOString());
  t.is(ca.certificate.subject, "CN=Defaults");
});

test("createCa refuses bad options with PKI_PROFILE / PKI_KEY", async (t) => {
  for (const [options, code, message] of [
    [{ commonName: "" }, "PKI_PROFILE", /Bad commonName/],
    [{ commonName: "x".repeat(65) }, "PKI_PROFILE", /Bad commonName/],
    [{ commonName: "x", pathLength: -1 }, "PKI_PROFILE", /Bad pathLength -1/],
    [{ commonName: "x", validityDays: -5 }, "PKI_PROFILE", /Bad validityDays -5/],
    [{ commonName: "x", keyAlgorithm: "dsa-1024" as "rsa-2048" }, "PKI_KEY", /Unsupported keyAlgorithm "dsa-1024"/],
  ] as const) {
    const error = await t.throwsAsync(createCa(options), {
      instanceOf: PkiError,
    });
    t.is(error?.code, code);
    t.regex(error?.message ?? "", message);
  }
});
