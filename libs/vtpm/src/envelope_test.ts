/**
 * The envelope: its layout byte for byte, round trips, the header without a key, rewrap leaving the ciphertext's
 * bytes alone (a new tag for the new header), version 1 files still read, and every way to spoil it (each byte
 * changed, each cut, another key, an unknown version or algorithm) refused with a typed error and no plaintext;
 * fast-check properties and a seeded fuzz run of mutations.
 */
import test from "ava";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { xorshift32 } from "@tessera/fixtures";
import { EnvelopeError, type EnvelopeErrorCode } from "./errors.ts";
import { isEnvelope, openEnvelope, readEnvelopeHeader, rewrapEnvelope, sealEnvelope, sealEnvelopeParts, type EnvelopeKey } from "./envelope.ts";

const key = (fill: number) => new Uint8Array(32).fill(fill);
const TRUSTED: EnvelopeKey = {
  provider: { name: "kms-1", kind: "trusted" },
  key: { id: "0c1f-primary", version: 3 },
  wrappedDataKey: new TextEncoder().encode("eyJ2IjoxfQ"),
};
const SECRET = new TextEncoder().encode("the guest's sealed disk key: 6d1e…");
/** A version 1 envelope of SECRET under key(1), TRUSTED, context "vm:web-01", as the code before version 2 sealed it (commit 1a9399a). */
const V1 = Uint8Array.from(
  Buffer.from(
    "54454e56000100010009766d3a7765622d3031f7fdf688323f00a7c94129380100056b6d732d31000c306331662d7072696d61727900000003000a65794a32496a6f786651285a3430783bc96e4b89cc283c2c20e95e20c2e3cc8696562a04a1c9c2003ecca88469f2d1eee13113110a6e9aac22e75e884ebd1c9e442289183791f4cd3e3f455eac1f4461f5f94cf1c8b0659faec9e573b09774b8a310308c26e894ef819bb609a861519f69954232d8ff0da057b0",
    "hex",
  ),
);

function refusal(t: { true: (v: boolean, m?: string) => void }, fn: () => unknown, what: string): EnvelopeError {
  let err: unknown;
  let value: unknown;
  try {
    value = fn();
  } catch (e) {
    err = e;
  }
  t.true(err instanceof EnvelopeError, `${what}: expected an EnvelopeError, got ${err === undefined ? `a result ${String(value)}` : String(err)}`);
  return err as EnvelopeError;
}

function refused(
  t: { true: (v: boolean, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void },
  fn: () => unknown,
  code: EnvelopeErrorCode,
  field: string,
  what: string,
): EnvelopeError {
  const e = refusal(t, fn, what);
  t.is(e.code, code, `${what}: ${e.message}`);
  t.is(e.field, field, `${what}: ${e.message}`);
  return e;
}

test("layout: magic TENV, version 2, algorithm 1, then the context, the key part, the nonce and the content; its length adds up", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:web-01" });
  const hex = Buffer.from(env).toString("hex");
  t.is(hex.slice(0, 16), "54454e5600020001", "TENV, version 0002, algorithm 0001");
  t.is(hex.slice(16, 20), "0009", "the context's size");
  t.is(Buffer.from(env.subarray(10, 19)).toString(), "vm:web-01");
  // 8 + (2+9) + 1 kind + (2+5) + (2+12) + 4 + (2+10) + 12 nonce + content + 16
  t.is(env.length, 8 + 11 + 1 + 7 + 14 + 4 + 12 + 12 + SECRET.length + 16);
  t.is(env[8 + 11], 1, "provider kind 1: trusted");
  t.true(isEnvelope(env));
  t.false(isEnvelope(new TextEncoder().encode("TKE1…")));
  // The pieces are the same layout, not joined.
  const [header, body, tag] = sealEnvelopeParts(SECRET, key(1), TRUSTED, { context: "vm:web-01" });
  t.is(header.length, env.length - SECRET.length - 16);
  t.is(body.length, SECRET.length);
  t.is(tag.length, 16);
  t.deepEqual(openEnvelope(new Uint8Array([...header, ...body, ...tag]), key(1)).plaintext, SECRET);
});

test("a rewrap to a new data key: algorithm 2, the content key part after the nonce, every field before it its associated data", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:web-01" });
  const moved = rewrapEnvelope(env, key(1), TRUSTED, key(2));
  t.is(Buffer.from(moved).toString("hex").slice(0, 16), "54454e5600020002", "TENV, version 0002, algorithm 0002");
  t.is(moved.length, env.length + 12 + 48);
  t.like(readEnvelopeHeader(moved), { version: 2, algorithm: "A256GCM+CK", contentLength: SECRET.length });
});

test("round trip: the plaintext back, the header as sealed; empty and 1 MiB contents; the header readable without a key", (t) => {
  for (const plaintext of [SECRET, new Uint8Array(0), new Uint8Array(randomBytes(1024 * 1024))]) {
    const env = sealEnvelope(plaintext, key(7), TRUSTED, { context: "vm:α" });
    const opened = openEnvelope(env, key(7));
    t.deepEqual(opened.plaintext, plaintext);
    const h = readEnvelopeHeader(env);
    t.deepEqual(h, opened.header);
    t.like(h, {
      version: 2,
      algorithm: "A256GCM",
      context: "vm:α",
      provider: { name: "kms-1", kind: "trusted" },
      key: { id: "0c1f-primary", version: 3 },
      contentLength: plaintext.length,
    });
    t.deepEqual(h.wrappedDataKey, TRUSTED.wrappedDataKey);
  }
  const local = sealEnvelope(SECRET, key(2), {
    provider: { name: "master-key", kind: "local" },
    key: { id: "obj-17", version: 0 },
    wrappedDataKey: new Uint8Array(),
  });
  t.like(readEnvelopeHeader(local), { context: "", provider: { kind: "local" }, key: { version: 0 } });
  t.notDeepEqual(sealEnvelope(SECRET, key(7), TRUSTED), sealEnvelope(SECRET, key(7), TRUSTED), "a fresh nonce each time");
});

test("another data key is ENVELOPE_AUTH naming the provider's key, and gives no plaintext", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED);
  const e = refused(t, () => openEnvelope(env, key(2)), "ENVELOPE_AUTH", "content", "another key");
  t.regex(e.message, /kms-1's key 0c1f-primary version 3/);
  const moved = rewrapEnvelope(env, key(1), TRUSTED, key(3));
  const m = refused(t, () => openEnvelope(moved, key(1)), "ENVELOPE_AUTH", "wrappedContentKey", "another key, algorithm 2");
  t.regex(m.message, /kms-1's key 0c1f-primary version 3/);
  refused(t, () => openEnvelope(env, new Uint8Array(31)), "ENVELOPE_INPUT", "dataKey", "a 31-byte key");
});

test("every byte changed (each bit position once) is refused; so is every cut; nothing opens (algorithm 1, 2 and version 1)", (t) => {
  const direct = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:1" });
  const cases: [string, Uint8Array, Uint8Array][] = [
    ["algorithm 1", direct, key(1)],
    ["algorithm 2", rewrapEnvelope(direct, key(1), TRUSTED, key(4)), key(4)],
    ["version 1", V1, key(1)],
  ];
  for (const [what, env, dk] of cases) {
    t.deepEqual(openEnvelope(env, dk).plaintext, SECRET, what);
    for (let i = 0; i < env.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const m = new Uint8Array(env);
        m[i]! ^= bit;
        refusal(t, () => openEnvelope(m, dk), `${what}: byte ${i} ^ ${bit}`);
      }
    }
    for (let n = 0; n < env.length; n++) refusal(t, () => openEnvelope(env.subarray(0, n), dk), `${what}: cut to ${n} bytes`);
    refused(t, () => openEnvelope(new Uint8Array([...env, 0]), dk), "ENVELOPE_AUTH", "content", `${what}: a byte appended`);
  }
});

test("version 1 files still read: the header, the plaintext; a rewrap makes version 2 with the same ciphertext", (t) => {
  t.like(readEnvelopeHeader(V1), {
    version: 1,
    algorithm: "A256GCM+CK",
    context: "vm:web-01",
    provider: { name: "kms-1", kind: "trusted" },
    key: { id: "0c1f-primary", version: 3 },
    contentLength: SECRET.length,
  });
  t.deepEqual(openEnvelope(V1, key(1)).plaintext, SECRET);
  refused(t, () => openEnvelope(V1, key(2)), "ENVELOPE_AUTH", "wrappedContentKey", "version 1, another key");
  for (const nextKey of [key(1), key(6)]) {
    const moved = rewrapEnvelope(V1, key(1), { ...TRUSTED, key: { id: "0c1f-primary", version: 4 } }, nextKey);
    t.like(readEnvelopeHeader(moved), { version: 2, algorithm: "A256GCM+CK", context: "vm:web-01", key: { version: 4 } });
    t.deepEqual(moved.subarray(moved.length - 16 - SECRET.length, moved.length - 16), V1.subarray(V1.length - 16 - SECRET.length, V1.length - 16));
    t.deepEqual(openEnvelope(moved, nextKey).plaintext, SECRET);
  }
});

test("malformed and unknown: the field and byte are named", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED);
  const magic = refused(t, () => readEnvelopeHeader(new TextEncoder().encode("TKE1\x03GCM")), "ENVELOPE_MALFORMED", "magic", "another format");
  t.regex(magic.message, /^envelope magic \(byte 0\): is not an envelope \(it starts 544b4531, not TENV\)/);
  const v3 = new Uint8Array(env);
  v3[5] = 3;
  const ver = refused(t, () => readEnvelopeHeader(v3), "ENVELOPE_VERSION", "version", "version 3");
  t.regex(ver.message, /version 3 is unknown here \(this code reads versions 1 and 2\)/);
  const alg = new Uint8Array(env);
  alg[7] = 9;
  refused(t, () => readEnvelopeHeader(alg), "ENVELOPE_VERSION", "algorithm", "algorithm 9");
  const kind = new Uint8Array(env);
  kind[8 + 2] = 4;
  const k = refused(t, () => readEnvelopeHeader(kind), "ENVELOPE_MALFORMED", "providerKind", "kind 4");
  t.is(k.offset, 10);
  const short = refused(t, () => readEnvelopeHeader(env.subarray(0, 15)), "ENVELOPE_MALFORMED", "providerName", "cut inside the provider name");
  t.regex(short.message, /byte 11/);
  refused(t, () => readEnvelopeHeader(env.subarray(0, env.length - 1 - SECRET.length)), "ENVELOPE_MALFORMED", "content", "no room for the tag");
  refused(t, () => readEnvelopeHeader(env.subarray(0, env.length - 17 - SECRET.length)), "ENVELOPE_MALFORMED", "contentNonce", "cut inside the nonce");
  const moved = rewrapEnvelope(env, key(1), TRUSTED, key(2));
  refused(
    t,
    () => readEnvelopeHeader(moved.subarray(0, moved.length - 17 - SECRET.length)),
    "ENVELOPE_MALFORMED",
    "wrappedContentKey",
    "cut inside the content key",
  );
  const v1alg = new Uint8Array(V1);
  v1alg[7] = 2;
  refused(t, () => readEnvelopeHeader(v1alg), "ENVELOPE_VERSION", "algorithm", "version 1, algorithm 2");
});

test("rewrap to a new data key (another provider): the ciphertext's bytes are the same, the old key no longer opens it", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:1" });
  const next: EnvelopeKey = { provider: { name: "kms-2", kind: "standard" }, key: { id: "k2", version: 1 }, wrappedDataKey: new Uint8Array([9, 9]) };
  const moved = rewrapEnvelope(env, key(1), next, key(5));
  const ciphertext = (e: Uint8Array) => e.subarray(e.length - SECRET.length - 16, e.length - 16);
  t.deepEqual(ciphertext(moved), ciphertext(env), "ciphertext untouched");
  t.like(readEnvelopeHeader(moved), { context: "vm:1", provider: { name: "kms-2", kind: "standard" }, key: { id: "k2", version: 1 } });
  t.deepEqual(openEnvelope(moved, key(5)).plaintext, SECRET);
  refused(t, () => openEnvelope(moved, key(1)), "ENVELOPE_AUTH", "wrappedContentKey", "the old data key");
  // The same data key, as a rotated primary key wrapped it: only the key part changes, the content stays under the data key.
  const rotated = rewrapEnvelope(env, key(1), { ...TRUSTED, key: { id: "0c1f-primary", version: 4 }, wrappedDataKey: new Uint8Array([4]) }, key(1));
  t.like(readEnvelopeHeader(rotated), { algorithm: "A256GCM", key: { version: 4 } });
  t.is(rotated.length, env.length - 10 + 1, "the wrapped data key is shorter by 9 bytes, nothing else is added");
  t.deepEqual(ciphertext(rotated), ciphertext(env), "ciphertext untouched");
  t.deepEqual(openEnvelope(rotated, key(1)).plaintext, SECRET);
  // And on again: from algorithm 2 back under its own content key, to a third key; each time the old header no longer opens.
  const third = rewrapEnvelope(moved, key(5), TRUSTED, key(6));
  t.deepEqual(ciphertext(third), ciphertext(env));
  t.deepEqual(openEnvelope(third, key(6)).plaintext, SECRET);
  refused(t, () => openEnvelope(third, key(5)), "ENVELOPE_AUTH", "wrappedContentKey", "the previous data key");
  refused(t, () => rewrapEnvelope(env, key(2), next, key(5)), "ENVELOPE_AUTH", "content", "rewrap with the wrong current key (algorithm 1)");
  refused(t, () => rewrapEnvelope(moved, key(2), next, key(5)), "ENVELOPE_AUTH", "wrappedContentKey", "rewrap with the wrong current key (algorithm 2)");
  // A changed ciphertext is not made good by a rewrap of its (unchanged) header.
  const spoilt = new Uint8Array(moved);
  spoilt[spoilt.length - 20]! ^= 1;
  const respoilt = rewrapEnvelope(spoilt, key(5), TRUSTED, key(7));
  refused(t, () => openEnvelope(respoilt, key(7)), "ENVELOPE_AUTH", "content", "a changed ciphertext, rewrapped");
  refused(t, () => rewrapEnvelope(env, key(1), next, new Uint8Array(16)), "ENVELOPE_INPUT", "nextDataKey", "a 16-byte next key");
});

test("seal refuses bad input, naming it", (t) => {
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, provider: { name: "", kind: "trusted" } }), "ENVELOPE_INPUT", "providerName", "empty name");
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, key: { id: "x".repeat(1025), version: 1 } }), "ENVELOPE_INPUT", "keyId", "long id");
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, key: { id: "x", version: -1 } }), "ENVELOPE_INPUT", "keyVersion", "negative version");
  refused(
    t,
    () => sealEnvelope(SECRET, key(1), { ...TRUSTED, provider: { name: "p", kind: "other" as "local" } }),
    "ENVELOPE_INPUT",
    "providerKind",
    "unknown kind",
  );
  refused(t, () => sealEnvelope(SECRET, key(1), TRUSTED, { context: "c".repeat(1025) }), "ENVELOPE_INPUT", "context", "long context");
  refused(t, () => sealEnvelope(SECRET, key(1), TRUSTED, { context: 5 as unknown as string }), "ENVELOPE_INPUT", "context", "a context that is not a string");
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, provider: { name: "p", kind: "toString" as "local" } }), "ENVELOPE_INPUT", "providerKind", "an Object.prototype name as kind");
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, provider: { name: "n".repeat(256), kind: "trusted" } }), "ENVELOPE_INPUT", "providerName", "long name");
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, wrappedDataKey: new Uint8Array(16 * 1024 + 1) }), "ENVELOPE_INPUT", "wrappedDataKey", "a wrapped key over 16 KiB");
  refused(t, () => sealEnvelope(SECRET, key(1), { ...TRUSTED, wrappedDataKey: "eyJ2IjoxfQ" as unknown as Uint8Array }), "ENVELOPE_INPUT", "wrappedDataKey", "a wrapped key that is not bytes");
  refused(t, () => sealEnvelope(SECRET, new Uint8Array(16), TRUSTED), "ENVELOPE_INPUT", "dataKey", "AES-128 key");
});

const keyArb: fc.Arbitrary<EnvelopeKey> = fc.record({
  provider: fc.record({ name: fc.string({ minLength: 1, maxLength: 60 }), kind: fc.constantFrom("trusted" as const, "standard" as const, "local" as const) }),
  key: fc.record({ id: fc.string({ minLength: 1, maxLength: 100 }), version: fc.nat({ max: 0xffffffff }) }),
  wrappedDataKey: fc.uint8Array({ maxLength: 600 }),
});

test("property: seal then open gives back the plaintext and the header; rewrap then open too", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      keyArb,
      fc.string({ maxLength: 40 }),
      keyArb,
      (plaintext, dk, k, context, next) => {
        const env = sealEnvelope(plaintext, dk, k, { context });
        const o = openEnvelope(env, dk);
        if (Buffer.compare(o.plaintext, plaintext) !== 0) return false;
        if (
          o.header.provider.name !== k.provider.name ||
          o.header.key.id !== k.key.id ||
          o.header.key.version !== k.key.version ||
          o.header.context !== context
        )
          return false;
        const moved = rewrapEnvelope(env, dk, next, key(3));
        const same = rewrapEnvelope(env, dk, next, dk);
        const back = rewrapEnvelope(moved, key(3), k, dk);
        return (
          Buffer.compare(openEnvelope(moved, key(3)).plaintext, plaintext) === 0 &&
          readEnvelopeHeader(moved).provider.name === next.provider.name &&
          Buffer.compare(openEnvelope(same, dk).plaintext, plaintext) === 0 &&
          readEnvelopeHeader(same).algorithm === "A256GCM" &&
          Buffer.compare(openEnvelope(back, dk).plaintext, plaintext) === 0
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test("property: any bytes, and any envelope with bytes inserted, only ever give an EnvelopeError", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (junk, at, ins) => {
      for (const bytes of [junk, new Uint8Array([...env.subarray(0, at % env.length), ...ins, ...env.subarray(at % env.length)])]) {
        try {
          openEnvelope(bytes, key(1));
          return false;
        } catch (e) {
          if (!(e instanceof EnvelopeError)) throw e;
        }
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test("fuzz: 20,000 seeded mutations (flips, cuts, splices) of an envelope are each refused with an EnvelopeError", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:fuzz" });
  const next = xorshift32(0x7e4f);
  const codes = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const m = new Uint8Array(env);
    let bytes: Uint8Array = m;
    const n = 1 + (next() % 3);
    for (let j = 0; j < n; j++) {
      const op = next() % 3;
      const at = next() % m.length;
      if (op === 0) m[at]! ^= 1 + (next() % 255);
      else if (op === 1) bytes = bytes.subarray(0, at);
      else bytes = new Uint8Array([...bytes.subarray(0, at), next() & 0xff, ...bytes.subarray(at)]);
    }
    if (Buffer.compare(bytes, env) === 0) continue;
    try {
      openEnvelope(bytes, key(1));
      t.fail(`mutation ${i} opened`);
      return;
    } catch (e) {
      if (!(e instanceof EnvelopeError)) {
        t.fail(`mutation ${i}: ${String(e)}`);
        return;
      }
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
  }
  t.true((codes.get("ENVELOPE_AUTH") ?? 0) > 0 && (codes.get("ENVELOPE_MALFORMED") ?? 0) > 0, JSON.stringify([...codes]));
});

test("a sealed envelope owns its memory: its .buffer holds it and nothing else (never a slice of Node's shared pool)", (t) => {
  for (const size of [0, 100, 5000, 2 * 1024 * 1024]) {
    const env = sealEnvelope(new Uint8Array(size).fill(7), key(1), TRUSTED);
    t.is(env.byteOffset, 0, `size ${size}`);
    t.is(env.buffer.byteLength, env.length, `size ${size}`);
    const moved = rewrapEnvelope(env, key(1), TRUSTED, key(2));
    t.is(moved.buffer.byteLength, moved.length, `rewrap, size ${size}`);
  }
});

test("the headers sealEnvelopeParts hands out share an arena: none is changed by later seals, across arena refills and headers that do not fit", (t) => {
  // 600 headers of ~100–1,200 bytes fill several 32 KiB arenas; a header that does not fit in what is left of one (some
  // carry a 9,000-byte wrapped key) is copied into bytes of its own. Each is kept with a copy of its bytes and must still equal it, and open, after
  // all the seals that followed it.
  const next = xorshift32(0xa7e4a);
  const kept: { parts: readonly Uint8Array[]; header: Buffer; content: Uint8Array; context: string }[] = [];
  for (let i = 0; i < 600; i++) {
    const context = `vm:${i}:${"x".repeat(next() % 900)}`;
    const wrapped = new Uint8Array(i % 97 === 0 ? 9000 : next() % 200).fill(i & 0xff);
    const content = new Uint8Array(next() % 64).fill(i & 0x7f);
    const parts = sealEnvelopeParts(content, key(1), { ...TRUSTED, wrappedDataKey: wrapped }, { context });
    kept.push({ parts, header: Buffer.from(parts[0]), content, context });
  }
  t.true(kept.some((k) => k.parts[0].buffer.byteLength === k.parts[0].length), "a large header has bytes of its own");
  t.true(kept.some((k) => k.parts[0].buffer.byteLength > k.parts[0].length), "small headers share an arena");
  for (const [i, k] of kept.entries()) {
    t.true(Buffer.from(k.parts[0]).equals(k.header), `header ${i} unchanged`);
    const opened = openEnvelope(Buffer.concat(k.parts), key(1));
    t.deepEqual(opened.plaintext, k.content, `envelope ${i} opens`);
    t.is(opened.header.context, k.context);
  }
});

test("a header's arena transferred away (detached) is replaced: the next seals still work", (t) => {
  const [header] = sealEnvelopeParts(SECRET, key(1), TRUSTED);
  structuredClone(header.buffer, { transfer: [header.buffer] }); // detaches the arena under the header
  t.is(header.length, 0);
  for (let i = 0; i < 3; i++) {
    const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: `after ${i}` });
    t.deepEqual(openEnvelope(env, key(1)).plaintext, SECRET);
  }
});
