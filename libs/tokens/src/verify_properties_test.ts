/**
 * fast-check properties of verifyEar and verifyAdminToken on hostile input: whatever is changed in a good
 * token (a character replaced, inserted or deleted, a bit flipped in any decoded part, a part swapped with
 * another token's), the verifier refuses it, and refuses only with a TokenError; arbitrary strings and
 * arbitrary JWKS never make it throw anything else.
 */
import test from "ava";
import fc from "fast-check";
import { base64url, type JWK } from "jose";
import { earInput, ISSUER, T0 } from "./_test_support.ts";
import { issueAdminToken, verifyAdminToken } from "./admin_token.ts";
import { TokenError } from "./errors.ts";
import { issueEar } from "./issue_ear.ts";
import { generateSigningKey, publishedJwks } from "./signing_keys.ts";
import { verifyEar } from "./verify_ear.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u00e9\u0000";

let ear: string;
let otherEar: string;
let admin: string;
let jwks: { keys: JWK[] };
const at = T0 + 1000;

test.before(async () => {
  const key = await generateSigningKey(T0);
  jwks = publishedJwks([key], T0);
  ear = (await issueEar(earInput(), key)).token;
  otherEar = (await issueEar(earInput({ subject: "host2.example.test" }), key)).token;
  admin = (await issueAdminToken({ issuer: ISSUER, subject: "admin", groups: ["TrustedAdmins"], audience: ISSUER, lifetimeSeconds: 600, now: T0 }, key)).token;
});

/** A changed copy of `token`. */
function mutation(token: () => string): fc.Arbitrary<string> {
  return fc
    .oneof(
      // replace one character
      fc.tuple(fc.nat(), fc.constantFrom(...ALPHABET)).map(([i, c]) => (s: string) => {
        const j = i % s.length;
        return s.slice(0, j) + c + s.slice(j + 1);
      }),
      // insert one character
      fc.tuple(fc.nat(), fc.constantFrom(...ALPHABET)).map(([i, c]) => (s: string) => {
        const j = i % (s.length + 1);
        return s.slice(0, j) + c + s.slice(j);
      }),
      // delete a run of characters
      fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8 })).map(([i, n]) => (s: string) => {
        const j = i % s.length;
        return s.slice(0, j) + s.slice(j + n);
      }),
      // flip a bit of a decoded part and re-encode canonically
      fc.tuple(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 0, max: 7 })).map(([part, i, bit]) => (s: string) => {
        const parts = s.split(".");
        const b = base64url.decode(parts[part]!);
        b[i % b.length]! ^= 1 << bit;
        parts[part] = base64url.encode(b);
        return parts.join(".");
      }),
      // swap one part with another token's (signed by the same key)
      fc.nat({ max: 2 }).map((part) => (s: string) => {
        const parts = s.split(".");
        parts[part] = otherEar.split(".")[part]!;
        return parts.join(".");
      }),
    )
    .map((f) => f(token()));
}

async function outcome(p: Promise<unknown>): Promise<"accepted" | "token-error" | "other"> {
  try {
    await p;
    return "accepted";
  } catch (e) {
    return e instanceof TokenError && (e.code === "TOKEN_INVALID" || e.code === "TOKEN_EXPIRED") ? "token-error" : "other";
  }
}

test("verifyEar never accepts a changed token and never throws anything but TokenError", async (t) => {
  t.is(await outcome(verifyEar(ear, jwks, { issuer: ISSUER, now: at })), "accepted");
  await fc.assert(
    fc.asyncProperty(mutation(() => ear), async (m) => {
      const r = await outcome(verifyEar(m, jwks, { issuer: ISSUER, now: at }));
      return m === ear ? r === "accepted" : r === "token-error";
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test("verifyAdminToken never accepts a changed token and never throws anything but TokenError", async (t) => {
  const o = { issuer: ISSUER, audience: ISSUER, now: at };
  t.is(await outcome(verifyAdminToken(admin, jwks, o)), "accepted");
  await fc.assert(
    fc.asyncProperty(mutation(() => admin), async (m) => {
      const r = await outcome(verifyAdminToken(m, jwks, o));
      return m === admin ? r === "accepted" : r === "token-error";
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test("arbitrary strings, JSON-looking tokens and hostile JWKS give TokenError only", async (t) => {
  const part = fc.oneof(fc.string(), fc.json().map((j) => base64url.encode(j)), fc.uint8Array({ maxLength: 80 }).map((b) => base64url.encode(b)));
  const tokenArb = fc.oneof(fc.string({ maxLength: 300 }), fc.tuple(part, part, part).map((p) => p.join(".")), fc.constant(ear));
  const jwksArb = fc.oneof(
    fc.constant(jwks as unknown),
    fc.anything(),
    fc.record({ keys: fc.array(fc.oneof(fc.anything(), fc.record({ kid: fc.constantFrom(JSON.parse(atob(ear.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))).kid as string), kty: fc.constantFrom("EC", "RSA", "oct"), crv: fc.string(), x: fc.string(), y: fc.string() }))) }),
  );
  await fc.assert(
    fc.asyncProperty(tokenArb, jwksArb, async (tok, set) => {
      const a = await outcome(verifyEar(tok, set as { keys: JWK[] }, { issuer: ISSUER, now: at }));
      const b = await outcome(verifyAdminToken(tok, set as { keys: JWK[] }, { issuer: ISSUER, audience: ISSUER, now: at }));
      const earOk = tok === ear && set === jwks;
      return a === (earOk ? "accepted" : "token-error") && b === "token-error";
    }),
    { numRuns: 500 },
  );
  t.pass();
});
