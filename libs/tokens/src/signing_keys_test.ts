import test from "ava";
import { calculateJwkThumbprint, importJWK, jwtVerify } from "jose";
import { CLOCK_TOLERANCE_SECONDS } from "./jwks.ts";
import { earInput, ISSUER, T0 } from "./_test_support.ts";
import { issueEar } from "./issue_ear.ts";
import { activeSigningKey, generateSigningKey, publishedJwks, type SigningKey } from "./signing_keys.ts";
import { verifyEar } from "./verify_ear.ts";

test("generateSigningKey: ES256 P-256, kid is the RFC 7638 thumbprint, public JWK has no private member", async (t) => {
  const k = await generateSigningKey(T0);
  t.is(k.createdAt, T0);
  t.is(k.publicJwk.kty, "EC");
  t.is(k.publicJwk.crv, "P-256");
  t.is(k.publicJwk.alg, "ES256");
  t.is(k.publicJwk.use, "sig");
  t.is(k.publicJwk.d, undefined);
  t.is(typeof k.privateJwk.d, "string");
  if (k.publicJwk.x === undefined || k.publicJwk.y === undefined) throw new Error("no point");
  t.is(k.kid, await calculateJwkThumbprint({ kty: "EC", crv: "P-256", x: k.publicJwk.x, y: k.publicJwk.y }, "sha256"));
  t.is(k.publicJwk.kid, k.kid);
  t.regex(k.kid, /^[A-Za-z0-9_-]{43}$/);
  const other = await generateSigningKey(T0);
  t.not(other.kid, k.kid);
  // The private JWK signs what the public JWK verifies.
  const { token } = await issueEar(earInput(), k);
  await t.notThrowsAsync(jwtVerify(token, await importJWK(k.publicJwk, "ES256"), { currentDate: new Date(T0) }));
});

function key(kid: string, createdAt: number, more: Partial<SigningKey> = {}): SigningKey {
  return { kid, createdAt, privateJwk: { kty: "EC" }, publicJwk: { kty: "EC", crv: "P-256", x: "x" + kid, y: "y" + kid, d: "secret" }, ...more };
}

test("activeSigningKey: the newest not retired, ties broken by kid, none when all are retired", (t) => {
  t.is(activeSigningKey([]), undefined);
  t.is(activeSigningKey([key("a", 1), key("b", 3), key("c", 2)])?.kid, "b");
  t.is(activeSigningKey([key("a", 1), key("b", 3, { retiredAt: 4 }), key("c", 2)])?.kid, "c");
  t.is(activeSigningKey([key("a", 5), key("b", 5)])?.kid, "b");
  t.is(activeSigningKey([key("b", 5), key("a", 5)])?.kid, "b");
  t.is(activeSigningKey([key("a", 1, { retiredAt: 2 })]), undefined);
});

test("publishedJwks: a retired key stays until its last token expired (plus the clock tolerance), exactly", (t) => {
  const lastExp = T0 + 3600_000;
  const until = lastExp + CLOCK_TOLERANCE_SECONDS * 1000;
  const keys = [
    key("new", T0 + 10, {}),
    key("old", T0, { retiredAt: T0 + 10, lastTokenExpiresAt: lastExp }),
    key("unused", T0 - 5, { retiredAt: T0 + 1 }),
  ];
  const kids = (now: number) => publishedJwks(keys, now).keys.map((k) => k.kid);
  t.deepEqual(kids(T0 + 10), ["new", "old"]);
  t.deepEqual(kids(lastExp), ["new", "old"]);
  t.deepEqual(kids(until - 1), ["new", "old"], "the last instant a verifier may still accept the token");
  t.deepEqual(kids(until), ["new"], "from the instant no verifier accepts it");
  t.deepEqual(kids(until + 1), ["new"]);
  // Never a private member, and every entry carries its kid.
  for (const k of publishedJwks(keys, T0).keys) {
    t.is(k.d, undefined);
    t.truthy(k.kid);
  }
});

test("publishedJwks: every key not retired is published (another node may sign with it mid-rotation)", (t) => {
  const keys = [key("a", 1), key("b", 2)];
  t.deepEqual(
    publishedJwks(keys, 3).keys.map((k) => k.kid),
    ["b", "a"],
  );
});

test("rotation end to end: a token of the retired key verifies with the published JWKS until it expires; after, its key is gone", async (t) => {
  const old = await generateSigningKey(T0);
  const { token, expiresAt } = await issueEar(earInput({ now: T0, lifetimeSeconds: 600 }), old);
  const fresh = await generateSigningKey(T0 + 60_000);
  const keys: SigningKey[] = [{ ...old, retiredAt: T0 + 60_000, lastTokenExpiresAt: expiresAt }, fresh];
  t.is(activeSigningKey(keys)?.kid, fresh.kid);
  const before = T0 + 599_000;
  await t.notThrowsAsync(verifyEar(token, publishedJwks(keys, before), { issuer: ISSUER, now: before }));
  const gone = expiresAt + CLOCK_TOLERANCE_SECONDS * 1000;
  const e = await t.throwsAsync(verifyEar(token, publishedJwks(keys, gone), { issuer: ISSUER, now: gone }));
  t.is((e as { code?: string }).code, "TOKEN_INVALID");
  t.regex(e!.message, /not in the JWKS/);
});
