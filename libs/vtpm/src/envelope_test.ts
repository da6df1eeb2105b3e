/**
 * The envelope: its layout byte for byte, round trips, the header without a key, rewrap leaving the content's bytes
 * alone, and every way to spoil it (each byte changed, each cut, another key, an unknown version or algorithm)
 * refused with a typed error and no plaintext; fast-check properties and a seeded fuzz run of mutations.
 */
import test from "ava";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { xorshift32 } from "@tessera/fixtures";
import { EnvelopeError, type EnvelopeErrorCode } from "./errors.ts";
import { isEnvelope, openEnvelope, readEnvelopeHeader, rewrapEnvelope, sealEnvelope, type EnvelopeKey } from "./envelope.ts";

const key = (fill: number) => new Uint8Array(32).fill(fill);
const TRUSTED: EnvelopeKey = {
  provider: { name: "kms-1", kind: "trusted" },
  key: { id: "0c1f-primary", version: 3 },
  wrappedDataKey: new TextEncoder().encode("eyJ2IjoxfQ"),
};
const SECRET = new TextEncoder().encode("the guest's sealed disk key: 6d1e…");

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

test("layout: magic TENV, version 1, algorithm 1, then the context, nonces, the key part and the content; its length adds up", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:web-01" });
  const hex = Buffer.from(env).toString("hex");
  t.is(hex.slice(0, 16), "54454e5600010001", "TENV, version 0001, algorithm 0001");
  t.is(hex.slice(16, 20), "0009", "the context's size");
  t.is(Buffer.from(env.subarray(10, 19)).toString(), "vm:web-01");
  // 8 + (2+9) + 12 nonce + 1 kind + (2+5) + (2+12) + 4 + (2+10) + 12 nonce + 48 + content + 16
  t.is(env.length, 8 + 11 + 12 + 1 + 7 + 14 + 4 + 12 + 12 + 48 + SECRET.length + 16);
  t.is(env[8 + 11 + 12], 1, "provider kind 1: trusted");
  t.true(isEnvelope(env));
  t.false(isEnvelope(new TextEncoder().encode("TKE1…")));
});

test("round trip: the plaintext back, the header as sealed; empty and 1 MiB contents; the header readable without a key", (t) => {
  for (const plaintext of [SECRET, new Uint8Array(0), new Uint8Array(randomBytes(1024 * 1024))]) {
    const env = sealEnvelope(plaintext, key(7), TRUSTED, { context: "vm:α" });
    const opened = openEnvelope(env, key(7));
    t.deepEqual(opened.plaintext, plaintext);
    const h = readEnvelopeHeader(env);
    t.deepEqual(h, opened.header);
    t.like(h, {
      version: 1,
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
  t.notDeepEqual(sealEnvelope(SECRET, key(7), TRUSTED), sealEnvelope(SECRET, key(7), TRUSTED), "fresh nonces and content key each time");
});

test("another data key is ENVELOPE_AUTH naming the provider's key, and gives no plaintext", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED);
  const e = refused(t, () => openEnvelope(env, key(2)), "ENVELOPE_AUTH", "wrappedContentKey", "another key");
  t.regex(e.message, /kms-1's key 0c1f-primary version 3/);
  refused(t, () => openEnvelope(env, new Uint8Array(31)), "ENVELOPE_INPUT", "dataKey", "a 31-byte key");
});

test("every byte changed (each bit position once) is refused; so is every cut; nothing opens", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:1" });
  for (let i = 0; i < env.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const m = new Uint8Array(env);
      m[i]! ^= bit;
      refusal(t, () => openEnvelope(m, key(1)), `byte ${i} ^ ${bit}`);
    }
  }
  for (let n = 0; n < env.length; n++) refusal(t, () => openEnvelope(env.subarray(0, n), key(1)), `cut to ${n} bytes`);
  refused(t, () => openEnvelope(new Uint8Array([...env, 0]), key(1)), "ENVELOPE_AUTH", "content", "a byte appended");
});

test("malformed and unknown: the field and byte are named", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED);
  const magic = refused(t, () => readEnvelopeHeader(new TextEncoder().encode("TKE1\x03GCM")), "ENVELOPE_MALFORMED", "magic", "another format");
  t.regex(magic.message, /^envelope magic \(byte 0\): is not an envelope \(it starts 544b4531, not TENV\)/);
  const v2 = new Uint8Array(env);
  v2[5] = 2;
  const ver = refused(t, () => readEnvelopeHeader(v2), "ENVELOPE_VERSION", "version", "version 2");
  t.regex(ver.message, /version 2 is unknown here/);
  const alg = new Uint8Array(env);
  alg[7] = 9;
  refused(t, () => readEnvelopeHeader(alg), "ENVELOPE_VERSION", "algorithm", "algorithm 9");
  const kind = new Uint8Array(env);
  kind[8 + 2 + 12] = 4;
  const k = refused(t, () => readEnvelopeHeader(kind), "ENVELOPE_MALFORMED", "providerKind", "kind 4");
  t.is(k.offset, 22);
  const short = refused(t, () => readEnvelopeHeader(env.subarray(0, 27)), "ENVELOPE_MALFORMED", "providerName", "cut inside the provider name");
  t.regex(short.message, /byte 23/);
  refused(t, () => readEnvelopeHeader(env.subarray(0, env.length - 1 - SECRET.length)), "ENVELOPE_MALFORMED", "content", "no room for the tag");
  refused(
    t,
    () => readEnvelopeHeader(env.subarray(0, env.length - 17 - SECRET.length)),
    "ENVELOPE_MALFORMED",
    "wrappedContentKey",
    "cut inside the content key",
  );
});

test("rewrap to a new data key (another provider): the content's bytes are the same, the old key no longer opens it", (t) => {
  const env = sealEnvelope(SECRET, key(1), TRUSTED, { context: "vm:1" });
  const next: EnvelopeKey = { provider: { name: "kms-2", kind: "standard" }, key: { id: "k2", version: 1 }, wrappedDataKey: new Uint8Array([9, 9]) };
  const moved = rewrapEnvelope(env, key(1), next, key(5));
  t.deepEqual(moved.subarray(moved.length - SECRET.length - 16), env.subarray(env.length - SECRET.length - 16), "content untouched");
  t.like(readEnvelopeHeader(moved), { context: "vm:1", provider: { name: "kms-2", kind: "standard" }, key: { id: "k2", version: 1 } });
  t.deepEqual(openEnvelope(moved, key(5)).plaintext, SECRET);
  refused(t, () => openEnvelope(moved, key(1)), "ENVELOPE_AUTH", "wrappedContentKey", "the old data key");
  // The same data key, as a rotated primary key wrapped it: only the key part changes.
  const rotated = rewrapEnvelope(env, key(1), { ...TRUSTED, key: { id: "0c1f-primary", version: 4 }, wrappedDataKey: new Uint8Array([4]) }, key(1));
  t.like(readEnvelopeHeader(rotated), { key: { version: 4 } });
  t.deepEqual(openEnvelope(rotated, key(1)).plaintext, SECRET);
  refused(t, () => rewrapEnvelope(env, key(2), next, key(5)), "ENVELOPE_AUTH", "wrappedContentKey", "rewrap with the wrong current key");
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
        return Buffer.compare(openEnvelope(moved, key(3)).plaintext, plaintext) === 0 && readEnvelopeHeader(moved).provider.name === next.provider.name;
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
