import test from "ava";
import { base64url, decodeProtectedHeader, importJWK, SignJWT, type JWK } from "jose";
import { CLOCK_TOLERANCE_SECONDS } from "./jwks.ts";
import { earInput, ISSUER, T0 } from "./_test_support.ts";
import { issueAdminToken, verifyAdminToken } from "./admin_token.ts";
import { TokenError } from "./errors.ts";
import { issueEar } from "./issue_ear.ts";
import { generateSigningKey, publishedJwks, type SigningKey } from "./signing_keys.ts";
import { verifyEar } from "./verify_ear.ts";

let key: SigningKey;
let jwks: { keys: JWK[] };
const input = { issuer: ISSUER, subject: "admin", groups: ["TrustedAdmins"], audience: ISSUER, lifetimeSeconds: 900, now: T0 };

test.before(async () => {
  key = await generateSigningKey(T0);
  jwks = publishedJwks([key], T0);
});

async function code(p: Promise<unknown>): Promise<[string, string]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TokenError) return [e.code, e.message];
    throw e;
  }
  return ["accepted", ""];
}

test("issueAdminToken → verifyAdminToken: typ at+jwt, RFC 9068 claims, the principal", async (t) => {
  const { token, jti, expiresAt } = await issueAdminToken(input, key);
  t.deepEqual(decodeProtectedHeader(token), { alg: "ES256", kid: key.kid, typ: "at+jwt" });
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1]!))) as Record<string, unknown>;
  t.deepEqual(claims, { iss: ISSUER, sub: "admin", aud: ISSUER, iat: T0 / 1000, exp: T0 / 1000 + 900, jti, client_id: "tessera-admin", groups: ["TrustedAdmins"] });
  t.is(expiresAt, T0 + 900_000);
  t.deepEqual(await verifyAdminToken(token, jwks, { issuer: ISSUER, audience: ISSUER, now: T0 + 1000 }), {
    subject: "admin",
    groups: ["TrustedAdmins"],
    issuer: ISSUER,
    expiresAt: T0 + 900_000,
  });
});

test("verifyAdminToken: audience, issuer, expiry boundary", async (t) => {
  const { token } = await issueAdminToken(input, key);
  t.regex((await code(verifyAdminToken(token, jwks, { issuer: ISSUER, audience: "kmxd", now: T0 })))[1], /claim aud/);
  t.regex((await code(verifyAdminToken(token, jwks, { issuer: "https://x", audience: ISSUER, now: T0 })))[1], /claim iss/);
  const last = T0 + 900_000 + CLOCK_TOLERANCE_SECONDS * 1000 - 1;
  t.is((await code(verifyAdminToken(token, jwks, { issuer: ISSUER, audience: ISSUER, now: last })))[0], "accepted");
  t.is((await code(verifyAdminToken(token, jwks, { issuer: ISSUER, audience: ISSUER, now: last + 1 })))[0], "TOKEN_EXPIRED");
});

test("an EAR never verifies as an admin token, and an admin token never as an EAR", async (t) => {
  const ear = (await issueEar(earInput({ issuer: ISSUER }), key)).token;
  const admin = (await issueAdminToken(input, key)).token;
  const [c1, m1] = await code(verifyAdminToken(ear, jwks, { issuer: ISSUER, audience: ISSUER, now: T0 }));
  t.is(c1, "TOKEN_INVALID");
  t.regex(m1, /typ must be at\+jwt/);
  const [c2, m2] = await code(verifyEar(admin, jwks, { issuer: ISSUER, now: T0 }));
  t.is(c2, "TOKEN_INVALID");
  t.regex(m2, /typ "at\+jwt" is not an attestation token's/);
  // Past the typ rule: the same claims re-signed under the other typ still fail on the claims.
  const sk = await importJWK(key.privateJwk, "ES256");
  const earClaims = JSON.parse(new TextDecoder().decode(base64url.decode(ear.split(".")[1]!))) as Record<string, unknown>;
  const earAsAdmin = await new SignJWT({ ...earClaims, aud: ISSUER, groups: ["TrustedAdmins"] })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
    .sign(sk);
  t.regex((await code(verifyAdminToken(earAsAdmin, jwks, { issuer: ISSUER, audience: ISSUER, now: T0 })))[1], /no EAR claims/);
  const adminClaims = JSON.parse(new TextDecoder().decode(base64url.decode(admin.split(".")[1]!))) as Record<string, unknown>;
  const adminAsEar = await new SignJWT(adminClaims).setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" }).sign(sk);
  t.regex((await code(verifyEar(adminAsEar, jwks, { issuer: ISSUER, now: T0 })))[1], /no aud/);
  const { aud: _aud, ...noAud } = adminClaims;
  const adminNoAud = await new SignJWT(noAud).setProtectedHeader({ alg: "ES256", kid: key.kid }).sign(sk);
  t.regex((await code(verifyEar(adminNoAud, jwks, { issuer: ISSUER, now: T0 })))[1], /eat_profile/);
});

test("verifyAdminToken: groups must be strings; issueAdminToken refuses bad input", async (t) => {
  const sk = await importJWK(key.privateJwk, "ES256");
  const bad = await new SignJWT({ iss: ISSUER, sub: "a", aud: ISSUER, iat: T0 / 1000, exp: T0 / 1000 + 60, jti: "j", groups: "TrustedAdmins" })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
    .sign(sk);
  t.regex((await code(verifyAdminToken(bad, jwks, { issuer: ISSUER, audience: ISSUER, now: T0 })))[1], /groups must be an array/);
  t.is((await code(issueAdminToken({ ...input, groups: [""] }, key)))[0], "TOKEN_INPUT");
  t.is((await code(issueAdminToken({ ...input, audience: "" }, key)))[0], "TOKEN_INPUT");
  t.is((await code(issueAdminToken({ ...input, lifetimeSeconds: 86_401 }, key)))[0], "TOKEN_INPUT");
});
