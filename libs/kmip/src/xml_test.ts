// Tests of the KMIP XML encoding (xml.ts): every OASIS test case file (v1.4, v2.1 mandatory and optional)
// parses with its placeholders kept, each message goes through binary TTLV and back, toXml writes what the
// test cases write and re-parses to the same items; placeholders and their resolver; the tokenizer (entities,
// comments, quotes, declarations); unknown tags as <TTLV tag=…>; and malformed documents fail with a
// KmipDecodeError giving the element path and line:column — never another error.
import test from "ava";
import fc from "fast-check";
import assert from "node:assert/strict";
import { decodeError, int64, itemTree, REC, tagFor } from "./_test_support.ts";
import { readdirSync, readFileSync } from "node:fs";
import { KmipDecodeError } from "./errors.ts";
import { tagOf } from "./registry.ts";
import { ATTRIBUTE_NAMES } from "./registry_table.ts";
import { decodeTtlv, encodeTtlv, type Ttlv } from "./ttlv.ts";
import { parseXml, toXml, XML_PLACEHOLDER, type XmlItem } from "./xml.ts";
import { fixturesRoot } from "@tessera/fixtures";
const SHARED_FIXTURES = fixturesRoot();

/** The item without placeholders (their items keep the zero value of their type). */
function plain(x: XmlItem): Ttlv {
  if (x.type === 0x01) return { tag: x.tag, type: x.type, value: x.value.map(plain) };
  const { placeholder: _p, ...rest } = x;
  return rest;
}

function placeholders(x: XmlItem, out: string[] = []): string[] {
  if (x.placeholder !== undefined) out.push(x.placeholder);
  if (x.type === 0x01) for (const c of x.value) placeholders(c, out);
  return out;
}

const t = (name: string) => tagOf(name);
const ROOT = SHARED_FIXTURES + "/kmip-test-vectors";
const DIRS = ["v1.4", "v2.1/mandatory", "v2.1/optional"];
const FILES = DIRS.flatMap((d) =>
  readdirSync(`${ROOT}/${d}`)
    .filter((f) => f.endsWith(".xml"))
    .sort()
    .map((f) => ({ name: `${d}/${f}`, text: readFileSync(`${ROOT}/${d}/${f}`, "utf8") })),
);

// ——— The OASIS test cases ———

test("every OASIS test case file parses, placeholders kept, into alternating requests and responses", (t_) => {
  const counts: Record<string, { files: number; messages: number; placeholders: number }> = {};
  for (const { name, text } of FILES) {
    const items = parseXml(text);
    const c = (counts[name.slice(0, name.lastIndexOf("/"))] ??= { files: 0, messages: 0, placeholders: 0 });
    c.files++;
    c.messages += items.length;
    t_.true(items.length > 0, name);
    for (const [i, m] of items.entries()) {
      assert.equal(m.tag, i % 2 === 0 ? t("RequestMessage") : t("ResponseMessage"), `${name} message ${i}`);
      c.placeholders += placeholders(m).length;
    }
  }
  t_.log(JSON.stringify(counts));
  const total = Object.values(counts).reduce((a, c) => ({ files: a.files + c.files, messages: a.messages + c.messages }), { files: 0, messages: 0 });
  t_.log(`${total.files} files, ${total.messages} messages`);
  t_.is(total.files, 230);
  t_.true(total.messages >= 2900);
});

test("each test case message encodes to binary TTLV (placeholders as zero values) and decodes back equal", (t_) => {
  let bytes = 0;
  for (const { name, text } of FILES) {
    for (const m of parseXml(text)) {
      const b = encodeTtlv(m);
      bytes += b.length;
      assert.deepStrictEqual(decodeTtlv(b), plain(m), name);
    }
  }
  t_.log(`${bytes} bytes of TTLV`);
  t_.pass();
});

test("toXml(parseXml(x)) re-parses to the same items, placeholders included, for every test case", (t_) => {
  for (const { name, text } of FILES) {
    const items = parseXml(text);
    const doc = `<KMIP>\n${items.map((i) => toXml(i)).join("\n")}\n</KMIP>`;
    assert.deepStrictEqual(parseXml(doc), items, name);
    assert.deepStrictEqual(parseXml(items.map((i) => toXml(i, "")).join("")), items, name);
  }
  t_.pass();
});

/** Comparable form of a value text: instants for times, lower-case hex, mask words as a set. */
function norm(type: string, value: string): string {
  if (XML_PLACEHOLDER.test(value)) return value;
  if (type === "DateTime") return String(Date.parse(value));
  if (type === "ByteString" || type === "BigInteger") return value.toLowerCase();
  if (type === "Integer" && /[A-Za-z]/.test(value)) return value.split(/\s+/).sort().join(" ");
  return value;
}

test("toXml writes the test cases' own value texts (up to time zones, hex case and mask word order)", (t_) => {
  const leaf = /<(\w+)\s+type="(\w+)"\s+value="([^"]*)"\s*\/>/g;
  let n = 0;
  let verbatim = 0;
  for (const { name, text } of FILES) {
    const theirs = [...text.replace(/<!--[\s\S]*?-->/g, "").matchAll(leaf)];
    const ours = parseXml(text).flatMap((m) => [...toXml(m).matchAll(leaf)]);
    assert.equal(ours.length, theirs.length, name);
    for (let i = 0; i < ours.length; i++) {
      const [, tag, type, value] = ours[i];
      const [, tag2, type2, value2] = theirs[i];
      assert.deepEqual([tag, type, norm(type, value)], [tag2, type2, norm(type2, value2)], `${name}: ${theirs[i][0]}`);
      n++;
      if (value === value2) verbatim++;
    }
  }
  t_.log(`${n} values, ${verbatim} written verbatim`);
  t_.pass();
});

test("SKLC-M-1-14: the first request, with AttributeValue enumerations and masks by attribute name", (t_) => {
  const [req, resp] = parseXml(readFileSync(`${ROOT}/v1.4/SKLC-M-1-14.xml`, "utf8"));
  const attrs = (req as { value: XmlItem[] }).value[1] as { value: XmlItem[] };
  const payload = attrs.value[1] as { value: XmlItem[] };
  const template = payload.value[1] as { value: XmlItem[] };
  const values = template.value.map((a) => (a as { value: XmlItem[] }).value[1]);
  t_.deepEqual(values[0], { tag: t("AttributeValue"), type: 0x05, value: 3 }); // AES
  t_.deepEqual(values[1], { tag: t("AttributeValue"), type: 0x02, value: 256 });
  t_.deepEqual(values[2], { tag: t("AttributeValue"), type: 0x02, value: 12 }); // Encrypt Decrypt
  t_.deepEqual(placeholders(resp), ["$NOW", "$UNIQUE_IDENTIFIER_0"]);
  t_.regex(toXml(req), /<AttributeValue type="Integer" value="Encrypt Decrypt"\/>/);
});

// ——— Placeholders ———

test("placeholders are kept with zero values, or resolved by the hook given the tag and type names", (t_) => {
  const doc = `<ResponseHeader>
    <TimeStamp type="DateTime" value="$NOW-3600"/>
    <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
    <CorrelationValue type="ByteString" value="$CORRELATION_VALUE"/>
    <BatchCount type="Integer" value="$COUNT"/>
  </ResponseHeader>`;
  const [kept] = parseXml(doc);
  t_.deepEqual(kept, {
    tag: t("ResponseHeader"),
    type: 0x01,
    value: [
      { tag: t("TimeStamp"), type: 0x09, value: 0n, placeholder: "$NOW-3600" },
      { tag: t("UniqueIdentifier"), type: 0x07, value: "", placeholder: "$UNIQUE_IDENTIFIER_0" },
      { tag: t("CorrelationValue"), type: 0x08, value: new Uint8Array(0), placeholder: "$CORRELATION_VALUE" },
      { tag: t("BatchCount"), type: 0x02, value: 0, placeholder: "$COUNT" },
    ],
  });
  t_.deepEqual(parseXml(toXml(kept)), [kept]);
  const calls: string[][] = [];
  const [resolved] = parseXml(doc, (p, tag, type) => {
    calls.push([p, tag, type]);
    if (p === "$NOW-3600") return "2024-01-01T00:00:00Z";
    if (p === "$UNIQUE_IDENTIFIER_0") return "uid-1";
    if (p === "$COUNT") return "2";
    return undefined;
  });
  t_.deepEqual(calls, [
    ["$NOW-3600", "TimeStamp", "DateTime"],
    ["$UNIQUE_IDENTIFIER_0", "UniqueIdentifier", "TextString"],
    ["$CORRELATION_VALUE", "CorrelationValue", "ByteString"],
    ["$COUNT", "BatchCount", "Integer"],
  ]);
  t_.deepEqual((resolved as { value: XmlItem[] }).value, [
    { tag: t("TimeStamp"), type: 0x09, value: 1704067200n },
    { tag: t("UniqueIdentifier"), type: 0x07, value: "uid-1" },
    { tag: t("CorrelationValue"), type: 0x08, value: new Uint8Array(0), placeholder: "$CORRELATION_VALUE" },
    { tag: t("BatchCount"), type: 0x02, value: 2 },
  ]);
  // Options form; a resolved value that does not fit its type is an error at the element.
  const e = decodeError(() => parseXml(doc, { resolve: () => "soon" }));
  t_.regex(e.message, /^Cannot decode KMIP item ResponseHeader\/TimeStamp \(XML line 2:5\) at byte 21: "soon" is not an ISO 8601 date-time/);
  // Text that only looks like a placeholder is text.
  t_.deepEqual(parseXml('<UniqueIdentifier type="TextString" value="$ 5"/>'), [{ tag: t("UniqueIdentifier"), type: 0x07, value: "$ 5" }]);
});

// ——— Tokenizer ———

test("XML syntax: declaration, comments, BOM, single quotes, entities, whitespace, CRLF, empty elements", (t_) => {
  const doc =
    '\ufeff<?xml version="1.0" encoding="UTF-8"?>\r\n<!-- a -- comment -->\r\n<KMIP>\r\n' +
    "<RequestHeader >\r\n  <!--x-->\n  <UniqueIdentifier\n\ttype='TextString'   value = \"a&amp;b&lt;&gt;&quot;&apos;&#65;&#x1F600;\tc\"/>\n" +
    "  <ProtocolVersion></ProtocolVersion>\n  <Authentication/>\n</RequestHeader\n>\r\n</KMIP>\n";
  t_.deepEqual(parseXml(doc), [
    {
      tag: t("RequestHeader"),
      type: 0x01,
      value: [
        { tag: t("UniqueIdentifier"), type: 0x07, value: "a&b<>\"'A\u{1f600} c" },
        { tag: t("ProtocolVersion"), type: 0x01, value: [] },
        { tag: t("Authentication"), type: 0x01, value: [] },
      ],
    },
  ]);
  // Several top-level items without a wrapper; text inside elements is skipped (as the notes in TC-DERIVEKEY-1-10).
  t_.is(parseXml('<BatchCount type="Integer" value="1"/>\n<BatchCount type="Integer" value="2"/>').length, 2);
  t_.is(parseXml('<KMIP># note\n<BatchCount type="Integer" value="1"/> more notes <BatchCount type="Integer" value="2"/></KMIP>').length, 2);
  t_.deepEqual(parseXml(""), []);
  t_.deepEqual(parseXml("<KMIP/>"), []);
});

test("toXml escapes what attributes cannot hold, and every character survives", (t_) => {
  const s = "<a href=\"x\">&amp; 'q'\t\n\r\u0000\u0001\u007f é \u{1f600}</a>";
  const item: Ttlv = { tag: t("UniqueIdentifier"), type: 0x07, value: s };
  const x = toXml(item);
  t_.is(x, '<UniqueIdentifier type="TextString" value="&lt;a href=&quot;x&quot;&gt;&amp;amp; \'q\'&#9;&#10;&#13;&#0;&#1;\u007f é \u{1f600}&lt;/a&gt;"/>');
  t_.deepEqual(parseXml(x), [item]);
});

test("unknown and extension tags are written and read as <TTLV tag=…>", (t_) => {
  const item: Ttlv = {
    tag: 0x540001,
    type: 0x01,
    value: [
      { tag: 0x540002, type: 0x02, value: 7 },
      { tag: 0x42ffff, type: 0x05, value: 9 },
    ],
  };
  const x = toXml(item);
  t_.is(x, '<TTLV tag="0x540001">\n  <TTLV tag="0x540002" type="Integer" value="7"/>\n  <TTLV tag="0x42ffff" type="Enumeration" value="0x00000009"/>\n</TTLV>');
  t_.deepEqual(parseXml(x), [item]);
  t_.deepEqual(parseXml('<TTLV tag="BatchCount" type="Integer" value="3"/>'), [{ tag: t("BatchCount"), type: 0x02, value: 3 }]);
});

test("value texts: the forms written, and the alternatives read", (t_) => {
  const one = (tag: string, type: string, value: string) => parseXml(`<${tag} type="${type}" value="${value}"/>`)[0];
  t_.deepEqual(one("BatchCount", "Integer", "-5"), { tag: t("BatchCount"), type: 0x02, value: -5 });
  t_.deepEqual(one("BatchCount", "Integer", "0x0000000A"), { tag: t("BatchCount"), type: 0x02, value: 10 });
  t_.deepEqual(one("CryptographicUsageMask", "Integer", "Sign|Verify 0x00000004"), { tag: t("CryptographicUsageMask"), type: 0x02, value: 7 });
  t_.deepEqual(one("CryptographicUsageMask", "Integer", "12"), { tag: t("CryptographicUsageMask"), type: 0x02, value: 12 });
  t_.deepEqual(one("UsageLimitsTotal", "LongInteger", "-9223372036854775808"), { tag: t("UsageLimitsTotal"), type: 0x03, value: -(2n ** 63n) });
  t_.deepEqual(one("Modulus", "BigInteger", "ffffffffffffff01"), { tag: t("Modulus"), type: 0x04, value: -255n });
  t_.deepEqual(one("Modulus", "BigInteger", "0x00ff"), { tag: t("Modulus"), type: 0x04, value: 255n });
  t_.deepEqual(one("ObjectType", "Enumeration", "0x00000002"), { tag: t("ObjectType"), type: 0x05, value: 2 });
  t_.deepEqual(one("InitIndicator", "Boolean", "1"), { tag: t("InitIndicator"), type: 0x06, value: true });
  t_.deepEqual(one("ActivationDate", "DateTime", "2000-02-01T00:00:00+10:00"), { tag: t("ActivationDate"), type: 0x09, value: 949327200n });
  t_.deepEqual(one("LeaseTime", "Interval", "3600"), { tag: t("LeaseTime"), type: 0x0a, value: 3600 });
  t_.deepEqual(one("CompromiseDate", "DateTimeExtended", "1970-01-01T00:00:00.000001Z"), { tag: t("CompromiseDate"), type: 0x0b, value: 1n });
  const w = (item: Ttlv) => /value="([^"]*)"/.exec(toXml(item))?.[1];
  t_.is(w({ tag: t("UsageLimitsTotal"), type: 0x03, value: -(2n ** 63n) }), "-9223372036854775808");
  t_.is(w({ tag: t("Modulus"), type: 0x04, value: -255n }), "ffffffffffffff01");
  t_.is(w({ tag: t("CryptographicUsageMask"), type: 0x02, value: 0 }), "0");
  t_.is(w({ tag: t("ActivationDate"), type: 0x09, value: 949327200n }), "2000-01-31T14:00:00Z");
  t_.is(w({ tag: t("CompromiseDate"), type: 0x0b, value: -1n }), "1969-12-31T23:59:59.999999Z");
  t_.is(w({ tag: t("ActivationDate"), type: 0x09, value: 2n ** 62n }), "0x4000000000000000");
});

// ——— Errors ———

test("malformed documents fail with the element path and line:column", (t_) => {
  const cases: [string, string][] = [
    [
      "<KMIP>\n  <RequestMessage>\n</KMIP>",
      "Cannot decode KMIP item KMIP/RequestMessage (XML line 3:1) at byte 26: </KMIP> does not close <RequestMessage> opened at 2:3",
    ],
    ["<KMIP>\n  <RequestMessage>", "Cannot decode KMIP item KMIP/RequestMessage (XML line 2:19) at byte 25: <RequestMessage> opened at 2:3 is not closed"],
    ["</KMIP>", "Cannot decode KMIP item (XML document) (XML line 1:1) at byte 0: </KMIP> closes nothing"],
    ['<A>\n <B value="x&y"/></A>', 'Cannot decode KMIP item A (XML line 2:13) at byte 16: "&" must start an entity such as &amp;'],
    ['<A>\n <B value="&nbsp;"/></A>', "Cannot decode KMIP item A (XML line 2:12) at byte 15: unknown or invalid entity &nbsp;"],
    ['<A value="&#x110000;"/>', "Cannot decode KMIP item (XML document) (XML line 1:11) at byte 10: unknown or invalid entity &#x110000;"],
    ['<A value="&#xD800;"/>', "Cannot decode KMIP item (XML document) (XML line 1:11) at byte 10: unknown or invalid entity &#xD800;"],
    ["<A value=x/>", "Cannot decode KMIP item (XML document) (XML line 1:10) at byte 9: attribute value value must be quoted"],
    ['<A type="a" type="b"/>', "Cannot decode KMIP item (XML document) (XML line 1:13) at byte 12: duplicate attribute type"],
    ['<A type="a<b"/>', 'Cannot decode KMIP item (XML document) (XML line 1:11) at byte 10: "<" in the value of attribute type'],
    ['<A type="a"value="b"/>', 'Cannot decode KMIP item (XML document) (XML line 1:12) at byte 11: expected whitespace, ">" or "/>" in <A>'],
    ["<A", "Cannot decode KMIP item (XML document) (XML line 1:1) at byte 0: unterminated start tag <A>"],
    ['<A type="x', "Cannot decode KMIP item (XML document) (XML line 1:4) at byte 3: unterminated value of attribute type"],
    ["<!-- x", "Cannot decode KMIP item (XML document) (XML line 1:1) at byte 0: unterminated comment"],
    ["<!DOCTYPE x>", "Cannot decode KMIP item (XML document) (XML line 1:1) at byte 0: DOCTYPE declarations and CDATA sections are not supported"],
    ["<1/>", "Cannot decode KMIP item (XML document) (XML line 1:1) at byte 0: expected a name at 1:2"],
    ["<A/>x", "Cannot decode KMIP item (XML document) (XML line 1:5) at byte 4: text outside the elements"],
    ["x\n<A/>", "Cannot decode KMIP item (XML document) (XML line 1:1) at byte 0: text outside the elements"],
  ];
  for (const [doc, message] of cases) t_.is(decodeError(() => parseXml(doc)).message, message, doc);
});

test("bad items fail at their element, with the element path and line:column", (t_) => {
  const wrap = (inner: string) => `<KMIP>\n<RequestMessage>\n  <BatchItem>\n    ${inner}\n  </BatchItem>\n</RequestMessage>\n</KMIP>`;
  const cases: [string, RegExp][] = [
    ['<Operation type="Enumeration" value="Frobnicate"/>', /"Frobnicate" is not a member of the enumeration Operation$/],
    ['<Operashun type="Enumeration" value="Create"/>', /"Operashun" is not a KMIP tag name$/],
    ['<Operation type="Enum" value="Create"/>', /"Enum" is not a TTLV type name$/],
    ['<Operation type="Enumeration"/>', /a Enumeration needs a value attribute$/],
    ['<Operation type="Enumeration" value="Create" extra="1"/>', /unexpected attribute extra/],
    ['<Operation type="Enumeration" value="Create"><X/></Operation>', /a Enumeration has no child elements$/],
    ['<RequestPayload value="1"/>', /a Structure has no value attribute$/],
    ['<TTLV type="Integer" value="1"/>', /<TTLV> needs a tag attribute/],
    ['<TTLV tag="0x990001" type="Integer" value="1"/>', /outside the KMIP/],
    ['<BatchCount type="Integer" value="1.5"/>', /"1.5" is not an Integer/],
    ['<BatchCount type="Integer" value="2147483648"/>', /is not a 32-bit Integer/],
    ['<CryptographicUsageMask type="Integer" value="Encrypt Fly"/>', /"Fly" is not a bit of the mask CryptographicUsageMask/],
    ['<InitIndicator type="Boolean" value="yes"/>', /not a Boolean/],
    ['<KeyMaterial type="ByteString" value="0g"/>', /not a ByteString/],
    ['<Modulus type="BigInteger" value=""/>', /not a BigInteger/],
    ['<UsageLimitsTotal type="LongInteger" value="9223372036854775808"/>', /not a 64-bit LongInteger/],
    ['<LeaseTime type="Interval" value="-1"/>', /not an Interval/],
    ['<ActivationDate type="DateTime" value="2000-13-01T00:00:00Z"/>', /not a valid date-time/],
  ];
  for (const [inner, re] of cases) {
    const e = decodeError(() => parseXml(wrap(inner)));
    t_.regex(e.message, /^Cannot decode KMIP item RequestMessage\/BatchItem\/\w+ \(XML line 4:5\) at byte 42: /, inner);
    t_.regex(e.message, re, inner);
  }
});

test("nesting is limited", (t_) => {
  const deep = "<BatchItem>".repeat(100_000) + "</BatchItem>".repeat(100_000);
  t_.regex(decodeError(() => parseXml(deep)).message, /elements nested deeper than 64$/);
  t_.is(parseXml("<BatchItem>".repeat(10) + "</BatchItem>".repeat(10), { maxDepth: 10 }).length, 1);
  t_.regex(decodeError(() => parseXml("<BatchItem>".repeat(11) + "</BatchItem>".repeat(11), { maxDepth: 10 })).message, /deeper than 10/);
});

/** Parses and lets only KmipDecodeError through. */
function parseOrError(text: string): void {
  try {
    parseXml(text);
  } catch (e) {
    if (!(e instanceof KmipDecodeError)) throw new assert.AssertionError({ message: `parseXml threw ${String(e)} for ${JSON.stringify(text.slice(0, 300))}` });
  }
}

test("parseXml never throws anything but KmipDecodeError: random text, and mutated test cases", (t_) => {
  const alphabet = fc.constantFrom(
    ..."<>/=\"'&;#x! -?KMIPTLVtagypevlu0123456789abcdef$\n".split(""),
    "<!--",
    "-->",
    "&amp;",
    "&#x",
    "type=",
    "value=",
    "<BatchCount",
    "<TTLV",
  );
  fc.assert(fc.property(fc.string({ unit: alphabet, maxLength: 80 }), parseOrError), { numRuns: 5000 });
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 80 }), parseOrError), { numRuns: 2000 });
  const sources = FILES.filter((_, i) => i % 10 === 0).map((f) => f.text);
  fc.assert(
    fc.property(
      fc.constantFrom(...sources),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.string({ unit: alphabet, maxLength: 6 })), { minLength: 1, maxLength: 3 }),
      (src, edits) => {
        let s = src;
        for (const [at, del, ins] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + ins + s.slice(i + del);
        }
        parseOrError(s);
      },
    ),
    { numRuns: 2000 },
  );
  t_.pass();
});

// ——— Round trips of arbitrary items ———

const leafArb: fc.Arbitrary<XmlItem> = fc.oneof(
  fc.record({ tag: tagFor("Integer"), type: fc.constant(0x02 as const), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }, REC),
  fc.record({ tag: tagFor("LongInteger"), type: fc.constant(0x03 as const), value: int64 }, REC),
  fc.record({ tag: tagFor("BigInteger"), type: fc.constant(0x04 as const), value: fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n }) }, REC),
  fc.record({ tag: tagFor("Enumeration"), type: fc.constant(0x05 as const), value: fc.integer({ min: 0, max: 0xffffffff }) }, REC),
  fc.record({ tag: tagFor("Boolean"), type: fc.constant(0x06 as const), value: fc.boolean() }, REC),
  fc.record({ tag: tagFor("TextString"), type: fc.constant(0x07 as const), value: fc.string({ unit: "binary", maxLength: 30 }) }, REC),
  fc.record({ tag: tagFor("ByteString"), type: fc.constant(0x08 as const), value: fc.uint8Array({ maxLength: 30 }) }, REC),
  fc.record({ tag: tagFor("DateTime"), type: fc.constant(0x09 as const), value: int64 }, REC),
  fc.record({ tag: tagFor("Interval"), type: fc.constant(0x0a as const), value: fc.integer({ min: 0, max: 0xffffffff }) }, REC),
  fc.record({ tag: tagFor("DateTimeExtended"), type: fc.constant(0x0b as const), value: int64 }, REC),
  fc.record(
    {
      tag: tagFor("TextString"),
      type: fc.constant(0x07 as const),
      value: fc.constant(""),
      placeholder: fc.constantFrom("$NOW", "$UNIQUE_IDENTIFIER_3", "$NOW-3600"),
    },
    REC,
  ),
);

const attributeArb: fc.Arbitrary<XmlItem> = fc
  .tuple(
    fc.constantFrom(...ATTRIBUTE_NAMES.map(([text]) => text), "x-Custom"),
    fc.integer({ min: 0, max: 0xffff }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  )
  .map(([name, e, i]): XmlItem => ({
    tag: t("Attribute"),
    type: 0x01,
    value: [
      { tag: t("AttributeName"), type: 0x07, value: name },
      e % 2 ? { tag: t("AttributeValue"), type: 0x05, value: e } : { tag: t("AttributeValue"), type: 0x02, value: i },
    ],
  }));

test("toXml → parseXml gives any item back (every type, registry and unknown tags, attributes, placeholders)", (t_) => {
  fc.assert(
    fc.property(itemTree(leafArb, attributeArb, 5), fc.constantFrom("  ", "", "\t"), (item, indent) => {
      assert.deepStrictEqual(parseXml(toXml(item, indent)), [item]);
    }),
    { numRuns: 3000 },
  );
  t_.pass();
});
