// Tests of the generic codec (schema.ts): every combinator both ways, and the exact wording of the
// errors — structure, field path and byte offset — for truncated, oversized, over-long, unknown-selector
// and trailing-byte input, and for values that do not fit.
import test from "ava";
import fc from "fast-check";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { TPM_ALG, TPM_ST } from "./constants.ts";
import { TpmDecodeError, TpmEncodeError } from "./errors.ts";
import { fromHex, toHex } from "./hex.ts";
import {
  alias,
  type Codec,
  decodeFault,
  decoding,
  empty,
  fixed,
  i32,
  list,
  marshal,
  reader,
  sized,
  sized8,
  sizedUtf8,
  sizedStruct,
  struct,
  u16,
  u32,
  u64,
  u8,
  union,
  unmarshal,
  unmarshalAt,
  writer,
  type Writer,
  written,
} from "./schema.ts";
import {
  TPM2B_DIGEST,
  TPM2B_ECC_POINT,
  TPM2B_PUBLIC,
  TPML_PCR_SELECTION,
  TPMS_ATTEST,
  TPMS_CLOCK_INFO,
  TPMT_PUBLIC,
  TPMT_SYM_DEF,
  TPMT_SYM_DEF_OBJECT,
  type TpmsAttest,
  type TpmsRsaParms,
  type TpmtPublic,
} from "./structures.ts";
import { akTemplate } from "./templates.ts";

/** Asserts `fn` throws a TpmDecodeError and returns it. */
function decodeError(fn: () => unknown): TpmDecodeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TpmDecodeError) return e;
    throw new assert.AssertionError({ message: `expected a TpmDecodeError, got ${String(e)}` });
  }
  throw new assert.AssertionError({ message: "expected a TpmDecodeError, nothing was thrown" });
}

/** Asserts `fn` throws a TpmEncodeError and returns it. */
function encodeError(fn: () => unknown): TpmEncodeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TpmEncodeError) return e;
    throw new assert.AssertionError({ message: `expected a TpmEncodeError, got ${String(e)}` });
  }
  throw new assert.AssertionError({ message: "expected a TpmEncodeError, nothing was thrown" });
}

const RSA_AK: TpmtPublic = akTemplate("rsa");
const RSA_AK_BYTES = marshal(TPMT_PUBLIC, RSA_AK);

// ---------------------------------------------------------------------------------------------
// Integers

test("u8/u16/u32/u64 are big-endian both ways", (t) => {
  t.is(toHex(marshal(u8, 0xab)), "ab");
  t.is(toHex(marshal(u16, 0x1234)), "1234");
  t.is(toHex(marshal(u32, 0x80000001)), "80000001");
  t.is(toHex(marshal(u64, 0x0102030405060708n)), "0102030405060708");
  t.is(unmarshal(u8, fromHex("ff")), 255);
  t.is(unmarshal(u16, fromHex("ffff")), 0xffff);
  t.is(unmarshal(u32, fromHex("ffffffff")), 0xffffffff);
  t.is(unmarshal(u64, fromHex("ffffffffffffffff")), 0xffffffffffffffffn);
  t.is(unmarshal(u64, fromHex("0000000000000001")), 1n);
});

test("i32 is two's complement big-endian", (t) => {
  t.is(toHex(marshal(i32, -1)), "ffffffff");
  t.is(toHex(marshal(i32, -0x80000000)), "80000000");
  t.is(toHex(marshal(i32, 0x7fffffff)), "7fffffff");
  t.is(unmarshal(i32, fromHex("ffffff9c")), -100);
  t.is(unmarshal(i32, fromHex("80000000")), -0x80000000);
});

test("integers round-trip over their whole range (property)", (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xff }), (v) => unmarshal(u8, marshal(u8, v)) === v));
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), (v) => unmarshal(u16, marshal(u16, v)) === v));
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => unmarshal(u32, marshal(u32, v)) === v));
  fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (v) => unmarshal(i32, marshal(i32, v)) === v));
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }), (v) => unmarshal(u64, marshal(u64, v)) === v));
  fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (b) => toHex(marshal(u64, unmarshal(u64, b))) === toHex(b)));
  t.pass();
});

test("integers out of range are TpmEncodeErrors naming the type", (t) => {
  for (const v of [-1, 256, 1.5, Number.NaN, Infinity]) {
    t.is(encodeError(() => marshal(u8, v)).message, `Cannot encode UINT8: ${String(v)} is not an integer in 0..255`);
  }
  t.is(encodeError(() => marshal(u16, 0x10000)).message, "Cannot encode UINT16: 65536 is not an integer in 0..65535");
  t.is(encodeError(() => marshal(u32, 2 ** 32)).message, "Cannot encode UINT32: 4294967296 is not an integer in 0..4294967295");
  t.is(encodeError(() => marshal(u32, -1)).path, "UINT32");
  t.is(encodeError(() => marshal(i32, 0x80000000)).message, "Cannot encode INT32: 2147483648 is out of range");
  t.is(encodeError(() => marshal(i32, -0x80000001)).path, "INT32");
  t.is(encodeError(() => marshal(u64, 2n ** 64n)).path, "UINT64");
  t.is(encodeError(() => marshal(u64, -1n)).path, "UINT64");
  // A number where a bigint belongs is a schema mismatch, not a silent conversion.
  t.is(encodeError(() => marshal(u64, 1 as unknown as bigint)).message, "Cannot encode UINT64: 1 is not a bigint in range");
  const e = encodeError(() => marshal(u8, 300));
  t.is(e.code, "TPM2_ENCODE");
  t.is(e.name, "TpmEncodeError");
  t.true(e instanceof Error);
});

test("truncated integers are TpmDecodeErrors with offset and remaining count", (t) => {
  const e = decodeError(() => unmarshal(u32, fromHex("000102")));
  t.is(e.message, "Cannot decode UINT32 at byte 0: UINT32 needs 4 bytes, 3 remaining");
  t.is(e.code, "TPM2_DECODE");
  t.is(e.name, "TpmDecodeError");
  t.is(e.structure, "UINT32");
  t.is(e.field, "");
  t.is(e.offset, 0);
  t.is(e.reason, "UINT32 needs 4 bytes, 3 remaining");
  t.is(decodeError(() => unmarshal(u8, new Uint8Array())).message, "Cannot decode UINT8 at byte 0: UINT8 needs 1 bytes, 0 remaining");
  t.is(decodeError(() => unmarshal(u64, new Uint8Array(7))).reason, "UINT64 needs 8 bytes, 7 remaining");
  t.is(decodeError(() => unmarshal(i32, new Uint8Array(2))).reason, "INT32 needs 4 bytes, 2 remaining");
});

// ---------------------------------------------------------------------------------------------
// Byte arrays: fixed, sized (TPM2B), sized8

test("fixed codes exactly its length both ways", (t) => {
  const F = fixed("F4", 4);
  t.is(toHex(marshal(F, fromHex("01020304"))), "01020304");
  t.deepEqual(unmarshal(F, fromHex("01020304")), fromHex("01020304"));
  t.is(encodeError(() => marshal(F, fromHex("010203"))).message, "Cannot encode F4: must be 4 bytes, got 3");
  t.is(decodeError(() => unmarshal(F, fromHex("010203"))).message, "Cannot decode F4 at byte 0: F4 needs 4 bytes, 3 remaining");
  t.deepEqual(unmarshal(fixed("F0", 0), new Uint8Array()), new Uint8Array());
});

test("byte fields read as copies by default, as views of the input with { view: true } (same bytes, same checks)", (t) => {
  const input = fromHex("0003aabbcc01020304");
  for (const view of [false, true]) {
    const S = struct("S", { d: sized("D", 8, { view }), f: fixed("F", 4, { view }) });
    const v = unmarshal(S, input);
    t.is(toHex(v.d), "aabbcc");
    t.is(toHex(v.f), "01020304");
    t.is(v.d.buffer === input.buffer, view, `sized, view ${view}`);
    t.is(v.f.buffer === input.buffer, view, `fixed, view ${view}`);
    t.is(Object.getPrototypeOf(v.d), Uint8Array.prototype, "a plain Uint8Array either way");
    t.is(decodeError(() => unmarshal(sized("D", 2, { view }), fromHex("0003aabbcc"))).message, "Cannot decode D at byte 0: size 3 exceeds the maximum of 2");
    t.is(decodeError(() => unmarshal(fixed("F", 4, { view }), fromHex("0102"))).message, "Cannot decode F at byte 0: F needs 4 bytes, 2 remaining");
    t.is(toHex(unmarshal(sized8("E", 4, { view }), fromHex("02eeff"))), "eeff");
  }
});

test("sized (TPM2B) is a UINT16 size then the bytes, both ways", (t) => {
  t.is(toHex(marshal(TPM2B_DIGEST, fromHex("aabbcc"))), "0003aabbcc");
  t.is(toHex(marshal(TPM2B_DIGEST, new Uint8Array())), "0000");
  t.deepEqual(unmarshal(TPM2B_DIGEST, fromHex("0003aabbcc")), fromHex("aabbcc"));
  t.deepEqual(unmarshal(TPM2B_DIGEST, fromHex("0000")), new Uint8Array());
  const max = new Uint8Array(64).fill(7);
  t.deepEqual(unmarshal(TPM2B_DIGEST, marshal(TPM2B_DIGEST, max)), max);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const enc = marshal(TPM2B_DIGEST, b);
      assert.equal(enc.length, b.length + 2);
      assert.deepEqual(unmarshal(TPM2B_DIGEST, enc), b);
    }),
  );
});

test("a TPM2B size beyond the remaining bytes names structure, offset, size and what remains", (t) => {
  const bytes = new Uint8Array(2 + 34);
  bytes[1] = 48;
  const e = decodeError(() => unmarshal(TPM2B_DIGEST, bytes));
  t.is(e.message, "Cannot decode TPM2B_DIGEST at byte 0: size 48 exceeds 34 remaining");
  t.is(e.offset, 0);
  t.is(e.structure, "TPM2B_DIGEST");
  // Nested: the offset is that of the size field inside the outer structure.
  const attest = fromHex("ff544347" + "8018" + "0000" + "0010" + "aa".repeat(3));
  const e2 = decodeError(() => unmarshal(TPMS_ATTEST, attest));
  t.is(e2.message, "Cannot decode TPMS_ATTEST.extraData at byte 8: size 16 exceeds 3 remaining");
  t.is(e2.field, "extraData");
});

test("a TPM2B size above the structure's maximum is refused before reading", (t) => {
  // 65 bytes are present, but TPM2B_DIGEST holds at most sizeof(TPMU_HA) = 64.
  const bytes = new Uint8Array(2 + 65);
  bytes[1] = 65;
  t.is(decodeError(() => unmarshal(TPM2B_DIGEST, bytes)).message, "Cannot decode TPM2B_DIGEST at byte 0: size 65 exceeds the maximum of 64");
  // A huge size with nothing behind it reports the maximum, not an allocation.
  t.is(decodeError(() => unmarshal(TPM2B_DIGEST, fromHex("ffff"))).reason, "size 65535 exceeds the maximum of 64");
  t.is(decodeError(() => unmarshal(TPM2B_DIGEST, fromHex("00"))).reason, "TPM2B_DIGEST size needs 2 bytes, 1 remaining");
});

test("too-long buffers and non-buffers are TpmEncodeErrors", (t) => {
  t.is(encodeError(() => marshal(TPM2B_DIGEST, new Uint8Array(65))).message, "Cannot encode TPM2B_DIGEST: 65 bytes exceed the maximum of 64");
  t.is(encodeError(() => marshal(TPM2B_DIGEST, [1, 2] as unknown as Uint8Array)).message, "Cannot encode TPM2B_DIGEST: value is not a Uint8Array");
  t.is(encodeError(() => marshal(TPM2B_DIGEST, "ab" as unknown as Uint8Array)).path, "TPM2B_DIGEST");
});

test("sized8 is a UINT8 size then the bytes", (t) => {
  const S8 = sized8("S8", 4);
  t.is(toHex(marshal(S8, fromHex("0102"))), "020102");
  t.deepEqual(unmarshal(S8, fromHex("03aabbcc")), fromHex("aabbcc"));
  t.is(decodeError(() => unmarshal(S8, fromHex("05" + "00".repeat(5)))).message, "Cannot decode S8 at byte 0: size 5 exceeds the maximum of 4");
  t.is(decodeError(() => unmarshal(S8, fromHex("0300"))).message, "Cannot decode S8 at byte 0: size 3 exceeds 1 remaining");
  t.is(encodeError(() => marshal(S8, new Uint8Array(5))).message, "Cannot encode S8: 5 bytes exceed the maximum of 4");
});

test("sizedUtf8 is a UINT16 size then UTF-8, both ways; not UTF-8, too long or cut short is refused at its size field", (t) => {
  const S = sizedUtf8("NAME", 8);
  t.is(toHex(marshal(S, "ab")), "00026162");
  t.is(toHex(marshal(S, "")), "0000");
  t.is(toHex(marshal(S, "é€")), "0005c3a9e282ac");
  t.is(unmarshal(S, fromHex("0005c3a9e282ac")), "é€");
  t.is(unmarshal(S, fromHex("0000")), "");
  t.is(unmarshal(S, fromHex("0003efbbbf")), "\ufeff", "a byte-order mark is a character, not dropped");
  // The limit is in bytes, not characters: four 3-byte characters are 12 bytes.
  t.is(encodeError(() => marshal(S, "€€€€")).message, "Cannot encode NAME: 12 bytes of UTF-8 exceed the maximum of 8");
  t.is(encodeError(() => marshal(S, 7 as unknown as string)).message, "Cannot encode NAME: value is not a string");
  const inStruct = struct("S", { a: u8, name: S });
  t.is(decodeError(() => unmarshal(inStruct, fromHex("01" + "0002c328"))).message, "Cannot decode S.name at byte 1: is not UTF-8");
  t.is(decodeError(() => unmarshal(inStruct, fromHex("01" + "0009" + "61".repeat(9)))).message, "Cannot decode S.name at byte 1: size 9 exceeds the maximum of 8");
  t.is(decodeError(() => unmarshal(inStruct, fromHex("01" + "0003" + "6161"))).message, "Cannot decode S.name at byte 1: size 3 exceeds 2 remaining");
  t.is(decodeError(() => unmarshal(inStruct, fromHex("01" + "00"))).message, "Cannot decode S.name at byte 1: NAME size needs 2 bytes, 1 remaining");
  // A writer of the exact size is not grown for ASCII; for anything else it grows as needed.
  const exact = new Uint8Array(5);
  const w: Writer = { buf: exact, view: new DataView(exact.buffer), pos: 0 };
  S.write(w, "abc");
  t.is(w.buf, exact);
  t.is(toHex(w.buf), "0003616263");
  const small = writer(1);
  S.write(small, "aé");
  t.is(toHex(written(small)), "000361c3a9");
  // The last short string kept with its bytes: changed input bytes (a Buffer, whose slice would be a view) and
  // alternating strings are each decoded anew.
  const K = sizedUtf8("K", 64);
  const input = Buffer.from("0003616263", "hex");
  t.is(unmarshal(K, input), "abc");
  input[4] = 0x64;
  t.is(unmarshal(K, input), "abd");
  t.is(unmarshal(K, fromHex("0003616263")), "abc");
  t.is(unmarshal(K, fromHex("0003616264")), "abd");
  t.is(unmarshal(K, fromHex("0000")), "");
  fc.assert(
    fc.property(fc.array(fc.constantFrom("a", "b", "é", "", "ab", "ba"), { maxLength: 20 }), (xs) => {
      for (const x of xs) assert.equal(unmarshal(K, marshal(K, x)), x);
    }),
  );
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (s) => {
      const L = sizedUtf8("L", 1024);
      const enc = marshal(L, s);
      assert.deepEqual(enc.subarray(2), new TextEncoder().encode(s));
      assert.equal(unmarshal(L, enc), s);
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      const L = sizedUtf8("L", 1024);
      const bytes = new Uint8Array([0, b.length, ...b]);
      let expected: string | undefined;
      try {
        expected = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(b);
      } catch {
        expected = undefined;
      }
      if (expected === undefined) assert.equal(decodeError(() => unmarshal(L, bytes)).reason, "is not UTF-8");
      else assert.equal(unmarshal(L, bytes), expected);
    }),
  );
});

test("decoded byte fields are copies, not views of the input", (t) => {
  const input = fromHex("0002aabb");
  const v = unmarshal(TPM2B_DIGEST, input);
  input[2] = 0;
  t.deepEqual(v, fromHex("aabb"));
});

// Node Buffers are what fs, sockets and child processes hand out. `Buffer.prototype.slice` does not copy,
// so reading through `r.buf.slice` returns a Buffer that aliases the caller's memory.
test("decoded byte fields are plain Uint8Array copies even when the input is a Node Buffer", (t) => {
  const input = Buffer.from("0002aabb", "hex");
  const v = unmarshal(TPM2B_DIGEST, input);
  input[2] = 0;
  t.is(toHex(v), "aabb", "mutating the input Buffer after decoding changed the decoded value");
  t.is(Object.getPrototypeOf(v), Uint8Array.prototype, "decoded value is a Buffer, not a Uint8Array");
});

test("a reader over a subarray decodes relative to the subarray", (t) => {
  const backing = fromHex("ffffffff" + "0002aabb" + "eeee");
  const view = backing.subarray(4, 8);
  t.deepEqual(unmarshal(TPM2B_DIGEST, view), fromHex("aabb"));
  t.is(unmarshal(u16, backing.subarray(5, 7)), 0x02aa);
});

// ---------------------------------------------------------------------------------------------
// sizedStruct

test("sizedStruct is a UINT16 size then exactly one structure, both ways", (t) => {
  const point = { x: fromHex("0102"), y: fromHex("030405") };
  const enc = marshal(TPM2B_ECC_POINT, point);
  t.is(toHex(enc), "0009" + "00020102" + "0003030405");
  t.deepEqual(unmarshal(TPM2B_ECC_POINT, enc), point);
  const pub = marshal(TPM2B_PUBLIC, RSA_AK);
  t.is(pub.length, RSA_AK_BYTES.length + 2);
  t.is((pub[0] << 8) | pub[1], RSA_AK_BYTES.length);
  t.deepEqual(unmarshal(TPM2B_PUBLIC, pub), RSA_AK);
});

test("sizedStruct: size larger than the structure leaves bytes inside it", (t) => {
  const e = decodeError(() => unmarshal(TPM2B_ECC_POINT, fromHex("0006" + "0000" + "0000" + "abcd")));
  t.is(e.message, "Cannot decode TPM2B_ECC_POINT at byte 6: 2 bytes left inside TPM2B_ECC_POINT after TPMS_ECC_POINT");
});

test("sizedStruct: size smaller than the structure cuts it short", (t) => {
  // The TPM2B says 3 bytes, the point needs 4 (two empty TPM2Bs); the inner read is bounded by the size.
  const e = decodeError(() => unmarshal(TPM2B_ECC_POINT, fromHex("0003" + "0000" + "0000")));
  t.is(e.message, "Cannot decode TPM2B_ECC_POINT.y at byte 4: TPM2B_ECC_PARAMETER size needs 2 bytes, 1 remaining");
  t.is(e.field, "y");
});

test("sizedStruct: size beyond the input and above the maximum", (t) => {
  t.is(decodeError(() => unmarshal(TPM2B_ECC_POINT, fromHex("0010" + "0000"))).message, "Cannot decode TPM2B_ECC_POINT at byte 0: size 16 exceeds 2 remaining");
  const SMALL = sizedStruct("SMALL", struct("PAIR", { a: u8, b: u8 }), 2);
  t.deepEqual(unmarshal(SMALL, fromHex("00020102")), { a: 1, b: 2 });
  t.is(decodeError(() => unmarshal(SMALL, fromHex("0003010203"))).message, "Cannot decode SMALL at byte 0: size 3 exceeds the maximum of 2");
  const BIG = sizedStruct("BIG", struct("TRIPLE", { a: u8, b: u8, c: u8 }), 2);
  t.is(encodeError(() => marshal(BIG, { a: 1, b: 2, c: 3 })).message, "Cannot encode BIG: 3 bytes exceed the maximum of 2");
});

test("sizedStruct: a zero size is refused, at the offset of the size field", (t) => {
  const e = decodeError(() => unmarshal(TPM2B_PUBLIC, fromHex("0000")));
  t.is(e.reason, "size 0: TPM2B_PUBLIC must not be empty");
  // Every other size fault (too big, beyond the input) points at the size field; this one should too.
  t.is(e.offset, 0, `offset ${e.offset} points past the size field (message: ${e.message})`);
});

// ---------------------------------------------------------------------------------------------
// list

test("list is a UINT32 count then the items, both ways", (t) => {
  const sels = [
    { hash: TPM_ALG.SHA1, pcrSelect: fromHex("ffffff") },
    { hash: TPM_ALG.SHA256, pcrSelect: fromHex("010000") },
  ];
  const enc = marshal(TPML_PCR_SELECTION, sels);
  t.is(toHex(enc), "00000002" + "0004" + "03ffffff" + "000b" + "03010000");
  t.deepEqual(unmarshal(TPML_PCR_SELECTION, enc), sels);
  t.is(toHex(marshal(TPML_PCR_SELECTION, [])), "00000000");
  t.deepEqual(unmarshal(TPML_PCR_SELECTION, fromHex("00000000")), []);
});

test("a list count over the maximum is refused before any item is read", (t) => {
  // HASH_COUNT is 16: 17 banks is malformed even though no item follows.
  t.is(
    decodeError(() => unmarshal(TPML_PCR_SELECTION, fromHex("00000011"))).message,
    "Cannot decode TPML_PCR_SELECTION at byte 0: count 17 exceeds the maximum of 16",
  );
  t.is(decodeError(() => unmarshal(TPML_PCR_SELECTION, fromHex("ffffffff"))).reason, "count 4294967295 exceeds the maximum of 16");
  const tooMany = Array.from({ length: 17 }, () => ({ hash: TPM_ALG.SHA256, pcrSelect: new Uint8Array(3) }));
  t.is(encodeError(() => marshal(TPML_PCR_SELECTION, tooMany)).message, "Cannot encode TPML_PCR_SELECTION: 17 items exceed the maximum of 16");
  t.is(encodeError(() => marshal(TPML_PCR_SELECTION, {} as unknown as [])).message, "Cannot encode TPML_PCR_SELECTION: value is not an array");
});

test("a count larger than the items present fails at the missing item", (t) => {
  const e = decodeError(() => unmarshal(TPML_PCR_SELECTION, fromHex("00000002" + "000b03010000")));
  t.is(e.offset, 10);
  t.is(e.reason, "UINT16 needs 2 bytes, 0 remaining");
  t.regex(e.field, /^\[1\]\.hash$/);
});

test("an item failure inside a nested list names the index in the path", (t) => {
  const attest: TpmsAttest = {
    magic: 0xff544347,
    type: TPM_ST.ATTEST_QUOTE,
    qualifiedSigner: new Uint8Array(),
    extraData: new Uint8Array(),
    clockInfo: { clock: 0n, resetCount: 0, restartCount: 0, safe: 1 },
    firmwareVersion: 0n,
    attested: {
      pcrSelect: [
        { hash: TPM_ALG.SHA1, pcrSelect: fromHex("ffffff") },
        { hash: TPM_ALG.SHA256, pcrSelect: fromHex("ffffff") },
      ],
      pcrDigest: new Uint8Array(20),
    },
  };
  const enc = marshal(TPMS_ATTEST, attest);
  // Header: magic 4, type 2, two empty TPM2Bs 4, clock 17, firmware 8 = 35; count 4; bank 0 is 6 bytes; bank 1 hash 2.
  const at = 35 + 4 + 6 + 2;
  enc[at] = 40; // sizeofSelect 40 > 32
  const e = decodeError(() => unmarshal(TPMS_ATTEST, enc));
  t.is(e.message, `Cannot decode TPMS_ATTEST.attested.pcrSelect[1].pcrSelect at byte ${at}: size 40 exceeds the maximum of 32`);
  t.is(e.field, "attested.pcrSelect[1].pcrSelect");
});

test("an item failure in a top-level list joins the index to the structure name without a dot", (t) => {
  const e = decodeError(() => unmarshal(TPML_PCR_SELECTION, fromHex("00000002" + "000b03010000" + "000b")));
  t.is(e.field, "[1].pcrSelect");
  t.is(e.message, "Cannot decode TPML_PCR_SELECTION[1].pcrSelect at byte 12: TPMS_PCR_SELECT size needs 1 bytes, 0 remaining");
});

// ---------------------------------------------------------------------------------------------
// struct and union

test("struct codes fields in declaration order, both ways", (t) => {
  const v = { clock: 0x0102030405060708n, resetCount: 9, restartCount: 10, safe: 1 };
  const enc = marshal(TPMS_CLOCK_INFO, v);
  t.is(toHex(enc), "0102030405060708" + "00000009" + "0000000a" + "01");
  t.deepEqual(unmarshal(TPMS_CLOCK_INFO, enc), v);
});

test("union picks its arm from the earlier selector, both ways", (t) => {
  const aes = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB };
  t.is(toHex(marshal(TPMT_SYM_DEF_OBJECT, aes)), "0006" + "0080" + "0043");
  t.deepEqual(unmarshal(TPMT_SYM_DEF_OBJECT, fromHex("000600800043")), aes);
  const xor = { algorithm: TPM_ALG.XOR, keyBits: TPM_ALG.SHA256, mode: null };
  t.is(toHex(marshal(TPMT_SYM_DEF_OBJECT, xor)), "000a" + "000b");
  t.deepEqual(unmarshal(TPMT_SYM_DEF_OBJECT, fromHex("000a000b")), xor);
  const nul = { algorithm: TPM_ALG.NULL, keyBits: null, mode: null };
  t.is(toHex(marshal(TPMT_SYM_DEF_OBJECT, nul)), "0010");
  t.deepEqual(unmarshal(TPMT_SYM_DEF_OBJECT, fromHex("0010")), nul);
});

test("an unknown union selector is a TpmDecodeError naming the union field and the selector value", (t) => {
  const bytes = RSA_AK_BYTES.slice();
  bytes[0] = 0x99;
  bytes[1] = 0x99;
  t.is(
    decodeError(() => unmarshal(TPMT_PUBLIC, bytes)).message,
    "Cannot decode TPMT_PUBLIC.parameters at byte 10: selector type=0x9999 is not valid for TPMU_PUBLIC_PARMS",
  );
  t.is(
    decodeError(() => unmarshal(TPMT_SYM_DEF_OBJECT, fromHex("00aa0080"))).message,
    "Cannot decode TPMT_SYM_DEF_OBJECT.keyBits at byte 2: selector algorithm=0x00aa is not valid for TPMU_SYM_KEY_BITS",
  );
});

test("a failure deep inside TPMT_PUBLIC names the whole field path", (t) => {
  // akTemplate("rsa"): type, nameAlg, objectAttributes, empty authPolicy = 10 bytes, then parameters.symmetric.algorithm.
  const truncated = RSA_AK_BYTES.subarray(0, 11);
  const e = decodeError(() => unmarshal(TPMT_PUBLIC, truncated));
  t.is(e.message, "Cannot decode TPMT_PUBLIC.parameters.symmetric.algorithm at byte 10: UINT16 needs 2 bytes, 1 remaining");
  t.is(e.field, "parameters.symmetric.algorithm");
  const badSym = RSA_AK_BYTES.slice();
  badSym[10] = 0x99;
  badSym[11] = 0x99;
  t.is(
    decodeError(() => unmarshal(TPMT_PUBLIC, badSym)).message,
    "Cannot decode TPMT_PUBLIC.parameters.symmetric.keyBits at byte 12: selector algorithm=0x9999 is not valid for TPMU_SYM_KEY_BITS",
  );
  const badScheme = RSA_AK_BYTES.slice();
  badScheme[12] = 0x00;
  badScheme[13] = 0x06; // AES is not an asymmetric scheme
  t.is(
    decodeError(() => unmarshal(TPMT_PUBLIC, badScheme)).message,
    "Cannot decode TPMT_PUBLIC.parameters.scheme.details at byte 14: selector scheme=0x0006 is not valid for TPMU_ASYM_SCHEME",
  );
  // Inside a TPM2B_PUBLIC the structure is the TPM2B and offsets count its size field.
  const e2 = decodeError(() => unmarshal(TPM2B_PUBLIC, marshal(TPM2B_PUBLIC, RSA_AK).subarray(0, 13)));
  t.is(e2.message, "Cannot decode TPM2B_PUBLIC at byte 0: size 24 exceeds 11 remaining");
});

test("an unknown union selector is a TpmEncodeError", (t) => {
  const bad = { algorithm: 0x1234, keyBits: 128, mode: TPM_ALG.CFB };
  t.is(
    encodeError(() => marshal(TPMT_SYM_DEF_OBJECT, bad)).message,
    "Cannot encode TPMT_SYM_DEF_OBJECT.keyBits: selector algorithm=0x1234 is not valid for TPMU_SYM_KEY_BITS",
  );
});

test("encode errors name the field of the structure", (t) => {
  const e = encodeError(() => marshal(TPMT_PUBLIC, { ...RSA_AK, authPolicy: new Uint8Array(65) }));
  t.is(e.path, "TPMT_PUBLIC.authPolicy");
  t.is(e.message, "Cannot encode TPMT_PUBLIC.authPolicy: 65 bytes exceed the maximum of 64");
  t.is(encodeError(() => marshal(TPMT_PUBLIC, { ...RSA_AK, objectAttributes: -1 })).path, "TPMT_PUBLIC.objectAttributes");
  t.is(encodeError(() => marshal(TPMT_PUBLIC, null as unknown as TpmtPublic)).message, "Cannot encode TPMT_PUBLIC: value is not an object");
  t.true(encodeError(() => marshal(TPMT_PUBLIC, { ...RSA_AK, type: 0x9999 })).message.includes("selector type=0x9999 is not valid for TPMU_PUBLIC_PARMS"));
});

// TpmEncodeError.path is documented as "structure and dotted field path"; the decoder builds the full path
// (TpmDecodeError.field), but the encoder stops after the first level and pushes the rest into the message.
test("encode errors in nested structures carry the full dotted field path", (t) => {
  const parms = RSA_AK.parameters as TpmsRsaParms;
  const e = encodeError(() => marshal(TPMT_PUBLIC, { ...RSA_AK, parameters: { ...parms, symmetric: { algorithm: 70000, keyBits: null, mode: null } } }));
  // What the message says today, level by level, is at least complete:
  t.regex(e.message, /TPMT_PUBLIC\.parameters.*symmetric.*algorithm.*70000 is not an integer in 0\.\.65535/);
  const e2 = encodeError(() =>
    marshal(TPMS_ATTEST, {
      magic: 0,
      type: TPM_ST.ATTEST_QUOTE,
      qualifiedSigner: new Uint8Array(),
      extraData: new Uint8Array(),
      clockInfo: { clock: 0n, resetCount: 0, restartCount: 0, safe: 1 },
      firmwareVersion: 0n,
      attested: {
        pcrSelect: [
          { hash: TPM_ALG.SHA256, pcrSelect: new Uint8Array(3) },
          { hash: TPM_ALG.SHA256, pcrSelect: new Uint8Array(33) },
        ],
        pcrDigest: new Uint8Array(),
      },
    }),
  );
  t.is(e.path, "TPMT_PUBLIC.parameters.symmetric.algorithm");
  t.is(e2.path, "TPMS_ATTEST.attested.pcrSelect[1].pcrSelect");
});

test("property: a struct with identifier field names (read and written by generated code) codes and fails exactly as one read by the loop (other names)", (t) => {
  // The same fields twice: plain names take schema.ts's generated reader and writer; names with a "-" the loop.
  const arms = { 1: u8, 2: u16, 4: u32 };
  const plain = struct("S", { kind: u8, a: u16, body: union("ARMS", "kind", arms), tail: sized("T2B", 8), later: union("LATE", "after", arms), after: u8 });
  const other = struct("S", { "k-ind": u8, "a-": u16, "bo-dy": union("ARMS", "k-ind", arms), "ta-il": sized("T2B", 8), "la-ter": union("LATE", "af-ter", arms), "af-ter": u8 });
  const rename: Record<string, string> = { kind: "k-ind", a: "a-", body: "bo-dy", tail: "ta-il", later: "la-ter", after: "af-ter" };
  const renamed = (m: string) => m.replace(/\b(kind|a|body|tail|later|after)\b(?=[.=:\s]|$)/g, (k) => rename[k]!);
  const outcome = <T>(fn: () => T): { ok: T } | { error: string } => {
    try {
      return { ok: fn() };
    } catch (e) {
      if (e instanceof TpmDecodeError || e instanceof TpmEncodeError) return { error: `${e.constructor.name}: ${e.message}` };
      throw e;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20 }), (bytes) => {
      const p = outcome(() => unmarshal(plain, bytes, { allowTrailing: true }));
      const o = outcome(() => unmarshal(other, bytes, { allowTrailing: true }));
      if ("error" in p) return "error" in o && renamed(p.error) === o.error;
      return "ok" in o && JSON.stringify(Object.values(p.ok)) === JSON.stringify(Object.values(o.ok)) && Object.keys(o.ok).join() === Object.keys(p.ok).map((k) => rename[k]).join();
    }),
    { numRuns: 5_000 },
  );
  // The selector of `later` is a later field: no arm whatever the bytes, the same fault both ways.
  t.is(decodeError(() => unmarshal(plain, fromHex("01" + "0002" + "03" + "0000"))).message, "Cannot decode S.later at byte 6: selector after=undefined is not valid for LATE");
  t.is(decodeError(() => unmarshal(other, fromHex("01" + "0002" + "03" + "0000"))).message, "Cannot decode S.la-ter at byte 6: selector af-ter=undefined is not valid for LATE");
  fc.assert(
    fc.property(fc.record({ kind: fc.constantFrom(1, 2, 3, 4), a: fc.integer({ min: -1, max: 0x10000 }), body: fc.nat(0x1_0000_0000), tail: fc.uint8Array({ maxLength: 9 }), later: fc.nat(300), after: fc.constantFrom(1, 2, 4, 9) }), (v) => {
      const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [rename[k]!, x]));
      const p = outcome(() => toHex(marshal(plain, v)));
      const q = outcome(() => toHex(marshal(other, o as never)));
      return "error" in p ? "error" in q && renamed(p.error) === q.error : "ok" in q && p.ok === q.ok;
    }),
    { numRuns: 5_000 },
  );
  t.is(encodeError(() => marshal(plain, null as never)).message, encodeError(() => marshal(other, null as never)).message);
});

test("under node --disallow-code-generation-from-strings the structs are read and written by the loops, with the same bytes and errors", async (t) => {
  const script = `
    const m = await import(${JSON.stringify(new URL("./mod.ts", import.meta.url).href)});
    const bytes = m.marshal(m.TPMT_PUBLIC, m.akTemplate("rsa"));
    let error = "";
    try { m.unmarshal(m.TPMT_PUBLIC, bytes.subarray(0, 11)); } catch (e) { error = e.message; }
    let generated = true;
    try { new Function(""); } catch { generated = false; }
    process.stdout.write(JSON.stringify({ hex: m.toHex(bytes), back: m.toHex(m.marshal(m.TPMT_PUBLIC, m.unmarshal(m.TPMT_PUBLIC, bytes))), error, generated }));
  `;
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ["--disallow-code-generation-from-strings", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let o = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (o += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve(o) : reject(new Error(`node exited ${code}: ${err}`))));
  });
  let here = "";
  try {
    unmarshal(TPMT_PUBLIC, RSA_AK_BYTES.subarray(0, 11));
  } catch (e) {
    here = (e as Error).message;
  }
  t.deepEqual(JSON.parse(out), { hex: toHex(RSA_AK_BYTES), back: toHex(RSA_AK_BYTES), error: here, generated: false });
});

test("marshal: each result is bytes of its own, also from a marshal() inside a codec's write, after a failed one and past the kept writer's size", (t) => {
  const a = marshal(TPMS_CLOCK_INFO, { clock: 1n, resetCount: 2, restartCount: 3, safe: 1 });
  const b = marshal(TPMS_CLOCK_INFO, { clock: 9n, resetCount: 8, restartCount: 7, safe: 0 });
  t.is(toHex(a), "0000000000000001" + "00000002" + "00000003" + "01");
  t.is(toHex(b), "0000000000000009" + "00000008" + "00000007" + "00");
  t.not(a.buffer, b.buffer);
  // A codec whose write marshals another value (re-entrant): both writers stay apart.
  const inner: Codec<number> = {
    name: "INNER",
    read: (r) => u16.read(r),
    write: (w, v) => {
      const nested = marshal(u32, v * 2);
      u16.write(w, v);
      fixed("nested", 4).write(w, nested);
    },
  };
  const outer = struct("OUTER", { x: u8, y: inner, z: u8 });
  t.is(toHex(marshal(outer, { x: 1, y: 3, z: 2 })), "01" + "0003" + "00000006" + "02");
  // A write that fails half-way leaves nothing behind for the next one.
  encodeError(() => marshal(TPMS_CLOCK_INFO, { clock: 1n, resetCount: 2, restartCount: -1, safe: 1 }));
  t.is(toHex(marshal(u16, 0xabcd)), "abcd");
  // Larger than the writer kept between calls (64 KiB): grown for it, then let go; later results are still right.
  const big = new Uint8Array(100_000).fill(0x5a);
  const bigCodec = fixed("big", big.length);
  t.deepEqual(marshal(bigCodec, big), big);
  t.is(toHex(marshal(u8, 7)), "07");
});

test("struct refuses a union whose selector is not a field", (t) => {
  t.throws(() => struct("BAD", { data: union("TPMU_X", "kind", { 1: u8 }) }), { message: "BAD.data: selector kind is not a field" });
});

test("empty codes nothing", (t) => {
  t.is(marshal(empty, null).length, 0);
  t.is(unmarshal(empty, new Uint8Array()), null);
});

test("alias codes like its target under its own name", (t) => {
  t.is(TPMT_SYM_DEF.name, "TPMT_SYM_DEF");
  t.is(toHex(marshal(TPMT_SYM_DEF, { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB })), "000601000043");
  const NONCE = alias("MY_NONCE", TPM2B_DIGEST);
  t.is(decodeError(() => unmarshal(NONCE, fromHex("0041"))).message, "Cannot decode MY_NONCE at byte 0: size 65 exceeds the maximum of 64");
});

// ---------------------------------------------------------------------------------------------
// Top-level entry points

test("trailing bytes are an error unless allowed", (t) => {
  const e = decodeError(() => unmarshal(TPM2B_DIGEST, fromHex("0001aa" + "bbcc")));
  t.is(e.message, "Cannot decode TPM2B_DIGEST at byte 3: 2 trailing bytes after TPM2B_DIGEST");
  t.deepEqual(unmarshal(TPM2B_DIGEST, fromHex("0001aabbcc"), { allowTrailing: true }), fromHex("aa"));
  t.is(
    decodeError(() => unmarshal(TPMT_PUBLIC, new Uint8Array([...RSA_AK_BYTES, 0]))).message,
    `Cannot decode TPMT_PUBLIC at byte ${RSA_AK_BYTES.length}: 1 trailing bytes after TPMT_PUBLIC`,
  );
});

test("unmarshalAt reads one value at an offset and returns the next offset", (t) => {
  const bytes = fromHex("ffff" + "0002aabb" + "0001cc");
  const a = unmarshalAt(TPM2B_DIGEST, bytes, 2);
  t.deepEqual(a, { value: fromHex("aabb"), offset: 6 });
  const b = unmarshalAt(TPM2B_DIGEST, bytes, a.offset);
  t.deepEqual(b, { value: fromHex("cc"), offset: 9 });
  t.is(decodeError(() => unmarshalAt(TPM2B_DIGEST, bytes, 8)).message, "Cannot decode TPM2B_DIGEST at byte 8: TPM2B_DIGEST size needs 2 bytes, 1 remaining");
});

test("decoding() turns faults in a hand-written read sequence into TpmDecodeErrors naming the structure", (t) => {
  const bytes = fromHex("0001" + "0003aabbcc" + "00");
  const v = decoding("MY_FILE", () => {
    const r = reader(bytes);
    const version = u16.read(r);
    const body = TPM2B_DIGEST.read(r);
    if (r.end - r.pos !== 1) decodeFault(r, "expected a flag byte");
    return { version, body, flag: u8.read(r) };
  });
  t.deepEqual(v, { version: 1, body: fromHex("aabbcc"), flag: 0 });
  const e = decodeError(() =>
    decoding("MY_FILE", () => {
      const r = reader(bytes, 2);
      TPM2B_DIGEST.read(r);
      decodeFault(r, "no version 2 here");
    }),
  );
  t.is(e.message, "Cannot decode MY_FILE at byte 7: no version 2 here");
  // Errors that are not decode faults pass through unchanged.
  t.throws(
    () =>
      decoding("X", () => {
        throw new RangeError("boom");
      }),
    { instanceOf: RangeError, message: "boom" },
  );
});

test("the writer grows past its initial capacity", (t) => {
  const w = writer(1);
  const big = new Uint8Array(3000).map((_, i) => i & 0xff);
  for (let i = 0; i < 3; i++) sized("BIG", 4096).write(w, big);
  const out = written(w);
  t.is(out.length, 3 * 3002);
  t.deepEqual(out.subarray(2, 3002), big);
  t.deepEqual(out.subarray(3002 + 2, 6004), big);
});

test("a custom codec built from the combinators round-trips (property)", (t) => {
  const REC = struct("REC", {
    kind: u16,
    body: union("TPMU_REC", "kind", { 1: TPM2B_DIGEST, 2: list("TPML_U32", u32, 4), 3: empty }),
    tail: sized8("TAIL", 8),
  });
  const opts = { noNullPrototype: true };
  const arb = fc.oneof(
    fc.record({ kind: fc.constant(1), body: fc.uint8Array({ maxLength: 64 }), tail: fc.uint8Array({ maxLength: 8 }) }, opts),
    fc.record({ kind: fc.constant(2), body: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 4 }), tail: fc.uint8Array({ maxLength: 8 }) }, opts),
    fc.record({ kind: fc.constant(3), body: fc.constant(null), tail: fc.uint8Array({ maxLength: 8 }) }, opts),
  );
  fc.assert(
    fc.property(arb, (v) => {
      const enc = marshal(REC as Codec<unknown>, v);
      assert.deepEqual(unmarshal(REC as Codec<unknown>, enc), v);
    }),
  );
  t.pass();
});

test("a writer over no bytes grows (it looped for ever: doubling 0); one whose memory was transferred away throws, it does not hang", (t) => {
  const bytes = marshal(TPMT_PUBLIC, akTemplate("ecc"));
  for (const w of [writer(0), writer(1)]) {
    TPMT_PUBLIC.write(w, akTemplate("ecc"));
    t.deepEqual(written(w), bytes);
  }
  const s = writer(0);
  sizedUtf8("name", 300).write(s, "x".repeat(200));
  t.is(written(s).length, 202);
  const gone = writer(512);
  structuredClone(gone.buf.buffer, { transfer: [gone.buf.buffer] }); // detached: its length reads 0
  t.throws(() => TPMT_PUBLIC.write(gone, akTemplate("ecc")), { instanceOf: TypeError });
});
