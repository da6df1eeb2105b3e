/** The wire encodings: the padded base64 check accepts exactly RFC 4648 §4 padded base64 (property test against its grammar). */
import test from "ava";
import fc from "fast-check";
import { base64Bytes } from "./wire.ts";

/** RFC 4648 §4 with padding, as a grammar (the previous implementation's regular expression). */
const GRAMMAR = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

test("property: base64Bytes accepts a string iff it is padded base64, and decodes what Buffer encodes", (t) => {
  // With characters Buffer's decoder skips ("-" and "_" it decodes as base64url's), and above U+007F: "Å" (a one-byte
  // string), "ń" (U+0144: a two-byte string, whose low byte is "D").
  const alphabet = fc.constantFrom(..."ABCxyz019+/=-_ \n*\u0000\u00c5\u0144".split(""));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 24 }), (chars) => {
      const s = chars.join("");
      return base64Bytes.safeParse(s).success === GRAMMAR.test(s);
    }),
    { numRuns: 50_000 },
  );
  // One character of a valid string replaced: a near miss is refused exactly where the grammar refuses it.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }), fc.nat(), alphabet, (bytes, i, c) => {
      const s = Buffer.from(bytes).toString("base64");
      const at = i % s.length;
      const t = s.slice(0, at) + c + s.slice(at + 1);
      return base64Bytes.safeParse(t).success === GRAMMAR.test(t);
    }),
    { numRuns: 50_000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const r = base64Bytes.safeParse(Buffer.from(bytes).toString("base64"));
      return r.success && Buffer.from(r.data).equals(Buffer.from(bytes));
    }),
  );
  t.false(base64Bytes.safeParse("QQ=").success);
  t.false(base64Bytes.safeParse("Q===").success);
  t.true(base64Bytes.safeParse("").success);
  t.false(base64Bytes.safeParse("QUJ\u0144").success, "U+0144 is not read as its low byte (D)");
  t.false(base64Bytes.safeParse("QQ-_").success, "base64url's characters are refused");
  t.false(base64Bytes.safeParse("QUJD QUJD").success);
  t.deepEqual(base64Bytes.safeParse("QR==").data, new Uint8Array([0x41]), "non-zero unused bits: decoded as Buffer does");
});
