/**
 * The cluster a host's token places it in, by each kind of rule (host pattern, EK pin, TPM CA), and the grant check.
 * The claims are those of a verified token (routes/host_test.ts drives the same function through real attestd tokens).
 */
import test from "ava";
import { CLOCK_TOLERANCE_SECONDS, EAR_PROFILE, generateSigningKey, issueEar, publishedJwks, type EarClaims, type Jwks } from "@tessera/tokens";
import { authorizeProvider, HostRefusal, VerifiedTokens, verifyHostToken } from "./host_auth.ts";

const CA = "c1".repeat(32);
const EK = "e7".repeat(32);

function caller(host: string, tessera: Partial<EarClaims["tessera"]> = {}) {
  const claims: EarClaims = {
    eat_profile: EAR_PROFILE,
    iat: 1,
    exp: 2,
    jti: "j",
    iss: "https://ta.test",
    sub: host,
    eat_nonce: "00".repeat(32),
    "ear.verifier-id": { developer: "tessera", build: "t" },
    submods: { tpm: { "ear.status": "affirming" } },
    tessera: { ekFingerprint: "ab".repeat(32), akName: "000b" + "cd".repeat(32), secureBoot: true, pcrDigest: "12".repeat(32), pcrSelection: "sha256:0", ...tessera },
  };
  return { host, claims };
}

const clusters = [
  { name: "by-ca", rules: [{ tpmCa: CA }] },
  { name: "by-ek", rules: [{ ekFingerprint: EK }] },
  { name: "web", rules: [{ host: "web-*.example.test" }] },
];

test("a host is placed by its EK's TPM CA (tessera.ekCa), its pinned EK, or its name; else in default", (t) => {
  t.is(authorizeProvider(caller("db-1.example.test", { ekCa: CA }), "p", ["by-ca"], clusters), "by-ca");
  t.is(authorizeProvider(caller("db-1.example.test", { ekFingerprint: EK }), "p", ["by-ek"], clusters), "by-ek");
  t.is(authorizeProvider(caller("web-3.example.test"), "p", ["web"], clusters), "web");
  t.is(authorizeProvider(caller("db-1.example.test", { ekCa: "0f".repeat(32) }), "p", ["default"], clusters), "default");
});

test("a cluster without the grant is refused with provider-not-allowed naming the cluster", (t) => {
  const e = t.throws(() => authorizeProvider(caller("db-1.example.test", { ekCa: CA }), "vault", ["default"], clusters), { instanceOf: HostRefusal });
  t.is(e?.code, "provider-not-allowed");
  t.is(e?.status, 403);
  t.regex(e?.message ?? "", /trusted cluster by-ca, which may not use provider vault/);
});

// The verified-token cache, with real tokens (libs/tokens issueEar) and a JWKS source that counts its calls.
const ISS = "https://ta.example.test:7889";
const T = Date.UTC(2026, 0, 1);

async function tokenAndJwks(signer?: Awaited<ReturnType<typeof generateSigningKey>>, subject = "host1.example.test") {
  const key = signer ?? (await generateSigningKey(T));
  const jwks = publishedJwks([key], T);
  const { token } = await issueEar(
    {
      issuer: ISS,
      subject,
      nonce: "0f".repeat(32),
      now: T,
      lifetimeSeconds: 600,
      verifierBuild: "attestd/test",
      ekFingerprint: "ab".repeat(32),
      akName: "000b" + "cd".repeat(32),
      secureBoot: true,
      pcrDigest: "12".repeat(32),
      pcrSelection: "sha256:0",
    },
    key,
  );
  return { token, jwks };
}

const source = (j: { current: Jwks }) => ({ get: async () => j.current, refresh: async () => j.current });

test("verified tokens: the same token again is not verified again while its JWKS is the same object", async (t) => {
  const { token, jwks } = await tokenAndJwks();
  const verified = new VerifiedTokens();
  const j = { current: jwks };
  const first = await verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T, verified });
  t.is(first.host, "host1.example.test");
  t.is(verified.size, 1);
  // The same JWKS object emptied in place: only a kept verification can accept the token now.
  const keys = jwks.keys.splice(0);
  const again = await verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T + 1000, verified });
  t.is(again.claims, first.claims);
  // Without the cache (or another issuer) the emptied JWKS refuses it: the check above can fail.
  const e = await t.throwsAsync(verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T }), { instanceOf: HostRefusal });
  t.is(e?.code, "token-invalid");
  await t.throwsAsync(verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: "https://other.test", now: T, verified }), { instanceOf: HostRefusal });
  jwks.keys.push(...keys);
});

test("verified tokens: a new JWKS object (rotation, refetch) and the token's expiry drop the entry", async (t) => {
  const { token, jwks } = await tokenAndJwks();
  const verified = new VerifiedTokens();
  const j = { current: jwks };
  await verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T, verified });
  // attestd's keys changed: a JWKS without the token's key refuses it at once.
  j.current = { keys: [] };
  const rotated = await t.throwsAsync(verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T, verified }), { instanceOf: HostRefusal });
  t.is(rotated?.code, "token-invalid");
  t.is(verified.size, 0);
  // Kept again, then past exp (+ the clock tolerance): refused as expired, not served from the cache.
  j.current = jwks;
  await verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T, verified });
  const exp = T + 600_000;
  await t.notThrowsAsync(verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: exp + (CLOCK_TOLERANCE_SECONDS - 1) * 1000, verified }));
  const expired = await t.throwsAsync(verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: exp + CLOCK_TOLERANCE_SECONDS * 1000, verified }), {
    instanceOf: HostRefusal,
  });
  t.is(expired?.code, "token-expired");
});

test("verified tokens: bounded, the oldest out", async (t) => {
  const verified = new VerifiedTokens(2);
  const key = await generateSigningKey(T);
  const tokens = await Promise.all(["h1", "h2", "h3"].map((h) => tokenAndJwks(key, `${h}.example.test`)));
  const j = { current: tokens[0]!.jwks };
  for (const { token } of tokens) await verifyHostToken(`Bearer ${token}`, { jwks: source(j), issuer: ISS, now: T, verified });
  t.is(verified.size, 2);
  t.is(verified.get(tokens[0]!.token, j.current, ISS, T), undefined);
  t.is(verified.get(tokens[2]!.token, j.current, ISS, T)?.sub, "h3.example.test");
  t.is(verified.get(tokens[1]!.token, j.current, ISS, T)?.sub, "h2.example.test");
});
