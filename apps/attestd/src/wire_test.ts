/** The wire encodings: the padded base64 check accepts exactly RFC 4648 §4 padded base64 (property test against its grammar). */
import test from "ava";
import fc from "fast-check";
import { base64Bytes } from "./wire.ts";

/** RFC 4648 §4 with padding, as a grammar (the previous implementation's regular expression). */
const GRAMMAR = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

test("property: base64Bytes accepts a string iff it is padded base64, and decodes what Buffer encodes", (t) => {
  const alphabet = fc.constantFrom(..."ABCxyz019+/=-_ \n".split(""));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 24 }), (chars) => {
      const s = chars.join("");
      return base64Bytes.safeParse(s).success === GRAMMAR.test(s);
    }),
    { numRuns: 20_000 },
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
});
