import test from "ava";
import { createPrivateKey, sign, type JsonWebKey as NodeJwk } from "node:crypto";
import { base64url, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from "jose";
import { CLOCK_TOLERANCE_SECONDS } from "./jwks.ts";
import { earInput, ISSUER, T0 } from "./_test_support.ts";
import { AFFIRMING_TRUST_VECTOR, DEFAULT_APPRAISAL_POLICY_ID, EAR_PROFILE } from "./ear_claims.ts";
import { TokenError, type TokenErrorCode } from "./errors.ts";
import { issueEar } from "./issue_ear.ts";
import { generateSigningKey, publishedJwks, type SigningKey } from "./signing_keys.ts";
import { verifyEar } from "./verify_ear.ts";

let key: SigningKey;
let jwks: { keys: JWK[] };
let rsaJwk: JWK;

test.before(async () => {
  key = await generateSigningKey(T0);
  jwks = publishedJwks([key], T0);
  const { publicKey } = await generateKeyPair("RSA-OAEP-256", { modulusLength: 2048, extractable: true });
  rsaJwk = { ...(await exportJWK(publicKey)), alg: "RSA-OAEP-256", use: "enc" };
});

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1]!))) as Record<string, unknown>;
}

/** Signs arbitrary claims and header with the test key, to reach each rule past the signature. */
async function forge(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const k = await importJWK(key.privateJwk, "ES256");
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT", ...header }).sign(k);
}

async function rejects(t: import("ava").ExecutionContext, p: Promise<unknown>, code: TokenErrorCode, message: RegExp): Promise<void> {
  const e = await t.throwsAsync(p, { instanceOf: TokenError });
  t.is((e as TokenError).code, code, e?.message);
  t.regex(e!.message, message);
}

test("issueEar: header and the exact claims of PROTOCOL.md's attestation token", async (t) => {
  const { token, jti, expiresAt } = await issueEar(earInput({ now: T0 + 999, cnfJwk: rsaJwk, jti: "jti-1" }), key);
  t.deepEqual(decodeProtectedHeader(token), { alg: "ES256", kid: key.kid, typ: "JWT" });
  t.is(jti, "jti-1");
  t.is(expiresAt, T0 + 3600_000);
  t.deepEqual(payloadOf(token), {
    eat_profile: "tag:github.com,2023:veraison/ear",
    iat: T0 / 1000,
    exp: T0 / 1000 + 3600,
    jti: "jti-1",
    iss: ISSUER,
    sub: "host1.example.test",
    eat_nonce: "0f".repeat(32),
    "ear.verifier-id": { developer: "tessera", build: "attestd/0.1.0" },
    submods: {
      tpm: {
        "ear.status": "affirming",
        "ear.trustworthiness-vector": { "instance-identity": 2, configuration: 2, executables: 3, hardware: 2 },
        "ear.appraisal-policy-id": DEFAULT_APPRAISAL_POLICY_ID,
      },
    },
    tessera: {
      ekFingerprint: "ab".repeat(32),
      akName: "000b" + "cd".repeat(32),
      image: { name: "esxi-like", version: "8.0.3" },
      secureBoot: true,
      pcrDigest: "12".repeat(32),
      pcrSelection: "sha256:0,1,2,3,4,5,6,7",
      trustedCluster: "cluster-a",
    },
    cnf: { jwk: JSON.parse(JSON.stringify(rsaJwk)) as unknown },
  });
});

test("issueEar → verifyEar round trip returns the claims; without a binding key there is no cnf", async (t) => {
  const { token, jti } = await issueEar(earInput(), key);
  const c = await verifyEar(token, jwks, { issuer: ISSUER, now: T0 + 1000 });
  t.is(c.jti, jti);
  t.is(c.sub, "host1.example.test");
  t.is(c.eat_profile, EAR_PROFILE);
  t.is(c.submods.tpm["ear.status"], "affirming");
  t.deepEqual(c.submods.tpm["ear.trustworthiness-vector"], { ...AFFIRMING_TRUST_VECTOR });
  t.is(c.tessera.image?.version, "8.0.3");
  t.is(c.cnf, undefined);
  t.false("cnf" in payloadOf(token));
  t.is(c.tessera.ekCa, undefined);
  const withCa = await issueEar(earInput({ ekCa: "9a".repeat(32) }), key);
  t.is((await verifyEar(withCa.token, jwks, { issuer: ISSUER, now: T0 })).tessera.ekCa, "9a".repeat(32));
  await t.throwsAsync(issueEar(earInput({ ekCa: "9A" }), key), { instanceOf: TokenError, message: /ekCa/ });
  const badCa = await forge({ ...payloadOf(withCa.token), tessera: { ...(payloadOf(withCa.token)["tessera"] as object), ekCa: 7 } });
  await rejects(t, verifyEar(badCa, jwks, { issuer: ISSUER, now: T0 }), "TOKEN_INVALID", /tessera\.ekCa/);
  const withCnf = await issueEar(earInput({ cnfJwk: rsaJwk }), key);
  t.deepEqual((await verifyEar(withCnf.token, jwks, { issuer: ISSUER, now: T0 })).cnf?.jwk, JSON.parse(JSON.stringify(rsaJwk)));
});

test("verifyEar: expiry at the boundary instants of the clock tolerance, TOKEN_EXPIRED only for a good signature", async (t) => {
  const { token } = await issueEar(earInput({ lifetimeSeconds: 60 }), key);
  const exp = T0 + 60_000;
  const last = exp + CLOCK_TOLERANCE_SECONDS * 1000 - 1;
  await t.notThrowsAsync(verifyEar(token, jwks, { issuer: ISSUER, now: last }));
  await rejects(t, verifyEar(token, jwks, { issuer: ISSUER, now: last + 1 }), "TOKEN_EXPIRED", /expired/);
  // An expired token with a bad signature is invalid, not merely expired.
  const parts = token.split(".");
  const sig = base64url.decode(parts[2]!);
  sig[5]! ^= 1;
  await rejects(t, verifyEar(`${parts[0]}.${parts[1]}.${base64url.encode(sig)}`, jwks, { issuer: ISSUER, now: last + 1 }), "TOKEN_INVALID", /signature/);
});

test("verifyEar: iat in the future beyond the tolerance is refused, within it accepted", async (t) => {
  const { token } = await issueEar(earInput({ now: T0 + CLOCK_TOLERANCE_SECONDS * 1000 }), key);
  await t.notThrowsAsync(verifyEar(token, jwks, { issuer: ISSUER, now: T0 }));
  await rejects(t, verifyEar(token, jwks, { issuer: ISSUER, now: T0 - 1000 }), "TOKEN_INVALID", /iat is in the future/);
});

test("verifyEar: each rule of the header and registered claims, named in the message", async (t) => {
  const good = payloadOf((await issueEar(earInput(), key)).token) as JWTPayload;
  const at = { issuer: ISSUER, now: T0 };
  await rejects(t, verifyEar((await issueEar(earInput(), key)).token, jwks, { issuer: "https://other.example", now: T0 }), "TOKEN_INVALID", /claim iss/);
  await rejects(t, verifyEar(await forge(good, { kid: "nope" }), jwks, at), "TOKEN_INVALID", /kid "nope" is not in the JWKS/);
  await rejects(t, verifyEar(await forge(good, { kid: undefined }), jwks, at), "TOKEN_INVALID", /kid is missing/);
  await rejects(t, verifyEar(await forge(good, { typ: "at+jwt" }), jwks, at), "TOKEN_INVALID", /typ "at\+jwt"/);
  const hs = await new SignJWT(good).setProtectedHeader({ alg: "HS256", kid: key.kid }).sign(new Uint8Array(32));
  await rejects(t, verifyEar(hs, jwks, at), "TOKEN_INVALID", /alg must be ES256/);
  const none = `${base64url.encode(JSON.stringify({ alg: "none", kid: key.kid }))}.${base64url.encode(JSON.stringify(good))}.`;
  await rejects(t, verifyEar(none, jwks, at), "TOKEN_INVALID", /alg must be ES256/);
  // Signed by another ES256 key that claims our kid.
  const other = await generateSigningKey(T0);
  const stolen = await new SignJWT(good).setProtectedHeader({ alg: "ES256", kid: key.kid }).sign(await importJWK(other.privateJwk, "ES256"));
  await rejects(t, verifyEar(stolen, jwks, at), "TOKEN_INVALID", /signature does not verify/);
  // ES256's signature is r ‖ s, 64 bytes: one byte short or long, or the DER a plain OpenSSL signer writes, is refused.
  const [h0, p0, s0] = (await forge(good)).split(".");
  const rs = base64url.decode(s0!);
  const der = sign("sha256", Buffer.from(`${h0}.${p0}`), createPrivateKey({ key: key.privateJwk as NodeJwk, format: "jwk" }));
  for (const sig of [rs.subarray(0, 63), Uint8Array.of(...rs, 0), new Uint8Array(der)]) {
    await rejects(t, verifyEar(`${h0}.${p0}.${base64url.encode(sig)}`, jwks, at), "TOKEN_INVALID", new RegExp(`signature is ${sig.length} bytes, not ES256's 64`));
  }
  await rejects(t, verifyEar(await forge(good), { keys: [...jwks.keys, ...jwks.keys] }, at), "TOKEN_INVALID", /names 2 keys/);
  await rejects(t, verifyEar(await forge(good), { keys: [{ ...key.privateJwk, kid: key.kid }] }, at), "TOKEN_INVALID", /not a public P-256 key/);
  await rejects(t, verifyEar("a.b", jwks, at), "TOKEN_INVALID", /2 parts/);
  await rejects(t, verifyEar("x".repeat(20_000), jwks, at), "TOKEN_INVALID", /longer than/);
  for (const claim of ["exp", "iat", "jti", "sub"]) {
    const { [claim]: _drop, ...rest } = good;
    await rejects(t, verifyEar(await forge(rest), jwks, at), "TOKEN_INVALID", new RegExp(claim));
  }
  await rejects(t, verifyEar(await forge({ ...good, aud: "x" }), jwks, at), "TOKEN_INVALID", /no aud/);
  await rejects(t, verifyEar(await forge({ ...good, nbf: T0 / 1000 + CLOCK_TOLERANCE_SECONDS + 1 }), jwks, at), "TOKEN_INVALID", /claim nbf/);
  await t.notThrowsAsync(verifyEar(await forge({ ...good, nbf: T0 / 1000 + CLOCK_TOLERANCE_SECONDS }), jwks, at));
  await rejects(t, verifyEar(await forge({ ...good, exp: String(good.exp) } as unknown as JWTPayload), jwks, at), "TOKEN_INVALID", /"exp" claim must be a number/);
  await rejects(t, verifyEar(await forge({ ...good, iss: undefined }), jwks, at), "TOKEN_INVALID", /missing required "iss"/);
  await rejects(t, verifyEar(await forge(good, { crit: ["b64"], b64: true }), jwks, at), "TOKEN_INVALID", /header crit/);
});

test("verifyEar: each rule of the EAR and tessera claims, named in the message", async (t) => {
  const good = payloadOf((await issueEar(earInput({ cnfJwk: rsaJwk }), key)).token);
  const at = { issuer: ISSUER, now: T0 };
  const tpm = (good.submods as { tpm: Record<string, unknown> }).tpm;
  const tessera = good.tessera as Record<string, unknown>;
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ eat_profile: "tag:github.com,2024:confidential-containers/Trustee" }, /eat_profile/],
    [{ eat_profile: undefined }, /eat_profile/],
    [{ "ear.verifier-id": { developer: "tessera" } }, /verifier-id/],
    [{ "ear.verifier-id": { developer: "tessera", build: "b", extra: 1 } }, /verifier-id/],
    [{ eat_nonce: "abc" }, /eat_nonce/],
    [{ eat_nonce: "a".repeat(89) }, /eat_nonce/],
    [{ submods: {} }, /submods must hold/],
    [{ submods: { other: tpm } }, /submods.tpm is missing/],
    [{ submods: { tpm: { ...tpm, "ear.status": "contraindicated" } } }, /contraindicated, not affirming/],
    [{ submods: { tpm: { ...tpm, "ear.status": "warning" } } }, /warning, not affirming/],
    [{ submods: { tpm: { ...tpm, "ear.status": "great" } } }, /not a trust tier/],
    [{ submods: { tpm: { ...tpm, "ear.trustworthiness-vector": { happiness: 2 } } } }, /unknown claim happiness/],
    [{ submods: { tpm: { ...tpm, "ear.trustworthiness-vector": { hardware: 200 } } } }, /hardware is not an AR4SI value/],
    [{ submods: { tpm: { ...tpm, "ear.appraisal-policy-id": 7 } } }, /appraisal-policy-id/],
    [{ tessera: undefined }, /tessera claim is missing/],
    [{ tessera: { ...tessera, ekFingerprint: "AB" } }, /ekFingerprint/],
    [{ tessera: { ...tessera, secureBoot: "yes" } }, /secureBoot/],
    [{ tessera: { ...tessera, image: { name: "x" } } }, /image/],
    [{ cnf: { jwk: { ...rsaJwk, kty: "EC" } } }, /cnf.jwk kty must be RSA/],
    [{ cnf: { jwk: { ...rsaJwk, n: rsaJwk.n!.slice(0, 170) } } }, /under 2048/],
  ];
  for (const [change, rule] of cases) {
    const p = { ...good, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete p[k];
    await rejects(t, verifyEar(await forge(p as JWTPayload), jwks, at), "TOKEN_INVALID", rule);
  }
  await t.notThrowsAsync(verifyEar(await forge(good as JWTPayload), jwks, at), "the unchanged forged copy passes: each case fails for its change");
});

test("issueEar: refuses unusable input with TOKEN_INPUT naming the field", async (t) => {
  const cases: [Parameters<typeof earInput>[0], RegExp][] = [
    [{ nonce: "XYZ" }, /nonce/],
    [{ nonce: "0f".repeat(45) }, /nonce/],
    [{ subject: "Host_1" }, /subject/],
    [{ lifetimeSeconds: 0 }, /lifetimeSeconds/],
    [{ lifetimeSeconds: 1.5 }, /lifetimeSeconds/],
    [{ ekFingerprint: "zz" }, /ekFingerprint/],
    [{ pcrDigest: "" }, /pcrDigest/],
    [{ issuer: "" }, /issuer/],
    [{ cnfJwk: { kty: "EC", crv: "P-256", x: "a", y: "b" } }, /cnfJwk/],
    [{ cnfJwk: { ...rsaJwk, d: "private" } }, /cnfJwk.*public/],
  ];
  for (const [over, rule] of cases) await rejects(t, issueEar(earInput(over), key), "TOKEN_INPUT", rule);
  await rejects(t, issueEar(earInput(), { kid: "k", privateJwk: key.publicJwk as Record<string, unknown> }), "TOKEN_INPUT", /not an ES256 private key/);
});

test("verifyEar: jose's signatures verify, also those whose r or s starts with a zero byte (a shorter DER INTEGER)", async (t) => {
  const good = payloadOf((await issueEar(earInput(), key)).token) as JWTPayload;
  const seen = { r: 0, s: 0, plain: 0 };
  for (let i = 0; i < 6000 && (seen.r === 0 || seen.s === 0 || seen.plain === 0); i++) {
    const token = await forge({ ...good, jti: `z${i}` });
    const sig = base64url.decode(token.split(".")[2]!);
    const kind = sig[0] === 0 ? "r" : sig[32] === 0 ? "s" : "plain";
    if (kind === "plain" && seen.plain > 0) continue;
    seen[kind]++;
    await t.notThrowsAsync(verifyEar(token, jwks, { issuer: ISSUER, now: T0 }), `${kind}: ${token}`);
  }
  t.true(seen.r > 0 && seen.s > 0, `signatures with a leading zero in r and in s were made and checked (${JSON.stringify(seen)})`);
});

test("verifyEar: a signature whose last character differs only in base64url's unused bits is refused (not canonical)", async (t) => {
  const { token } = await issueEar(earInput(), key);
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = token.at(-1)!;
  // 64 signature bytes take 86 characters: the last one carries 2 bits, so 15 other characters decode the same.
  const twins = [...A].filter((c) => c !== last && A.indexOf(c) >> 4 === A.indexOf(last) >> 4);
  t.is(twins.length, 15);
  for (const c of twins) {
    const changed = token.slice(0, -1) + c;
    t.deepEqual(Buffer.from(changed.split(".")[2]!, "base64url"), Buffer.from(token.split(".")[2]!, "base64url"), "same bytes");
    await rejects(t, verifyEar(changed, jwks, { issuer: ISSUER, now: T0 }), "TOKEN_INVALID", /signature is not canonical base64url/);
  }
});
