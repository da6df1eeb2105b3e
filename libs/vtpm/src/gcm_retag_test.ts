/**
 * gcmRetag against node:crypto: for any key, nonce, content and two associated data, the retagged tag is the tag
 * node:crypto computes for the new associated data, and it opens there (and not with the old one).
 */
import test from "ava";
import fc from "fast-check";
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { gcmRetag } from "./gcm_retag.ts";

function seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, content: Uint8Array): { body: Buffer; tag: Buffer } {
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(aad);
  const body = c.update(content);
  c.final();
  return { body, tag: c.getAuthTag() };
}

function opens(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, body: Uint8Array, tag: Uint8Array): boolean {
  const d = createDecipheriv("aes-256-gcm", key, nonce);
  d.setAAD(aad);
  d.setAuthTag(tag);
  d.update(body);
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}

test("the retagged tag is node:crypto's tag for the new associated data (edge lengths: empty, one block, partial blocks)", (t) => {
  const key = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(randomBytes(12));
  for (const [contentLen, oldLen, newLen] of [
    [0, 0, 0],
    [0, 5, 40],
    [1, 16, 15],
    [16, 0, 17],
    [17, 31, 32],
    [8192, 64, 300],
    [100_000, 250, 251],
  ]) {
    const content = new Uint8Array(randomBytes(contentLen));
    const oldAad = new Uint8Array(randomBytes(oldLen));
    const newAad = new Uint8Array(randomBytes(newLen));
    const before = seal(key, nonce, oldAad, content);
    const expected = seal(key, nonce, newAad, content).tag;
    const got = gcmRetag(createSecretKey(key), before.tag, oldAad, newAad, contentLen);
    t.is(Buffer.from(got).toString("hex"), expected.toString("hex"), `content ${contentLen}, aad ${oldLen} → ${newLen}`);
    t.true(opens(key, nonce, newAad, before.body, got));
    if (oldLen !== newLen || oldLen > 0) t.false(opens(key, nonce, oldAad, before.body, got));
  }
});

test("a retag does not bless a changed ciphertext, and another key's retag opens nothing", (t) => {
  const key = new Uint8Array(randomBytes(32));
  const nonce = new Uint8Array(randomBytes(12));
  const content = new Uint8Array(randomBytes(1000));
  const oldAad = new TextEncoder().encode("old header");
  const newAad = new TextEncoder().encode("the new header, longer");
  const { body, tag } = seal(key, nonce, oldAad, content);
  const changed = Buffer.from(body);
  changed[500] ^= 1;
  t.false(opens(key, nonce, newAad, changed, gcmRetag(createSecretKey(key), tag, oldAad, newAad, 1000)));
  t.false(opens(key, nonce, newAad, body, gcmRetag(createSecretKey(new Uint8Array(randomBytes(32))), tag, oldAad, newAad, 1000)));
  t.throws(() => gcmRetag(createSecretKey(key), tag.subarray(0, 12), oldAad, newAad, 1000), { instanceOf: RangeError });
});

test("property: retag equals node:crypto's tag for any lengths and bytes", (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 100 }),
      fc.uint8Array({ maxLength: 100 }),
      (key, nonce, content, oldAad, newAad) => {
        const { tag } = seal(key, nonce, oldAad, content);
        const got = gcmRetag(createSecretKey(key), tag, oldAad, newAad, content.length);
        return Buffer.from(got).equals(seal(key, nonce, newAad, content).tag);
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
