import test from "ava";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, Certificate, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { fixturesRoot } from "@tessera/fixtures";
import * as names from "@tessera/pki/names";
import * as pki from "./mod.ts";
import { x509 } from "./_x509.ts";

const FIXTURES = fixturesRoot();
const atv = (type: string, value: Partial<AttributeValue>): AttributeTypeAndValue => new AttributeTypeAndValue({ type, value: new AttributeValue(value) });
const rdn = (...atvs: AttributeTypeAndValue[]): RelativeDistinguishedName => new RelativeDistinguishedName(atvs);
/** How @peculiar/x509 writes a name: what formatName wrote before it had its own implementation. */
const x509Text = (name: Name): string => new x509.Name(name).toString();

/** The DER certificates inside a file (an event log's Secure Boot databases and authority events), found by shape. */
function certificatesIn(bytes: Uint8Array): Certificate[] {
  const found: Certificate[] = [];
  for (let i = 0; i + 8 < bytes.length; i++) {
    // SEQUENCE (long form, 2 length bytes) holding a SEQUENCE of the same form: a Certificate and its TBSCertificate.
    if (bytes[i] !== 0x30 || bytes[i + 1] !== 0x82 || bytes[i + 4] !== 0x30 || bytes[i + 5] !== 0x82) continue;
    const end = i + 4 + ((bytes[i + 2] << 8) | bytes[i + 3]);
    if (end > bytes.length) continue;
    try {
      found.push(AsnConvert.parse(bytes.subarray(i, end), Certificate));
      i = end - 1;
    } catch {
      // not a certificate
    }
  }
  return found;
}

test("@tessera/pki/names exports the same functions as @tessera/pki (mod.ts)", (t) => {
  t.is(names.formatName, pki.formatName);
  t.is(names.distinguishedName, pki.distinguishedName);
  t.is(names.certificateSubject, pki.certificateSubject);
  t.is(names.certificateIssuer, pki.certificateIssuer);
  t.is(names.parseDistinguishedName, pki.parseDistinguishedName);
  t.is(names.PkiError, pki.PkiError);
});

test("importing @tessera/pki/names loads the ASN.1 packages only: not @peculiar/x509, tsyringe or reflect-metadata", (t) => {
  const child = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { registerHooks } from "node:module";
       const urls = [];
       registerHooks({ resolve: (s, c, next) => { const r = next(s, c); urls.push(r.url); return r; } });
       await import("@tessera/pki/names");
       process.stdout.write(urls.join("\\n"));`,
    ],
    { cwd: path.resolve(import.meta.dirname, ".."), encoding: "utf8", timeout: 120_000 },
  );
  t.is(child.status, 0, child.stderr);
  const urls = child.stdout.split("\n");
  t.true(
    urls.some((u) => u.includes("/@peculiar/asn1-x509/")),
    "the hook records the graph",
  );
  const heavy = new Set(urls.flatMap((u) => /\/node_modules\/(@peculiar\/x509|tsyringe|reflect-metadata)\//.exec(u)?.[1] ?? []));
  t.deepEqual([...heavy], []);
});

test("formatName writes every name of the fixtures as @peculiar/x509 does: the TPM CA certificates and the event logs' certificates", (t) => {
  const certificates: Certificate[] = [];
  for (const file of readdirSync(path.join(FIXTURES, "tpm-ca-certs"))) {
    const pem = readFileSync(path.join(FIXTURES, "tpm-ca-certs", file), "latin1");
    const base64 = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem);
    if (base64) certificates.push(AsnConvert.parse(Buffer.from(base64[1], "base64"), Certificate));
  }
  const fromCas = certificates.length;
  for (const file of readdirSync(path.join(FIXTURES, "eventlogs"))) {
    certificates.push(...certificatesIn(new Uint8Array(readFileSync(path.join(FIXTURES, "eventlogs", file)))));
  }
  t.true(fromCas >= 51, `${fromCas} CA certificates`);
  t.true(certificates.length - fromCas >= 100, `${certificates.length - fromCas} certificates in the event logs`);
  const texts = new Set<string>();
  for (const c of certificates) {
    for (const name of [c.tbsCertificate.subject, c.tbsCertificate.issuer]) {
      const text = pki.formatName(name);
      t.is(text, x509Text(name));
      t.is(pki.formatName(new Uint8Array(AsnConvert.serialize(name))), text, "the DER of the name reads the same");
      texts.add(text);
    }
  }
  // Names with the cases that matter: E= (Red Hat's Secure Boot CA), escaped commas, multi-valued RDNs.
  t.true([...texts].some((s) => s.includes("E=secalert@redhat.com")));
  t.true([...texts].some((s) => s.includes("\\,")));
});

test("formatName writes tricky values as @peculiar/x509 does", (t) => {
  const values: Partial<AttributeValue>[] = [
    { utf8String: 'a,b+c"d\\e<f>g;h=i' },
    { utf8String: "#lead" },
    { utf8String: " lead and trail " },
    { utf8String: "  " },
    { utf8String: "one\nnewline" },
    { utf8String: "" },
    { printableString: "" },
    { ia5String: "x@example.com" },
    { bmpString: "Grüße 漢字" },
    { universalString: "𝄞 clef" },
    { anyValue: new Uint8Array([0x02, 0x01, 0x2a]).buffer },
  ];
  for (const [i, value] of values.entries()) {
    for (const type of ["2.5.4.3", "1.2.840.113549.1.9.1", "2.5.4.5", "2.5.4.42", "2.23.133.2.1"]) {
      const name = new Name([rdn(atv("2.5.4.6", { printableString: "US" })), rdn(atv(type, value), atv("2.5.4.10", { utf8String: `O${i}` }))]);
      t.is(pki.formatName(name), x509Text(name), JSON.stringify(value));
    }
  }
});

test("formatName escapes every control character, where @peculiar/x509 escaped only the first CR, LF or tab", (t) => {
  const name = new Name([rdn(atv("2.5.4.3", { utf8String: "a\nb\nc\r\td\x00e\x7f\x1b[31m" }))]);
  t.is(pki.formatName(name), "CN=a\\0Ab\\0Ac\\0D\\09d\\00e\\7F\\1B[31m");
  t.is(x509Text(name), "CN=a\\0Ab\nc\r\td\x00e\x7f\x1b[31m", "x509's form could break a log line");
  // The identity string escapes the same characters (its hex in lower case).
  t.is(pki.distinguishedName(new Uint8Array(AsnConvert.serialize(name))).rfc4514, "CN=a\\0ab\\0ac\\0d\\09d\\00e\\7f\\1b[31m");
});

test("formatName writes a value of one space as an escaped space, where @peculiar/x509 escaped it twice", (t) => {
  const name = new Name([rdn(atv("2.5.4.3", { utf8String: " " }))]);
  t.is(pki.formatName(name), "CN=\\ ");
  t.is(x509Text(name), "CN=\\\\ ");
  t.is(pki.parseDistinguishedName(pki.distinguishedName(new Uint8Array(AsnConvert.serialize(name))).rfc4514).readable, "CN=\\ ");
});
