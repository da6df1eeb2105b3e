/**
 * The endorsement key: recreate the RSA 2048 and ECC P-256 EKs, check them against the EK certificates
 * in NV and the swtpm CA, compare Names with tpm2-tools, and see an EK nonce in NV change the RSA EK.
 */
import test from "ava";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  EK_KINDS,
  EK_NV,
  EK_POLICY_A_SHA256,
  EK_POLICY_B_SHA256,
  type EkKind,
  ekTemplate,
  samePublicKey,
  TPM_ALG,
  TPM_HT,
  TPM_RH,
  TPMA_NV,
  TPMA_OBJECT,
  TPMT_PUBLIC,
  marshal,
  type TpmsEccPoint,
} from "@tessera/tpm2";
import { createEk, derLength, ekKindsPresent, ekTemplateFor, readEkCertificate, withEk } from "./ek.ts";
import { TssError } from "./errors.ts";
import { swtpmForTests, tpm2Tool, withoutConnection } from "./_test_support.ts";

const sim = swtpmForTests();

const LOW_KINDS = [
  { kind: "rsa2048", tool: "rsa", certKind: "rsa2048", type: TPM_ALG.RSA },
  { kind: "ecc-p256", tool: "ecc", certKind: "eccNistP256", type: TPM_ALG.ECC },
] as const;

const names = new Map<EkKind, Uint8Array>();

test.serial("ekKindsPresent lists the kinds with a certificate in NV", async (t) => {
  t.deepEqual((await ekKindsPresent(sim.tpm)).sort(), ["ecc-p256", "rsa2048"]);
});

for (const { kind, certKind, type } of LOW_KINDS) {
  test.serial(`${kind}: createEk matches the certificate's public key, which chains to the swtpm CA`, async (t) => {
    t.timeout(20_000);
    const ek = await createEk(sim.tpm, kind);
    try {
      t.is(ek.kind, kind);
      t.is(ek.public.type, type);
      t.is(ek.public.objectAttributes & TPMA_OBJECT.userWithAuth, 0, "low-range EK must not allow userWithAuth");
      t.deepEqual(ek.public.authPolicy, EK_POLICY_A_SHA256);
      if (!ek.certificate) return t.fail("no certificate");
      // The certificate is the one swtpm-testing provisioned, byte for byte, trimmed to its DER length.
      const provisioned = sim.sw.ekCerts.find((c) => c.kind === certKind);
      t.deepEqual(ek.certificate, provisioned?.der);
      t.is(derLength(ek.certificate), ek.certificate.length);

      const cert = new X509Certificate(ek.certificate);
      t.true(samePublicKey(ek.public, cert.publicKey));
      // The chain: EK cert ← issuing CA ← root (self-signed).
      const cas = sim.sw.caCertsPem.map((pem) => new X509Certificate(pem));
      const issuer = cas[cas.length - 1];
      const root = cas[0];
      t.true(cert.checkIssued(issuer), "EK certificate is not issued by the swtpm CA");
      t.true(cert.verify(issuer.publicKey), "EK certificate signature does not verify with the CA key");
      for (let i = cas.length - 1; i > 0; i--) t.true(cas[i].verify(cas[i - 1].publicKey), `CA ${i} not signed by CA ${i - 1}`);
      t.true(root.verify(root.publicKey), "root CA is not self-signed");
      // Not self-signed: its own (EK) key does not verify it.
      t.false(cert.verify(cert.publicKey));
      names.set(kind, ek.name);
    } finally {
      await sim.tpm.flush(ek.handle);
    }
    t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), []);
  });
}

for (const { kind, tool } of LOW_KINDS) {
  test.serial(`${kind}: the EK Name equals the one tpm2_createek/tpm2_readpublic compute`, async (t) => {
    t.timeout(25_000);
    const ours = await withEk(sim.tpm, kind, async (ek) => ({ name: ek.name, publicBytes: ek.publicBytes }));
    const dir = sim.sw.dir;
    const ctx = path.join(dir, `ek-${tool}.ctx`);
    const pub = path.join(dir, `ek-${tool}.pub`);
    const nameFile = path.join(dir, `ek-${tool}.name`);
    await withoutConnection(sim, async () => {
      tpm2Tool(t, "tpm2_createek", ["-T", sim.sw.tcti, "-c", ctx, "-G", tool, "-u", pub]);
      tpm2Tool(t, "tpm2_readpublic", ["-T", sim.sw.tcti, "-c", ctx, "-n", nameFile]);
      tpm2Tool(t, "tpm2_flushcontext", ["-T", sim.sw.tcti, "-t"]);
    });
    t.deepEqual(new Uint8Array(await readFile(nameFile)), ours.name);
    // tpm2_createek -u writes TPM2B_PUBLIC: the same bytes as publicBytes.
    t.deepEqual(new Uint8Array(await readFile(pub)), ours.publicBytes);
    t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), []);
  });
}

test.serial("readEkCertificate returns undefined for a kind whose NV index is absent", async (t) => {
  t.is(await readEkCertificate(sim.tpm, "rsa2048-high"), undefined);
  t.is(await readEkCertificate(sim.tpm, "ecc-p256-high"), undefined);
  const rsa = await readEkCertificate(sim.tpm, "rsa2048");
  t.truthy(rsa);
});

for (const kind of ["rsa2048-high", "ecc-p256-high"] as const) {
  test.serial(`${kind}: the high-range EK can be created (no certificate)`, async (t) => {
    t.timeout(20_000);
    const ek = await createEk(sim.tpm, kind);
    try {
      t.is(ek.certificate, undefined);
      t.deepEqual(ek.public.authPolicy, EK_POLICY_B_SHA256);
      t.not(ek.public.objectAttributes & TPMA_OBJECT.userWithAuth, 0);
      t.is(ek.public.type, kind.startsWith("rsa") ? TPM_ALG.RSA : TPM_ALG.ECC);
      if (ek.public.type === TPM_ALG.ECC) t.is((ek.public.unique as TpmsEccPoint).x.length, 32);
      else t.is((ek.public.unique as Uint8Array).length, 256);
      t.notDeepEqual(ek.name, names.get(kind.startsWith("rsa") ? "rsa2048" : "ecc-p256"));
    } finally {
      await sim.tpm.flush(ek.handle);
    }
  });
}

test.serial("an EK nonce in NV changes the RSA EK, which then no longer matches its certificate (TSS_EK)", async (t) => {
  t.timeout(20_000);
  const index: number = EK_NV.RSA2048_NONCE;
  t.is(EK_KINDS.rsa2048.nonce, index);
  const nonce = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  await sim.tpm.nvDefine({
    nvIndex: index,
    nameAlg: TPM_ALG.SHA256,
    attributes: TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA,
    authPolicy: new Uint8Array(),
    dataSize: nonce.length,
  });
  try {
    await sim.tpm.nvWrite(index, nonce, { authHandle: TPM_RH.OWNER });
    const template = await ekTemplateFor(sim.tpm, "rsa2048");
    const unique = template.unique as Uint8Array;
    t.is(unique.length, 256);
    t.deepEqual(unique.subarray(0, 16), nonce);
    t.deepEqual(unique.subarray(16), new Uint8Array(240));

    const changed = await sim.tpm.createPrimary(TPM_RH.ENDORSEMENT, template);
    await sim.tpm.flush(changed.handle);
    t.notDeepEqual(changed.name, names.get("rsa2048"));

    const e = await t.throwsAsync(createEk(sim.tpm, "rsa2048"), { instanceOf: TssError });
    if (e instanceof TssError) t.is(e.code, "TSS_EK", e.message);
    // The mismatching EK was flushed.
    t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), []);
    // The ECC EK has no nonce and is unaffected.
    await withEk(sim.tpm, "ecc-p256", async (ek) => t.deepEqual(ek.name, names.get("ecc-p256")));
  } finally {
    await sim.tpm.nvUndefine(index);
  }
  // Without the nonce the certified EK is back.
  await withEk(sim.tpm, "rsa2048", async (ek) => t.deepEqual(ek.name, names.get("rsa2048")));
});

test.serial("an EK template in NV replaces the default template", async (t) => {
  t.timeout(20_000);
  const index: number = EK_NV.RSA2048_TEMPLATE;
  // Store the H-1 (high range) template at the low-range RSA template index.
  const bytes = marshal(TPMT_PUBLIC, ekTemplate("rsa2048-high"));
  await sim.tpm.nvDefine({
    nvIndex: index,
    nameAlg: TPM_ALG.SHA256,
    attributes: TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA,
    authPolicy: new Uint8Array(),
    dataSize: bytes.length,
  });
  try {
    await sim.tpm.nvWrite(index, bytes, { authHandle: TPM_RH.OWNER });
    t.deepEqual(marshal(TPMT_PUBLIC, await ekTemplateFor(sim.tpm, "rsa2048")), bytes);
    // The key made from it is not the certified one.
    const e = await t.throwsAsync(createEk(sim.tpm, "rsa2048"), { instanceOf: TssError });
    if (e instanceof TssError) t.is(e.code, "TSS_EK");
    t.deepEqual(await sim.tpm.handles(TPM_HT.TRANSIENT), []);
  } finally {
    await sim.tpm.nvUndefine(index);
  }
});

test("derLength: exact, padded, truncated and garbage input", (t) => {
  // Short form.
  t.is(derLength(Uint8Array.of(0x30, 0x03, 1, 2, 3)), 5);
  t.is(derLength(Uint8Array.of(0x30, 0x03, 1, 2, 3, 0xff, 0xff, 0xff)), 5);
  t.is(derLength(Uint8Array.of(0x30, 0x00)), 2);
  // Long form: one and two length octets, padded with 0xff (erased NV) or zeros.
  const long1 = new Uint8Array(3 + 200);
  long1.set([0x30, 0x81, 200]);
  t.is(derLength(long1), 203);
  const long2 = new Uint8Array(4 + 1000 + 48).fill(0xff);
  long2.set([0x30, 0x82, 0x03, 0xe8]);
  t.is(derLength(long2), 1004);
  // Not DER: wrong tag, empty, one byte, indefinite length, too many length octets.
  t.is(derLength(new Uint8Array()), undefined);
  t.is(derLength(Uint8Array.of(0x30)), undefined);
  t.is(derLength(new Uint8Array(64)), undefined);
  t.is(derLength(new Uint8Array(64).fill(0xff)), undefined);
  t.is(derLength(Uint8Array.of(0x04, 0x02, 1, 2)), undefined);
  t.is(derLength(Uint8Array.of(0x30, 0x80, 1, 2, 0, 0)), undefined);
  t.is(derLength(Uint8Array.of(0x30, 0x85, 0, 0, 0, 0, 1, 0)), undefined);
  // Long form that declares more than is there.
  t.is(derLength(Uint8Array.of(0x30, 0x82, 0x10, 0x00, 1, 2, 3)), undefined);
  t.is(derLength(Uint8Array.of(0x30, 0x82, 0x10)), undefined);
});

test("derLength: a short-form header declaring more than is there is undefined, like the long form", (t) => {
  // 0x30 0x05 announces 5 content octets but only 1 follows: not a complete DER object.
  t.is(derLength(Uint8Array.of(0x30, 0x05, 1)), undefined);
  t.is(derLength(Uint8Array.of(0x30, 0x7f)), undefined);
});

test("derLength of a real EK certificate, padded as NV slots may be", (t) => {
  const der = sim.sw.ekCerts[0].der;
  const padded = new Uint8Array(der.length + 100);
  padded.set(der);
  t.is(derLength(padded), der.length);
  t.is(derLength(der.subarray(0, der.length - 1)), undefined);
});
