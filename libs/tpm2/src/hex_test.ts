import test from "ava";
import fc from "fast-check";
import { fromHex, toHex } from "./hex.ts";

test("toHex is lower-case and fromHex reverses it (property)", (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => toHex(fromHex(toHex(b))) === Buffer.from(b).toString("hex")));
  t.is(toHex(new Uint8Array([0, 0xab, 0xff])), "00abff");
});

test("fromHex accepts 0x, upper case and whitespace, and rejects the rest", (t) => {
  t.deepEqual(fromHex("0xAB cd\n01"), new Uint8Array([0xab, 0xcd, 0x01]));
  t.deepEqual(fromHex(""), new Uint8Array());
  t.throws(() => fromHex("abc"), { instanceOf: RangeError, message: '"abc" is not an even-length hex string' });
  t.throws(() => fromHex("zz"), { instanceOf: RangeError });
  t.throws(() => fromHex("0x" + "g".repeat(60)), { instanceOf: RangeError, message: /…" is not an even-length hex string$/ });
});
