/**
 * The wrapped form: an exact vector, each malformation named by its field, fast-check properties (round trips
 * both ways, one spelling per key, only WrappedKeyError on any input) and a seeded fuzz run of mutations.
 */
import test from "ava";
import fc from "fast-check";
import { xorshift32 } from "@tessera/fixtures";
import { WrappedKeyError } from "./errors.ts";
import { decodeWrapped, encodeWrapped, MAX_WRAPPED_LENGTH, type WrappedKey } from "./wrapped_form.ts";
import { wrapAad } from "./wrap_aad.ts";

const b = (n: number, fill = 0) => new Uint8Array(n).fill(fill);
const GCM: WrappedKey = { v: 1, provider: "kms-1", kv: 2, mode: "A256GCM", iv: b(12, 1), ct: b(32, 2), tag: b(16, 3) };
const CBC: WrappedKey = { v: 1, provider: "kms-1", kv: 7, mode: "CBC-HMAC-SHA256", iv: b(16, 1), ct: b(48, 2), tag: b(32, 3) };

const enc = (json: string) => Buffer.from(json, "utf8").toString("base64");
const b64 = (u: Uint8Array) => Buffer.from(u).toString("base64");
/** The JSON text of a field set, in the canonical key order unless `raw` overrides the whole text. */
function jsonOf(o: Record<string, unknown>): string {
  return JSON.stringify(o);
}
function fields(w: WrappedKey): Record<string, unknown> {
  return { v: w.v, provider: w.provider, kv: w.kv, mode: w.mode, iv: b64(w.iv), ct: b64(w.ct), tag: b64(w.tag) };
}

function rejects(
  t: { true: (v: boolean, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void },
  input: string,
  field: string,
  what: string,
): WrappedKeyError {
  let err: unknown;
  try {
    decodeWrapped(input);
  } catch (e) {
    err = e;
  }
  t.true(err instanceof WrappedKeyError, `${what}: ${String(err)}`);
  const e = err as WrappedKeyError;
  t.is(e.code, "WRAPPED_MALFORMED", what);
  t.is(e.field, field, `${what}: ${e.message}`);
  return e;
}

test("vector: the exact JSON text, keys in order, standard padded base64", (t) => {
  const s = encodeWrapped(GCM);
  t.is(
    Buffer.from(s, "base64").toString("utf8"),
    '{"v":1,"provider":"kms-1","kv":2,"mode":"A256GCM","iv":"AQEBAQEBAQEBAQEB","ct":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=","tag":"AwMDAwMDAwMDAwMDAwMDAw=="}',
  );
  t.deepEqual(decodeWrapped(s), GCM);
  t.deepEqual(decodeWrapped(encodeWrapped(CBC)), CBC);
  t.is(decodeWrapped(enc(jsonOf(fields({ ...GCM, provider: 'кмс "1" \\ ✓' })))).provider, 'кмс "1" \\ ✓');
});

test("AAD: tessera-kmx/v1 NUL provider NUL kv, UTF-8", (t) => {
  t.deepEqual(wrapAad("kms-1", 12), new Uint8Array(Buffer.from("tessera-kmx/v1\u0000kms-1\u000012", "utf8")));
  t.deepEqual(wrapAad("é", 1), new Uint8Array([...Buffer.from("tessera-kmx/v1\0"), 0xc3, 0xa9, 0, 0x31]));
});

test("each malformation is refused naming its field", (t) => {
  const g = fields(GCM);
  const cases: [string, string, string][] = [
    ["", "wrapped", "empty"],
    ["eyJ2IjoxfQ", "wrapped", "unpadded base64"],
    [enc(jsonOf(g)).replace(/\+/g, "-").replace(/\//g, "_") + "-", "wrapped", "URL-safe alphabet"],
    [enc(jsonOf(g)).slice(0, -2) + " =", "wrapped", "a space"],
    ["QQ==".replace("Q==", "R=="), "wrapped", "unused bits set"],
    [Buffer.from([0xff, 0xfe, 0x7b]).toString("base64"), "wrapped", "not UTF-8"],
    [enc("{not json"), "json", "not JSON"],
    [enc("[1]"), "json", "an array"],
    [enc("null"), "json", "null"],
    [enc(jsonOf({ ...g, tag: undefined })), "tag", "tag missing"],
    [enc(jsonOf({ ...g, extra: 1 })), '"extra"', "an extra key"],
    [enc(jsonOf({ ...g, v: 2 })), "v", "version 2"],
    [enc(jsonOf({ ...g, v: "1" })), "v", "version as text"],
    [enc(jsonOf({ ...g, provider: "" })), "provider", "empty provider"],
    [enc(jsonOf({ ...g, provider: 7 })), "provider", "provider a number"],
    [enc(jsonOf({ ...g, provider: "a\u0000b" })), "provider", "NUL in the provider"],
    [enc(jsonOf({ ...g, provider: "\ud800" })), "provider", "lone surrogate"],
    [enc(jsonOf({ ...g, provider: "p".repeat(257) })), "provider", "provider too long"],
    [enc(jsonOf({ ...g, kv: 0 })), "kv", "kv 0"],
    [enc(jsonOf({ ...g, kv: 1.5 })), "kv", "kv 1.5"],
    [enc(jsonOf({ ...g, kv: "1" })), "kv", "kv as text"],
    [enc(jsonOf({ ...g, kv: 2 ** 31 })), "kv", "kv 2^31"],
    [enc(jsonOf({ ...g, mode: "A128GCM" })), "mode", "unknown mode"],
    [enc(jsonOf({ ...g, iv: b64(b(16)) })), "iv", "GCM with a 16-byte IV"],
    [enc(jsonOf({ ...fields(CBC), iv: b64(b(12)) })), "iv", "CBC with a 12-byte IV"],
    [enc(jsonOf({ ...g, tag: b64(b(12)) })), "tag", "GCM with a 12-byte tag"],
    [enc(jsonOf({ ...fields(CBC), tag: b64(b(16)) })), "tag", "CBC with a 16-byte tag"],
    [enc(jsonOf({ ...fields(CBC), ct: b64(b(20)) })), "ct", "CBC ciphertext not whole blocks"],
    [enc(jsonOf({ ...fields(CBC), ct: "" })), "ct", "CBC ciphertext empty"],
    [enc(jsonOf({ ...g, ct: "AA" })), "ct", "unpadded ct"],
    [enc(jsonOf({ ...g, ct: 5 })), "ct", "ct a number"],
    [enc(JSON.stringify(g, null, 1)), "json", "spaces"],
    [enc(jsonOf({ provider: g.provider, v: 1, kv: g.kv, mode: g.mode, iv: g.iv, ct: g.ct, tag: g.tag })), "json", "key order"],
    [enc(jsonOf(g).replace('"kms-1"', '"\\u006bms-1"')), "json", "an escape JSON.stringify would not write"],
    [enc(jsonOf(g).replace('"kv":2', '"kv":2.0')), "json", "kv spelled 2.0"],
    [enc(jsonOf(g) + "\n"), "json", "a trailing newline"],
  ];
  for (const [input, field, what] of cases) rejects(t, input, field, what);
  // A valid form padded past the limit is refused on its length, before any decoding.
  const e = rejects(t, "A".repeat(MAX_WRAPPED_LENGTH + 1), "wrapped", "too long");
  t.regex(e.message, /65537 characters exceed the limit of 65536/);
  rejects(t, 42 as unknown as string, "wrapped", "not a string");
});

test("encodeWrapped refuses what decodeWrapped would, naming the field", (t) => {
  const bad: [Partial<WrappedKey> & Record<string, unknown>, string][] = [
    [{ provider: "" }, "provider"],
    [{ kv: -1 }, "kv"],
    [{ kv: Number.NaN }, "kv"],
    [{ mode: "X" as never }, "mode"],
    [{ iv: b(11) }, "iv"],
    [{ tag: b(15) }, "tag"],
    [{ ct: "x" as never }, "ct"],
  ];
  for (const [patch, field] of bad) {
    const e = t.throws(() => encodeWrapped({ ...GCM, ...patch } as WrappedKey), { instanceOf: WrappedKeyError });
    t.is(e?.field, field);
  }
});

const providerArb = fc
  .string({
    unit: fc.oneof(fc.constantFrom("a", "-", ".", '"', "\\", "é", "✓", "😀"), fc.string({ unit: "binary", minLength: 1, maxLength: 1 })),
    minLength: 1,
    maxLength: 40,
  })
  .filter((s) => !/[\u0000-\u001f\u007f]/.test(s) && s.isWellFormed() && s.length <= 256);
const wrappedArb: fc.Arbitrary<WrappedKey> = fc.oneof(
  fc.record({
    v: fc.constant(1 as const),
    provider: providerArb,
    kv: fc.integer({ min: 1, max: 0x7fffffff }),
    mode: fc.constant("A256GCM" as const),
    iv: fc.uint8Array({ minLength: 12, maxLength: 12 }),
    ct: fc.uint8Array({ maxLength: 100 }),
    tag: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  }),
  fc.record({
    v: fc.constant(1 as const),
    provider: providerArb,
    kv: fc.integer({ min: 1, max: 0x7fffffff }),
    mode: fc.constant("CBC-HMAC-SHA256" as const),
    iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    ct: fc.integer({ min: 1, max: 6 }).chain((n) => fc.uint8Array({ minLength: 16 * n, maxLength: 16 * n })),
    tag: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  }),
);

test("property: decode(encode(w)) = w and encode(decode(s)) = s", (t) => {
  fc.assert(
    fc.property(wrappedArb, (w) => {
      const s = encodeWrapped(w);
      const back = decodeWrapped(s);
      return JSON.stringify(fields(back)) === JSON.stringify(fields(w)) && encodeWrapped(back) === s;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("property: any string decodes to a WrappedKey that re-encodes to it, or throws WrappedKeyError", (t) => {
  const anyInput = fc.oneof(
    fc.string(),
    fc.base64String(),
    fc.jsonValue().map((v) => enc(JSON.stringify(v) ?? "")),
    fc.dictionary(fc.constantFrom("v", "provider", "kv", "mode", "iv", "ct", "tag", "x"), fc.jsonValue()).map((o) => enc(JSON.stringify(o))),
  );
  fc.assert(
    fc.property(anyInput, (s) => {
      try {
        return encodeWrapped(decodeWrapped(s)) === s;
      } catch (e) {
        return e instanceof WrappedKeyError;
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test("fuzz: 20 000 seeded mutations of valid forms (of the JSON text and of the base64) give only WrappedKeyError or the same spelling", (t) => {
  const next = xorshift32(0x4b505746);
  const seeds = [GCM, CBC, { ...GCM, provider: '✓ "q"', ct: b(0) }].map(encodeWrapped);
  const alphabet = '{}[]":,.-+0123456789eE\\u ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/=ÿ\u0000';
  const outcome = { accepted: 0, rejected: 0 };
  const foreign: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const seed = seeds[next() % seeds.length];
    const onJson = next() % 2 === 0;
    const chars = [...(onJson ? Buffer.from(seed, "base64").toString("utf8") : seed)];
    for (let k = 1 + (next() % 3); k > 0; k--) {
      const at = next() % (chars.length + 1);
      const c = alphabet[next() % alphabet.length];
      switch (next() % 3) {
        case 0:
          chars[Math.min(at, chars.length - 1)] = c;
          break;
        case 1:
          chars.splice(at, 0, c);
          break;
        default:
          chars.splice(at, 1 + (next() % 4));
      }
    }
    const input = onJson ? enc(chars.join("")) : chars.join("");
    try {
      const w = decodeWrapped(input);
      if (encodeWrapped(w) !== input) foreign.push(`seed ${i}: accepted a second spelling ${input}`);
      outcome.accepted++;
    } catch (e) {
      if (e instanceof WrappedKeyError) outcome.rejected++;
      else foreign.push(`mutation ${i}: ${String(e)} for ${input}`);
    }
  }
  t.deepEqual(foreign, []);
  t.true(outcome.rejected > 15_000, JSON.stringify(outcome));
  t.log(outcome);
});
