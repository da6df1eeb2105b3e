import test from "ava";
import { rm } from "node:fs/promises";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { bearerAuth } from "./auth.ts";
import { BearerTokenError } from "./errors.ts";
import { oidcVerifier } from "./oidc.ts";
import { serveHttps } from "./serve_https.ts";
import { createService } from "./service.ts";
import { captureLogger, testTls } from "./_test_support.ts";

interface Issuer {
  issuer: string;
  ca: string;
  sign(claims: Record<string, unknown>, opts?: { kid?: string; exp?: number; iss?: string; aud?: string; key?: CryptoKey }): Promise<string>;
  jwksFetches: () => number;
}

/** A real issuer over HTTPS: discovery document and JWKS, keys made with jose. */
async function startIssuer(t: { teardown(fn: () => Promise<void>): void }): Promise<Issuer> {
  const tls = await testTls();
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "key-1", alg: "ES256", use: "sig" };
  let fetches = 0;
  const app = createService({ name: "issuer", logger: captureLogger().logger });
  let issuer = "";
  app.get("/.well-known/openid-configuration", (c) => c.json({ issuer, jwks_uri: `${issuer}/jwks.json` }));
  app.get("/jwks.json", (c) => {
    fetches++;
    return c.json({ keys: [jwk] });
  });
  const s = await serveHttps(app.fetch, { host: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  issuer = s.url;
  t.teardown(async () => {
    await s.close();
    await rm(tls.dir, { recursive: true, force: true });
  });
  return {
    issuer,
    ca: tls.ca,
    jwksFetches: () => fetches,
    async sign(claims, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: o.kid ?? "key-1" })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? "attestd")
        .setSubject("alice")
        .setIssuedAt(now - 10)
        .setExpirationTime(o.exp ?? now + 300)
        .sign(o.key ?? privateKey);
    },
  };
}

test("oidcVerifier: a valid token from a real HTTPS issuer (discovery + JWKS) gives the principal with its groups", async (t) => {
  const iss = await startIssuer(t);
  const v = oidcVerifier({ issuer: iss.issuer, audience: "attestd", ca: iss.ca });
  const p = await v.verify(await iss.sign({ groups: ["TrustedAdmins", "TrustedReaders"] }));
  t.deepEqual(p, { subject: "alice", groups: ["TrustedAdmins", "TrustedReaders"], issuer: iss.issuer });
  t.deepEqual((await v.verify(await iss.sign({}))).groups, []);
  t.is(iss.jwksFetches(), 1, "keys are cached");
});

test("oidcVerifier: wrong issuer, wrong audience, expired, unknown kid and a foreign key are refused with typed codes", async (t) => {
  const iss = await startIssuer(t);
  const v = oidcVerifier({ issuer: iss.issuer, audience: "attestd", jwksUrl: `${iss.issuer}/jwks.json`, ca: iss.ca });
  const check = async (token: Promise<string>, code: BearerTokenError["code"], message: RegExp) => {
    const e = await t.throwsAsync(v.verify(await token), { instanceOf: BearerTokenError });
    t.is(e?.code, code);
    t.regex(e?.message ?? "", message);
  };
  await check(iss.sign({}, { iss: "https://evil.example" }), "TOKEN_INVALID", /"iss" claim/);
  await check(iss.sign({}, { aud: "kmxd" }), "TOKEN_INVALID", /"aud" claim/);
  await check(iss.sign({}, { exp: Math.floor(Date.now() / 1000) - 120 }), "TOKEN_EXPIRED", /expired/);
  await check(iss.sign({}, { kid: "key-2" }), "TOKEN_INVALID", /no applicable key|matching/i);
  const other = await generateKeyPair("ES256");
  await check(iss.sign({}, { key: other.privateKey }), "TOKEN_INVALID", /signature/);
  await check(Promise.resolve("not.a.jwt"), "TOKEN_INVALID", /does not verify/);
  await check(iss.sign({ groups: "TrustedAdmins" }), "TOKEN_INVALID", /groups claim/);
});

test("oidcVerifier: an issuer whose TLS is not trusted, or a JWKS address that is not 200, is JWKS_UNAVAILABLE; behind bearerAuth that is 503", async (t) => {
  const iss = await startIssuer(t);
  const v = oidcVerifier({ issuer: iss.issuer, audience: "attestd" });
  const e = await t.throwsAsync(v.verify(await iss.sign({})), { instanceOf: BearerTokenError });
  t.is(e?.code, "JWKS_UNAVAILABLE");
  const missing = oidcVerifier({ issuer: iss.issuer, audience: "attestd", jwksUrl: `${iss.issuer}/no-such-jwks`, ca: iss.ca });
  const e2 = await t.throwsAsync(missing.verify(await iss.sign({})), { instanceOf: BearerTokenError });
  t.is(e2?.code, "JWKS_UNAVAILABLE");
  const app = createService({ name: "t", logger: captureLogger().logger });
  app.use(bearerAuth(v));
  app.get("/x", (c) => c.text("x"));
  const r = await app.request("/x", { headers: { authorization: `Bearer ${await iss.sign({})}` } });
  t.is(r.status, 503);
});

test("bearerAuth over oidcVerifier end to end: valid → 200, expired → 401 token-expired", async (t) => {
  const iss = await startIssuer(t);
  const app = createService({ name: "t", logger: captureLogger().logger });
  app.use(bearerAuth(oidcVerifier({ issuer: iss.issuer, audience: "attestd", ca: iss.ca })));
  app.get("/whoami", (c) => c.json(c.get("principal")));
  const ok = await app.request("/whoami", { headers: { authorization: `Bearer ${await iss.sign({ groups: ["g"] })}` } });
  t.is(ok.status, 200);
  t.like(await ok.json(), { subject: "alice", groups: ["g"] });
  const exp = await app.request("/whoami", { headers: { authorization: `Bearer ${await iss.sign({}, { exp: Math.floor(Date.now() / 1000) - 120 })}` } });
  t.is(exp.status, 401);
  t.is(((await exp.json()) as { type: string }).type, "urn:tessera:problem:token-expired");
});
