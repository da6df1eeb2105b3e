import test from "ava";
import fc from "fast-check";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { certificateSubject, distinguishedName, parseDistinguishedName } from "./distinguished_name.ts";
import { createCa } from "./create_ca.ts";
import { PkiError } from "./errors.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** An independent builder of test names: the string type as a CA picks it. */
function nameDer(rdns: { oid: string; value: string }[][]): Uint8Array {
  const name = new Name(
    rdns.map(
      (rdn) =>
        new RelativeDistinguishedName(
          rdn.map((a) => {
            const ia5 = (a.oid === "0.9.2342.19200300.100.1.25" || a.oid === "1.2.840.113549.1.9.1") && /^[\x00-\x7f]*$/.test(a.value);
            const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(a.value);
            const value = new AttributeValue(ia5 ? { ia5String: a.value } : printable ? { printableString: a.value } : { utf8String: a.value });
            return new AttributeTypeAndValue({ type: a.oid, value });
          }),
        ),
    ),
  );
  return new Uint8Array(AsnConvert.serialize(name));
}

const CN = "2.5.4.3";
const O = "2.5.4.10";

test("a CN holding `bob,O=Example` and the name CN=bob,O=Example are two identities", (t) => {
  const one = distinguishedName(nameDer([[{ oid: CN, value: "bob,O=Example" }]]));
  const two = distinguishedName(nameDer([[{ oid: O, value: "Example" }], [{ oid: CN, value: "bob" }]]));
  const three = distinguishedName(nameDer([[{ oid: CN, value: "bob" }], [{ oid: O, value: "Example" }]]));
  t.is(one.rfc4514, "CN=bob\\,O\\=Example");
  t.is(two.rfc4514, "CN=bob,O=Example");
  t.is(three.rfc4514, "O=Example,CN=bob");
  t.is(two.readable, "O=Example, CN=bob");
  t.is(one.readable, "CN=bob\\,O=Example", "the readable form escapes as formatName does");
});

test("every character RFC 4514 requires is escaped, and multi-valued RDNs use +", (t) => {
  const d = distinguishedName(
    nameDer([
      [
        { oid: CN, value: '#a,b+c"d\\e<f>g;h=i ' },
        { oid: "2.5.4.11", value: " x" },
      ],
      [{ oid: "2.5.4.5", value: "7" }],
    ]),
  );
  t.is(d.rfc4514, '2.5.4.5=7,CN=\\#a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i\\ +OU=\\ x');
  t.is(hex(parseDistinguishedName(d.rfc4514).der), hex(d.der));
});

test("a value that is not a directory string is written as # and its DER", (t) => {
  const name = new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: "1.2.3.4", value: new AttributeValue({ anyValue: new Uint8Array([2, 1, 5]).buffer }) })]),
  ]);
  const d = distinguishedName(new Uint8Array(AsnConvert.serialize(name)));
  t.is(d.rfc4514, "1.2.3.4=#020105");
  t.is(hex(parseDistinguishedName(d.rfc4514).der), hex(d.der));
});

test("the subject of a certificate", async (t) => {
  const ca = await createCa({ commonName: "Test, Inc. CA", organization: "a+b" });
  const der = new Uint8Array(Buffer.from(ca.certificatePem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
  t.is(certificateSubject(der).rfc4514, "CN=Test\\, Inc. CA,O=a\\+b");
});

test("bad input is a PkiError naming the place", (t) => {
  for (const [s, at] of [
    ["CN=a,b", 5],
    ["XX=a", 0],
    ["CN=a\\", 4],
    ["CN=#zz", 3],
    ["CN=a;b", 4],
  ] as const) {
    const e = t.throws(() => parseDistinguishedName(s), { instanceOf: PkiError }, s);
    t.is(e?.code, "PKI_PARSE");
    t.true(e?.message.includes(`at character ${at}`), `${s}: ${e?.message}`);
  }
  t.throws(() => distinguishedName(new Uint8Array([0x30, 0x05, 1])), { instanceOf: PkiError });
});

const OIDS = [
  CN,
  O,
  "2.5.4.11",
  "2.5.4.6",
  "2.5.4.7",
  "0.9.2342.19200300.100.1.25",
  "0.9.2342.19200300.100.1.1",
  "1.2.840.113549.1.9.1",
  "2.5.4.5",
  "1.3.6.1.4.1.99999.1",
];
const SPECIAL = fc.constantFrom(",", "+", '"', "\\", "<", ">", ";", "=", "#", " ", "\n", "\0", "é", "日", "😀", "a", "B", "0", ".");
const value = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.array(SPECIAL, { maxLength: 8 }).map((a) => a.join("")),
  fc.string({ unit: "grapheme", maxLength: 6 }),
);
const names = fc.array(fc.array(fc.record({ oid: fc.constantFrom(...OIDS), value }), { minLength: 1, maxLength: 3 }), { maxLength: 4 });

test("property: the string round-trips to the same DER", (t) => {
  fc.assert(
    fc.property(names, (rdns) => {
      const der = nameDer(rdns);
      const d = distinguishedName(der);
      return hex(parseDistinguishedName(d.rfc4514).der) === hex(der);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("property: different names never share a string", (t) => {
  fc.assert(
    fc.property(names, names, (a, b) => {
      const da = nameDer(a);
      const db = nameDer(b);
      return hex(da) === hex(db) || distinguishedName(da).rfc4514 !== distinguishedName(db).rfc4514;
    }),
    { numRuns: 2000 },
  );
  // Pairs of random names rarely come close: also names that differ in one character only.
  fc.assert(
    fc.property(names, fc.nat(), SPECIAL, (a, pick, c) => {
      if (a.length === 0) return true;
      const rdn = a[pick % a.length];
      const attr = rdn[pick % rdn.length];
      const b = a.map((r) => r.map((x) => (x === attr ? { ...x, value: x.value + c } : x)));
      return distinguishedName(nameDer(a)).rfc4514 !== distinguishedName(nameDer(b)).rfc4514;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
