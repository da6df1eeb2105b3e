import test from "ava";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { X509Certificate as NodeX509 } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { parseEkCertificate } from "./ek_certificate.ts";
import { PkiError } from "./errors.ts";
import { verifyChain } from "./verify_chain.ts";
import { fixturesRoot } from "@tessera/fixtures";
const SHARED_FIXTURES = fixturesRoot();

const FIXTURES = SHARED_FIXTURES + "/tpm-ca-certs";
const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), "latin1");
const stripZeros = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, "");

// ---------------------------------------------------------------------------------------------
// real manufacturer CA certificates (keylime's tpm_cert_store)

// keylime's tpm_cert_store as copied into the fixtures: all of them, so that a file that goes missing fails.
const CA_FILES = [
  "Alibaba_Cloud_vTPM_EK.pem",
  "GS_TPM_RT.pem",
  "IFX1.pem",
  "IFX15.pem",
  "IFX2.pem",
  "IFX3.pem",
  "IFX4.pem",
  "IFX5.pem",
  "IFX8.pem",
  "IFX_ECC_034.pem",
  "IFX_ECC_042.pem",
  "IFX_RSA_01I.pem",
  "IFX_RSA_02I.pem",
  "IFX_RSA_034.pem",
  "IFX_RSA_03I.pem",
  "IFX_RSA_042.pem",
  "IFX_RSA_04I.pem",
  "IFX_RSA_05I.pem",
  "IFX_RSA_08I.pem",
  "IFX_RSA_17I.pem",
  "IFX_RSA_18I.pem",
  "IFX_RSA_20I.pem",
  "IFX_RSA_21I.pem",
  "IFX_RSA_RT.pem",
  "INF_ECC_010I.pem",
  "INF_ECC_010RT.pem",
  "INF_ECC_011.pem",
  "INF_RSA_010I.pem",
  "INF_RSA_010RT.pem",
  "INF_RSA_011.pem",
  "INF_RSA_022.pem",
  "INTEL_I.pem",
  "INTEL_RT.pem",
  "NTC1.pem",
  "NTC2.pem",
  "NUVO_0100.pem",
  "NUVO_1110.pem",
  "NUVO_1111.pem",
  "NUVO_2110.pem",
  "NUVO_2111.pem",
  "Nationz_TPM_EK.pem",
  "STM_ECC_01I.pem",
  "STM_ECC_01RT.pem",
  "STM_RSA_01I.pem",
  "STM_RSA_02I.pem",
  "STM_RSA_03I.pem",
  "STM_RSA_04I.pem",
  "STM_RSA_05I.pem",
  "STM_RSA_06I.pem",
  "STM_RSA_07I.pem",
  "STM_RSA_RT.pem",
] as const;

/** The SubjectPublicKeyInfo algorithm as Node names key types. */
function keyType(spki: Uint8Array): string {
  const algorithm = AsnConvert.parse(spki, SubjectPublicKeyInfo).algorithm.algorithm;
  return ({ "1.2.840.113549.1.1.1": "rsa", "1.2.840.10045.2.1": "ec" } as Record<string, string>)[algorithm] ?? algorithm;
}

/** OpenSSL's multi-line name (as node:crypto gives it) in formatName's layout. */
const opensslName = (name: string): string => name.split("\n").join(", ").replace(/ \+ /g, "+");

test("all 51 TPM manufacturer CA certificates in the fixtures parse, and agree with OpenSSL", (t) => {
  t.is(CA_FILES.length, 51);
  t.deepEqual(
    readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".pem"))
      .sort(),
    [...CA_FILES].sort(),
  );
  for (const file of CA_FILES) {
    const text = fixture(file);
    const parsed = parseEkCertificate(text);
    const node = new NodeX509(text); // OpenSSL's reading, for comparison
    t.is(parsed.subject, opensslName(node.subject), file);
    t.is(parsed.issuer, opensslName(node.issuer), file);
    t.is(stripZeros(parsed.serialNumber), stripZeros(node.serialNumber), file);
    t.is(parsed.notBefore.getTime(), node.validFromDate.getTime(), file);
    t.is(parsed.notAfter.getTime(), node.validToDate.getTime(), file);
    t.deepEqual(Buffer.from(parsed.publicKeyDer), node.publicKey.export({ type: "spki", format: "der" }), file);
    t.is(keyType(parsed.publicKeyDer), node.publicKey.asymmetricKeyType ?? "", file);
    t.deepEqual(parsed.extendedKeyUsage, node.keyUsage ?? [], file);
    t.is(parsed.isCa, node.ca, file);
    t.true(parsed.isCa, `${file} is a CA`);
    t.false(parsed.isEk, `${file} is a CA, not an EK certificate`);
    t.true(parsed.keyUsage.includes("keyCertSign") || parsed.keyUsage.length === 0, file);
    t.is(parsed.tpmManufacturer, undefined, file);
    t.not(parsed.subject, "", file);
    // DER input gives the same result
    t.deepEqual(parseEkCertificate(new Uint8Array(node.raw)), parsed, file);
  }
});

// ---------------------------------------------------------------------------------------------
// EK certificates of real TPMs (testdata/README.md says where each comes from)

const TESTDATA = path.join(import.meta.dirname, "..", "testdata");
const testdata = (name: string): Buffer => readFileSync(path.join(TESTDATA, name));

test("real STMicro and Infineon EK certificates: TPM manufacturer, model, version and specification", (t) => {
  const stm = { manufacturer: "id:53544D20", issuer: /^C=CH, O=STMicroelectronics NV, CN=STM TPM (EK|ECC) Intermediate CA 0[156]$/ };
  const cases = [
    // As read from the TPM's NV index: the DER is followed by 0xff padding.
    { ...stm, file: "stm_st33htphahb4_rsa_ek_nv.der", model: "ST33HTPHAHB4", version: "id:00490004", revision: 116, keyUsage: ["keyEncipherment"], key: "rsa" },
    { ...stm, file: "stm_st33htphahb4_ecc_ek.der", model: "ST33HTPHAHB4", version: "id:00490004", revision: 116, keyUsage: ["keyAgreement"], key: "ec" },
    // Revision 138 is written 0x8a, without DER's sign octet.
    { ...stm, file: "stm_st33htphahd8_rsa_ek.pem", model: "ST33HTPHAHD8", version: "id:00010102", revision: 138, keyUsage: ["keyEncipherment"], key: "rsa" },
    {
      file: "ifx_slb9670_rsa_ek.der",
      manufacturer: "id:49465800",
      model: "SLB 9670 TPM2.0",
      version: "id:0728",
      revision: 116,
      keyUsage: ["keyEncipherment"],
      key: "rsa",
      issuer: /^C=DE, O=Infineon Technologies AG, OU=OPTIGA\(TM\) TPM2\.0, CN=Infineon OPTIGA\(TM\) RSA Manufacturing CA 007$/,
    },
  ];
  for (const c of cases) {
    const bytes = testdata(c.file);
    const ek = parseEkCertificate(c.file.endsWith(".pem") ? bytes.toString("latin1") : new Uint8Array(bytes));
    t.like(ek, { subject: "", isEk: true, isCa: false, tpmManufacturer: c.manufacturer, tpmModel: c.model, tpmVersion: c.version }, c.file);
    t.deepEqual(ek.tpmSpecification, { family: "2.0", level: 0, revision: c.revision }, c.file);
    t.deepEqual(ek.keyUsage, c.keyUsage, c.file);
    t.deepEqual(ek.extendedKeyUsage, ["2.23.133.8.1"], c.file);
    t.is(keyType(ek.publicKeyDer), c.key, c.file);
    t.regex(ek.issuer, c.issuer, c.file);
  }
});

test("the Infineon EK certificate does not chain: its Manufacturing CA 007 is not in the fixtures", async (t) => {
  const error = await t.throwsAsync(
    verifyChain(new Uint8Array(testdata("ifx_slb9670_rsa_ek.der")), {
      intermediates: ["INF_RSA_010I.pem", "INF_RSA_011.pem", "INF_RSA_022.pem", "IFX_RSA_034.pem"].map(fixture),
      roots: [fixture("INF_RSA_010RT.pem")],
      at: new Date("2024-06-01T00:00:00Z"),
    }),
    { instanceOf: PkiError },
  );
  t.is((error as PkiError).code, "PKI_CHAIN");
  t.regex(error?.message ?? "", /Infineon OPTIGA\(TM\) RSA Manufacturing CA 007/);
});

test("real STMicro EK certificates chain to the STMicro CAs in the fixtures, and not to another vendor's", async (t) => {
  const at = new Date("2024-06-01T00:00:00Z");
  const globalSign = { intermediates: [fixture("STM_RSA_RT.pem")], roots: [fixture("GS_TPM_RT.pem")] };
  const chains = [
    { file: "stm_st33htphahb4_rsa_ek_nv.der", intermediates: [fixture("STM_RSA_05I.pem"), ...globalSign.intermediates], roots: globalSign.roots, length: 4 },
    { file: "stm_st33htphahb4_ecc_ek.der", intermediates: [fixture("STM_ECC_01I.pem")], roots: [fixture("STM_ECC_01RT.pem")], length: 3 },
    { file: "stm_st33htphahd8_rsa_ek.pem", intermediates: [fixture("STM_RSA_06I.pem"), ...globalSign.intermediates], roots: globalSign.roots, length: 4 },
  ];
  for (const c of chains) {
    const bytes = testdata(c.file);
    const leaf = c.file.endsWith(".pem") ? bytes.toString("latin1") : new Uint8Array(bytes);
    const { chain } = await verifyChain(leaf, { intermediates: c.intermediates, roots: c.roots, at });
    t.is(chain.length, c.length, c.file);
    const wrong = await t.throwsAsync(verifyChain(leaf, { intermediates: [fixture("INF_RSA_011.pem")], roots: [fixture("INF_RSA_010RT.pem")], at }), {
      instanceOf: PkiError,
    });
    t.is((wrong as PkiError).code, "PKI_CHAIN", c.file);
  }
});

test("manufacturer CAs that carry the EK EKU are recognised as CAs, not EK certificates", (t) => {
  const infineon = parseEkCertificate(fixture("INF_RSA_011.pem"));
  t.deepEqual(infineon.extendedKeyUsage, ["2.23.133.8.1"]);
  t.true(infineon.isCa);
  t.false(infineon.isEk);
  t.deepEqual(infineon.keyUsage, ["keyCertSign", "cRLSign"]);
  t.is(infineon.subject, "C=DE, O=Infineon Technologies AG, OU=OPTIGA(TM) TPM2.0, CN=Infineon OPTIGA(TM) RSA Manufacturing CA 011");
  // A multi-valued RDN subject (Nuvoton).
  t.is(parseEkCertificate(fixture("NUVO_2110.pem")).subject, "CN=Nuvoton TPM Root CA 2110+O=Nuvoton Technology Corporation+C=TW");
});

test("verifyChain follows real manufacturer chains (SHA-1 RSA, ECDSA, a cross-signed root)", async (t) => {
  const at = new Date("2024-06-01T00:00:00Z");
  // STMicro: intermediate -> STM root (cross-signed) -> GlobalSign TPM root
  const stm = await verifyChain(fixture("STM_RSA_05I.pem"), {
    intermediates: [fixture("STM_RSA_RT.pem")],
    roots: [fixture("GS_TPM_RT.pem")],
    at,
  });
  t.deepEqual(
    stm.chain.map((c) => c.subject),
    [
      "C=CH, O=STMicroelectronics NV, CN=STM TPM EK Intermediate CA 05",
      "C=CH, O=STMicroelectronics NV, CN=STM TPM EK Root CA",
      "OU=GlobalSign Trusted Computing Certificate Authority, O=GlobalSign, CN=GlobalSign Trusted Platform Module Root CA",
    ],
  );
  // Infineon ECC manufacturing CA -> Infineon ECC root
  const ecc = await verifyChain(fixture("INF_ECC_011.pem"), {
    roots: [fixture("INF_ECC_010RT.pem")],
    at,
  });
  t.is(ecc.chain.length, 2);
  // Infineon's old RSA root is signed by a VeriSign root that is not in the store: trusting the
  // (not self-signed) IFX root itself ends the path there.
  const ifx = await verifyChain(fixture("IFX_RSA_17I.pem"), {
    roots: [fixture("IFX_RSA_RT.pem")],
    at,
  });
  t.is(ifx.chain.length, 2);
  const noVerisign = await t.throwsAsync(
    verifyChain(fixture("IFX_RSA_17I.pem"), {
      intermediates: [fixture("IFX_RSA_RT.pem")],
      roots: [fixture("GS_TPM_RT.pem")],
      at,
    }),
    {
      instanceOf: PkiError,
    },
  );
  t.is((noVerisign as PkiError).code, "PKI_CHAIN");
  t.regex(noVerisign?.message ?? "", /VeriSign Trusted Platform Module Root CA/);
  // An RSA CA does not chain to the ECC root; and IFX intermediate CA 01 expired in 2025.
  const wrongRoot = await t.throwsAsync(
    verifyChain(fixture("INF_RSA_011.pem"), {
      roots: [fixture("INF_ECC_010RT.pem")],
      at,
    }),
    { instanceOf: PkiError },
  );
  t.is((wrongRoot as PkiError).code, "PKI_CHAIN");
  const expired = await t.throwsAsync(
    verifyChain(fixture("IFX_RSA_01I.pem"), {
      roots: [fixture("IFX_RSA_RT.pem")],
      at: new Date("2026-01-01T00:00:00Z"),
    }),
    {
      instanceOf: PkiError,
    },
  );
  t.is((expired as PkiError).code, "PKI_EXPIRED");
  t.is((expired as PkiError).subject, "C=DE, ST=Saxony, O=Infineon Technologies AG, OU=AIM, CN=IFX TPM EK Intermediate CA 01");
});

// ---------------------------------------------------------------------------------------------
// swtpm EK certificates

let swtpm: Promise<SwtpmInstance> | undefined;
const sw = (): Promise<SwtpmInstance> => (swtpm ??= startSwtpm());
test.after.always(async () => {
  if (swtpm !== undefined) await (await swtpm).stop();
});

test("an swtpm RSA EK certificate: TPM manufacturer, model, version and specification", async (t) => {
  const instance = await sw();
  const rsa = instance.ekCerts.find((c) => c.kind === "rsa2048");
  if (rsa === undefined) throw new Error("swtpm made no RSA EK certificate");
  const ek = parseEkCertificate(rsa.der);
  t.true(ek.isEk);
  t.false(ek.isCa);
  t.is(ek.tpmManufacturer, "id:00001014"); // IBM's TPM_PT_MANUFACTURER, used by libtpms
  t.is(ek.tpmModel, "swtpm");
  t.regex(ek.tpmVersion ?? "", /^id:[0-9A-Fa-f]{8}$/);
  t.deepEqual(ek.tpmSpecification?.family, "2.0");
  t.is(typeof ek.tpmSpecification?.revision, "number");
  t.deepEqual(ek.keyUsage, ["keyEncipherment"]);
  t.deepEqual(ek.extendedKeyUsage, ["2.23.133.8.1"]);
  t.is(ek.notAfter.toISOString(), "9999-12-31T23:59:59.000Z");
  const node = new NodeX509(rsa.der);
  t.deepEqual(Buffer.from(ek.publicKeyDer), node.publicKey.export({ type: "spki", format: "der" }));
  t.is(node.publicKey.asymmetricKeyType, "rsa");
  t.is(stripZeros(ek.serialNumber), stripZeros(node.serialNumber));
});

test("swtpm ECC EK certificates: keyAgreement, same TPM attributes", async (t) => {
  const instance = await sw();
  const ecc = instance.ekCerts.filter((c) => c.kind === "eccNistP256" || c.kind === "eccNistP384");
  t.true(ecc.length >= 1);
  for (const cert of ecc) {
    const ek = parseEkCertificate(cert.der);
    t.true(ek.isEk, cert.kind);
    t.is(ek.tpmManufacturer, "id:00001014", cert.kind);
    t.deepEqual(ek.keyUsage, ["keyAgreement"], cert.kind);
    t.deepEqual(Buffer.from(ek.publicKeyDer), new NodeX509(cert.der).publicKey.export({ type: "spki", format: "der" }), cert.kind);
  }
});

test("swtpm EK certificates verify to the swtpm local CA, and not to another root", async (t) => {
  const instance = await sw();
  const [root, ...intermediates] = instance.caCertsPem;
  if (root === undefined) throw new Error("swtpm has no CA certificates");
  for (const cert of instance.ekCerts) {
    const { chain } = await verifyChain(cert.der, {
      intermediates,
      roots: [root],
    });
    t.is(chain.length, instance.caCertsPem.length + 1, cert.kind);
    t.is(chain[chain.length - 1]?.subject, new NodeX509(root).subject.replace(/\n/g, ", "), cert.kind);
  }
  const rsa = instance.ekCerts[0];
  if (rsa === undefined) throw new Error("no EK certificate");
  const error = await t.throwsAsync(verifyChain(rsa.der, { intermediates, roots: [fixture("GS_TPM_RT.pem")] }), { instanceOf: PkiError });
  t.is((error as PkiError).code, "PKI_CHAIN");
});

// ---------------------------------------------------------------------------------------------
// the DER liberties real EK certificates take, built by hand

function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const length = body.length < 0x80 ? [body.length] : body.length < 0x100 ? [0x81, body.length] : [0x82, body.length >> 8, body.length & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}
function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}
const utf8 = (s: string): Uint8Array => tlv(0x0c, Buffer.from(s, "utf8"));
const printable = (s: string): Uint8Array => tlv(0x13, Buffer.from(s, "latin1"));
const seq = (...p: Uint8Array[]): Uint8Array => tlv(0x30, ...p);
const set = (...p: Uint8Array[]): Uint8Array => tlv(0x31, ...p);
const octets = (...p: Uint8Array[]): Uint8Array => tlv(0x04, ...p);
const extension = (id: string, critical: boolean, value: Uint8Array): Uint8Array =>
  seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), octets(value));

async function handMadeEkCertificate(options: { san: Uint8Array; spki: Uint8Array }): Promise<Uint8Array> {
  const sha256WithRsa = seq(oid("1.2.840.113549.1.1.11"), tlv(0x05));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([0xff, 0x12, 0x34])), // a negative serial
    sha256WithRsa,
    seq(set(seq(oid("2.5.4.3"), printable("Vendor EK CA")))),
    seq(tlv(0x17, Buffer.from("200101000000Z")), tlv(0x18, Buffer.from("99991231235959Z"))),
    seq(), // an empty subject
    options.spki,
    tlv(
      0xa3,
      seq(
        extension("2.5.29.17", true, options.san),
        extension("2.5.29.37", false, seq(oid("2.23.133.8.1"))),
        extension("2.5.29.15", true, tlv(0x03, Buffer.from([0x03, 0x08]))), // keyAgreement
        extension("2.5.29.19", true, seq()),
        extension(
          "2.5.29.9",
          false,
          seq(seq(oid("2.23.133.2.16"), set(seq(utf8("2.0"), tlv(0x02, Buffer.from([0])), tlv(0x02, Buffer.from([0x8a])) /* 138 without the sign byte */)))),
        ),
        extension("1.3.6.1.4.1.99999.1", false, Buffer.from([0xde, 0xad])), // unknown, not even DER inside
      ),
    ),
  );
  return seq(tbs, sha256WithRsa, tlv(0x03, Buffer.from([0, 1, 2, 3])));
}

async function ecSpki(): Promise<Uint8Array> {
  const keys = await globalThis.crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  return new Uint8Array(await globalThis.crypto.subtle.exportKey("spki", keys.publicKey));
}

test("negative serial, empty subject, one multi-valued RDN of TPM attributes, odd extensions: all read", async (t) => {
  const spki = await ecSpki();
  const san = seq(
    tlv(
      0xa4,
      seq(
        set(seq(oid("2.23.133.2.1"), utf8("id:53544D20")), seq(oid("2.23.133.2.2"), printable("ST33HTPHAHD4")), seq(oid("2.23.133.2.3"), utf8("id:00010200"))),
      ),
    ),
  );
  const der = await handMadeEkCertificate({ san, spki });
  const ek = parseEkCertificate(der);
  t.is(ek.subject, "");
  t.is(ek.issuer, "CN=Vendor EK CA");
  t.is(ek.serialNumber, "ff1234");
  t.is(ek.tpmManufacturer, "id:53544D20");
  t.is(ek.tpmModel, "ST33HTPHAHD4");
  t.is(ek.tpmVersion, "id:00010200");
  t.deepEqual(ek.tpmSpecification, { family: "2.0", level: 0, revision: 138 });
  t.deepEqual(ek.keyUsage, ["keyAgreement"]);
  t.true(ek.isEk);
  t.false(ek.isCa);
  t.deepEqual(Buffer.from(ek.publicKeyDer), Buffer.from(spki));
  t.is(ek.notBefore.toISOString(), "2020-01-01T00:00:00.000Z");
  // OpenSSL reads it the same way (including the negative serial).
  const node = new NodeX509(der);
  t.is(node.serialNumber.toLowerCase().replace(/^-/, ""), "edcc");
});

test("a damaged subjectAltName is a PKI_PARSE error naming the extension", async (t) => {
  const der = await handMadeEkCertificate({
    san: seq(tlv(0xa4, Buffer.from([0x30, 0x10, 0x31]))),
    spki: await ecSpki(),
  });
  const error = t.throws(() => parseEkCertificate(der), {
    instanceOf: PkiError,
  });
  t.is(error?.code, "PKI_PARSE");
  t.regex(error?.message ?? "", /^Cannot decode EK certificate extension 2\.5\.29\.17 \(subjectAltName\): /);
});

test("bytes that are not a certificate are a PKI_PARSE error", (t) => {
  for (const input of [new Uint8Array([0x30, 0x82, 0x01]), new Uint8Array(0), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]) {
    const error = t.throws(() => parseEkCertificate(input), {
      instanceOf: PkiError,
    });
    t.is(error?.code, "PKI_PARSE");
    t.regex(error?.message ?? "", /EK certificate/);
  }
});
