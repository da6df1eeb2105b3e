import test, { type ExecutionContext } from "ava";
import { createCa, type CertificateAndKey } from "./create_ca.ts";
import { PkiError } from "./errors.ts";
import { issueCertificate, type IssuedCertificate } from "./issue_certificate.ts";
import { verifyChain } from "./verify_chain.ts";
import { x509 } from "./_x509.ts";

interface Pki {
  root: CertificateAndKey;
  intermediate: IssuedCertificate & { privateKeyPem: string };
  leaf: IssuedCertificate;
  otherRoot: CertificateAndKey;
}

let pkiPromise: Promise<Pki> | undefined;
function pki(): Promise<Pki> {
  pkiPromise ??= (async () => {
    const root = await createCa({
      commonName: "Chain Root",
      organization: "Tessera",
      pathLength: 1,
    });
    const intermediate = await issueCertificate(root, {
      commonName: "Chain Issuing CA",
      organization: "Tessera",
      profile: "ca",
      keyAlgorithm: "rsa-2048",
    });
    if (intermediate.privateKeyPem === undefined) throw new Error("no key");
    const issuing = {
      certificatePem: intermediate.certificatePem,
      privateKeyPem: intermediate.privateKeyPem,
    };
    const leaf = await issueCertificate(issuing, {
      commonName: "leaf.tessera.test",
      profile: "server",
    });
    const otherRoot = await createCa({
      commonName: "Chain Root",
      organization: "Tessera",
    });
    return {
      root,
      intermediate: {
        ...intermediate,
        privateKeyPem: intermediate.privateKeyPem,
      },
      leaf,
      otherRoot,
    };
  })();
  return pkiPromise;
}

async function chainError(t: ExecutionContext, promise: Promise<unknown>): Promise<PkiError> {
  const error = await t.throwsAsync(promise, { instanceOf: PkiError });
  if (!(error instanceof PkiError)) throw new Error("expected a PkiError");
  return error;
}

test("verifyChain builds leaf -> intermediate -> root from PEM and DER inputs", async (t) => {
  const { root, intermediate, leaf } = await pki();
  const { chain } = await verifyChain(leaf.certificatePem, {
    intermediates: [intermediate.certificatePem],
    roots: [root.certificatePem],
  });
  t.deepEqual(
    chain.map((c) => c.subject),
    ["CN=leaf.tessera.test", "O=Tessera, CN=Chain Issuing CA", "O=Tessera, CN=Chain Root"],
  );
  const der = (c: x509.X509Certificate): Uint8Array => new Uint8Array(c.rawData.slice(0));
  const again = await verifyChain(der(leaf.certificate), {
    intermediates: [der(intermediate.certificate)],
    roots: [der(root.certificate)],
  });
  t.is(again.chain.length, 3);
});

test("verifyChain stops at a trusted intermediate and ignores unrelated roots", async (t) => {
  const { root, intermediate, leaf, otherRoot } = await pki();
  const { chain } = await verifyChain(leaf.certificatePem, {
    roots: [otherRoot.certificatePem, intermediate.certificatePem, root.certificatePem],
  });
  t.deepEqual(
    chain.map((c) => c.subject),
    ["CN=leaf.tessera.test", "O=Tessera, CN=Chain Issuing CA"],
  );
});

test("verifyChain rejects a wrong root (PKI_CHAIN naming where the path ends)", async (t) => {
  const { intermediate, leaf, otherRoot } = await pki();
  const error = await chainError(
    t,
    verifyChain(leaf.certificatePem, {
      intermediates: [intermediate.certificatePem],
      roots: [otherRoot.certificatePem],
    }),
  );
  t.is(error.code, "PKI_CHAIN");
  t.is(error.subject, "O=Tessera, CN=Chain Issuing CA");
  t.regex(error.message, /No path from "CN=leaf\.tessera\.test" to a trusted root/);
  t.regex(error.message, /issued "O=Tessera, CN=Chain Issuing CA"/);
});

test("verifyChain rejects a missing intermediate (PKI_CHAIN)", async (t) => {
  const { root, leaf } = await pki();
  const error = await chainError(t, verifyChain(leaf.certificatePem, { roots: [root.certificatePem] }));
  t.is(error.code, "PKI_CHAIN");
  t.is(error.subject, "CN=leaf.tessera.test");
  t.regex(error.message, /"O=Tessera, CN=Chain Issuing CA"/);
});

test("verifyChain rejects a self-signed certificate that is not a root", async (t) => {
  const { root, otherRoot } = await pki();
  const error = await chainError(t, verifyChain(otherRoot.certificatePem, { roots: [root.certificatePem] }));
  t.is(error.code, "PKI_CHAIN");
  t.regex(error.message, /self-signed "O=Tessera, CN=Chain Root", which is not a trusted root/);
});

test("verifyChain rejects an expired leaf (PKI_EXPIRED naming it)", async (t) => {
  const { root, intermediate } = await pki();
  const expired = await issueCertificate(intermediate, {
    commonName: "expired.tessera.test",
    profile: "client",
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const error = await chainError(
    t,
    verifyChain(expired.certificatePem, {
      intermediates: [intermediate.certificatePem],
      roots: [root.certificatePem],
    }),
  );
  t.is(error.code, "PKI_EXPIRED");
  t.is(error.subject, "CN=expired.tessera.test");
  t.regex(error.message, /Certificate "CN=expired\.tessera\.test" expired: notAfter /);
});

test("verifyChain checks every certificate's validity at `at` (PKI_EXPIRED for the CA too)", async (t) => {
  const { root, intermediate, leaf } = await pki();
  const options = {
    intermediates: [intermediate.certificatePem],
    roots: [root.certificatePem],
  };
  const early = await chainError(
    t,
    verifyChain(leaf.certificatePem, {
      ...options,
      at: new Date(Date.now() - 86_400_000),
    }),
  );
  t.is(early.code, "PKI_EXPIRED");
  t.regex(early.message, /"CN=leaf\.tessera\.test" is not yet valid/);
  const late = await chainError(
    t,
    verifyChain(leaf.certificatePem, {
      ...options,
      at: new Date(Date.now() + 2 * 365 * 86_400_000),
    }),
  );
  t.is(late.code, "PKI_EXPIRED");
  t.is(late.subject, "CN=leaf.tessera.test");
});

test("verifyChain rejects a leaf signed by a certificate that is not a CA (PKI_CHAIN naming the signer)", async (t) => {
  const { root } = await pki();
  const notCa = await issueCertificate(root, {
    commonName: "not-a-ca",
    profile: "client",
  });
  if (notCa.privateKeyPem === undefined) throw new Error("no key");
  // issueCertificate refuses to do this, so sign by hand.
  const signingKey = await globalThis.crypto.subtle.importKey(
    "pkcs8",
    new Uint8Array(Buffer.from(notCa.privateKeyPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64")),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  const leafKeys = await globalThis.crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const rogue = await x509.X509CertificateGenerator.create({
    subject: "CN=rogue.tessera.test",
    issuer: notCa.certificate.subjectName,
    publicKey: leafKeys.publicKey,
    signingKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    extensions: [new x509.AuthorityKeyIdentifierExtension(notCa.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "", false)],
  });
  const error = await chainError(
    t,
    verifyChain(rogue.toString("pem"), {
      intermediates: [notCa.certificatePem],
      roots: [root.certificatePem],
    }),
  );
  t.is(error.code, "PKI_CHAIN");
  t.is(error.subject, "CN=not-a-ca");
  t.regex(error.message, /"CN=not-a-ca" signed "CN=rogue\.tessera\.test" but is not a CA: it has basicConstraints cA=false/);
});

test("verifyChain enforces pathLenConstraint", async (t) => {
  const root = await createCa({ commonName: "Strict Root", pathLength: 0 });
  const middle = await issueCertificate(root, {
    commonName: "Middle CA",
    profile: "ca",
  });
  if (middle.privateKeyPem === undefined) throw new Error("no key");
  const lower = await issueCertificate(
    {
      certificatePem: middle.certificatePem,
      privateKeyPem: middle.privateKeyPem,
    },
    { commonName: "Lower CA", profile: "ca" },
  );
  if (lower.privateKeyPem === undefined) throw new Error("no key");
  const leaf = await issueCertificate(
    {
      certificatePem: lower.certificatePem,
      privateKeyPem: lower.privateKeyPem,
    },
    { commonName: "deep", profile: "client" },
  );
  const error = await chainError(
    t,
    verifyChain(leaf.certificatePem, {
      intermediates: [lower.certificatePem, middle.certificatePem],
      roots: [root.certificatePem],
    }),
  );
  t.is(error.code, "PKI_CHAIN");
  t.is(error.subject, "CN=Strict Root");
  t.regex(error.message, /allows 0 intermediate CA\(s\) below it, the chain has 2/);
});

test("verifyChain rejects a tampered signature", async (t) => {
  const { root, intermediate, leaf } = await pki();
  const der = new Uint8Array(leaf.certificate.rawData.slice(0)); // rawData is the live buffer: copy
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
  const error = await chainError(
    t,
    verifyChain(der, {
      intermediates: [intermediate.certificatePem],
      roots: [root.certificatePem],
    }),
  );
  t.is(error.code, "PKI_CHAIN");
  t.is(error.subject, "CN=leaf.tessera.test");
});

test("verifyChain names unparsable inputs (PKI_PARSE)", async (t) => {
  const { root, leaf } = await pki();
  const error = await chainError(
    t,
    verifyChain(leaf.certificatePem, {
      roots: [root.certificatePem, "not a certificate"],
    }),
  );
  t.is(error.code, "PKI_PARSE");
  t.regex(error.message, /roots\[1\]/);
  const garbage = await chainError(
    t,
    verifyChain(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), {
      roots: [root.certificatePem],
    }),
  );
  t.is(garbage.code, "PKI_PARSE");
  t.regex(garbage.message, /leaf certificate/);
  const none = await chainError(t, verifyChain(leaf.certificatePem, { roots: [] }));
  t.is(none.code, "PKI_CHAIN");
});
