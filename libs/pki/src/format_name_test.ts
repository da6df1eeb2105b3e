import test from "ava";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { X509Certificate as NodeX509 } from "node:crypto";
import { createCa } from "./create_ca.ts";
import { parseEkCertificate } from "./ek_certificate.ts";
import { PkiError } from "./errors.ts";
import { formatName } from "./format_name.ts";

const atv = (type: string, value: Partial<AttributeValue>): AttributeTypeAndValue => new AttributeTypeAndValue({ type, value: new AttributeValue(value) });
const rdn = (...atvs: AttributeTypeAndValue[]): RelativeDistinguishedName => new RelativeDistinguishedName(atvs);

test("values are escaped as RFC 4514 says: separators, quotes, a leading # or space, a trailing space", (t) => {
  const name = new Name([
    rdn(atv("2.5.4.6", { printableString: "US" })),
    rdn(atv("2.5.4.10", { utf8String: 'VMware, Inc. + "friends" <a\\b>; c' })),
    rdn(atv("2.5.4.11", { utf8String: "#hash" })),
    rdn(atv("2.5.4.11", { utf8String: " padded " })),
    rdn(atv("2.5.4.3", { utf8String: "Grüße" })),
  ]);
  t.is(formatName(name), 'C=US, O=VMware\\, Inc. \\+ \\"friends\\" \\<a\\\\b\\>\\; c, OU=\\#hash, OU=\\ padded\\ , CN=Grüße');
  // The DER of the same name reads the same.
  t.is(formatName(new Uint8Array(AsnConvert.serialize(name))), formatName(name));
});

test("a multi-valued RDN joins its attributes with +, and TPM attributes and other types are named by OID", (t) => {
  const name = new Name([
    rdn(
      atv("2.23.133.2.1", { utf8String: "id:53544D20" }),
      atv("2.23.133.2.2", { printableString: "ST33HTPHAHD8" }),
      atv("2.23.133.2.3", { utf8String: "id:00010102" }),
    ),
    rdn(atv("2.5.4.3", { printableString: "Nuvoton TPM Root CA 2110" }), atv("2.5.4.10", { printableString: "Nuvoton Technology Corporation" })),
  ]);
  t.is(
    formatName(name),
    "2.23.133.2.1=id:53544D20+2.23.133.2.2=ST33HTPHAHD8+2.23.133.2.3=id:00010102, CN=Nuvoton TPM Root CA 2110+O=Nuvoton Technology Corporation",
  );
});

test("a value that is not a string is # and its DER in hex; the empty name is empty", (t) => {
  const integer = new Uint8Array([0x02, 0x01, 0x2a]).buffer;
  t.is(formatName(new Name([rdn(atv("1.2.3.4", { anyValue: integer }))])), "1.2.3.4=#02012a");
  t.is(formatName(new Name([])), "");
});

test("bytes that are not a Name are a PKI_PARSE error", (t) => {
  for (const der of [new Uint8Array([0x30, 0x05, 0x31]), new Uint8Array([0x04, 0x00]), new Uint8Array(0)]) {
    const error = t.throws(() => formatName(der), { instanceOf: PkiError });
    t.is(error?.code, "PKI_PARSE");
  }
});

test("certificate subjects read through formatName: escaped, and what OpenSSL reads", async (t) => {
  const { certificatePem } = await createCa({ commonName: 'Example, Inc. "Root" + CA', organization: "Example; Org" });
  const parsed = parseEkCertificate(certificatePem);
  t.is(parsed.subject, 'O=Example\\; Org, CN=Example\\, Inc. \\"Root\\" \\+ CA');
  t.is(parsed.issuer, parsed.subject);
  // OpenSSL escapes the same characters (its multi-line form puts one RDN per line).
  t.is(new NodeX509(certificatePem).subject.split("\n").join(", "), parsed.subject);
});
