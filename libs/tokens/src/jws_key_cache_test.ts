import test from "ava";
import { ISSUER, T0 } from "./_test_support.ts";
import { issueAdminToken, verifyAdminToken } from "./admin_token.ts";
import { TokenError } from "./errors.ts";
import { generateSigningKey, publishedJwks } from "./signing_keys.ts";

const input = { issuer: ISSUER, subject: "admin", groups: ["TrustedAdmins"], audience: ISSUER, lifetimeSeconds: 900, now: T0 };

test("imported keys are reused per key, never across keys: A, B, A again each sign with their own key", async (t) => {
  const a = await generateSigningKey(T0);
  const b = await generateSigningKey(T0);
  const onlyA = publishedJwks([a], T0);
  const onlyB = publishedJwks([b], T0);
  for (const [signer, own, other] of [
    [a, onlyA, onlyB],
    [b, onlyB, onlyA],
    [a, onlyA, onlyB],
    [b, onlyB, onlyA],
  ] as const) {
    const { token } = await issueAdminToken(input, signer);
    t.is((await verifyAdminToken(token, own, { issuer: ISSUER, audience: ISSUER, now: T0 })).subject, "admin");
    // The other key's JWKS under this kid: the signature must not verify with a cached key of the other.
    const swapped = { keys: other.keys.map((k) => ({ ...k, kid: signer.kid })) };
    const e = await t.throwsAsync(verifyAdminToken(token, swapped, { issuer: ISSUER, audience: ISSUER, now: T0 }));
    t.true(e instanceof TokenError && e.code === "TOKEN_INVALID", String(e));
  }
});

test("more keys than the import cache holds still sign and verify correctly", async (t) => {
  const keys = await Promise.all(Array.from({ length: 40 }, () => generateSigningKey(T0)));
  for (const k of [...keys, ...keys.slice(0, 5)]) {
    const { token } = await issueAdminToken(input, k);
    t.is((await verifyAdminToken(token, publishedJwks([k], T0), { issuer: ISSUER, audience: ISSUER, now: T0 })).subject, "admin");
  }
});

test("ES256 signatures as r || s: 800 tokens (about 6 with an r or s shorter than 32 bytes) all verify, each 64 bytes", async (t) => {
  const k = await generateSigningKey(T0);
  const jwks = publishedJwks([k], T0);
  for (let i = 0; i < 800; i++) {
    const { token } = await issueAdminToken({ ...input, subject: `admin-${i}` }, k);
    t.is(Buffer.from(token.split(".")[2]!, "base64url").length, 64);
    // One failure fails the test (t.is per token would make 800 assertions of noise).
    const v = await verifyAdminToken(token, jwks, { issuer: ISSUER, audience: ISSUER, now: T0 }).then(
      (c) => c.subject,
      (e: unknown) => String(e),
    );
    if (v !== `admin-${i}`) t.fail(`token ${i}: ${v}`);
  }
});
