/**
 * What EAR and admin tokens share: signing with an ES256 private JWK, and the verification steps that come
 * before the claims (compact form, canonical base64url, header, key lookup, signature, iss/aud/exp/iat).
 * @module
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { ecdsaDer, ecdsaRsFromDer } from "@tessera/tpm2";
import { base64url, type JWTPayload, type ProtectedHeaderParameters } from "jose";
import { TokenError } from "./errors.ts";
import { CLOCK_TOLERANCE_SECONDS, MAX_TOKEN_LENGTH, type Jwks, type TokenSigner } from "./jwks.ts";

const B64U = /^[A-Za-z0-9_-]*$/;

function invalid(rule: string, cause?: unknown): TokenError {
  return new TokenError("TOKEN_INVALID", `token rejected: ${rule}`, cause === undefined ? undefined : { cause });
}

const MAX_IMPORTED_KEYS = 32;

/** node:crypto public keys by their coordinates, for verifying (see {@link verifyJwt}); bounded, oldest out. */
const verifyingKeyObjects = new Map<string, KeyObject>();

/**
 * The node:crypto key of a P-256 public JWK, made once per key: importing costs about as much as a verification.
 * Keyed by the key's own members, so a lookup can only return the key it was asked for; a failed import is not kept.
 */
function verifyingKeyObject(jwk: { x: string; y: string }): KeyObject {
  const id = `${jwk.x}.${jwk.y}`;
  let key = verifyingKeyObjects.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, format: "jwk" });
    if (verifyingKeyObjects.size >= MAX_IMPORTED_KEYS) verifyingKeyObjects.delete(verifyingKeyObjects.keys().next().value!);
    verifyingKeyObjects.set(id, key);
  }
  return key;
}

/** node:crypto private keys by their members, for signing (see {@link signJwt}); bounded like importedKeys. */
const signingKeyObjects = new Map<string, KeyObject>();

/** The node:crypto key of an ES256 private JWK, made once per key. Throws what createPrivateKey throws (nothing kept). */
function signingKeyObject(jwk: { x: string; y: string; d: string }): KeyObject {
  const id = `${jwk.x}.${jwk.y}.${jwk.d}`;
  let key = signingKeyObjects.get(id);
  if (key === undefined) {
    key = createPrivateKey({ key: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, d: jwk.d }, format: "jwk" });
    if (signingKeyObjects.size >= MAX_IMPORTED_KEYS) signingKeyObjects.delete(signingKeyObjects.keys().next().value!);
    signingKeyObjects.set(id, key);
  }
  return key;
}

/**
 * Signs `claims` with header `{alg: ES256, kid, typ}`: the compact JWS jose's SignJWT makes (the same header and
 * payload serialization), signed by node:crypto in this thread — WebCrypto's asynchronous job cost attestd about
 * as much as the signature itself on every token.
 */
export async function signJwt(claims: JWTPayload, signer: TokenSigner, typ: string): Promise<string> {
  const jwk = signer.privateJwk;
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string")
    throw new TokenError("TOKEN_INPUT", `signing key ${signer.kid} is not an ES256 private key (kty EC, crv P-256, with d)`);
  let key: KeyObject;
  try {
    key = signingKeyObject({ x: String(jwk.x), y: String(jwk.y), d: jwk.d });
  } catch (e) {
    throw new TokenError("TOKEN_INPUT", `signing key ${signer.kid} cannot be imported: ${(e as Error).message}`, { cause: e });
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw new TokenError("TOKEN_INPUT", "the claims are not a JSON object");
  const input = `${Buffer.from(JSON.stringify({ alg: "ES256", kid: signer.kid, typ })).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  // The key object bare (DER out): node:crypto takes an options object ~40 µs slower; JWS wants r || s.
  let signature: Uint8Array;
  try {
    signature = ecdsaRsFromDer(sign("sha256", Buffer.from(input), key), 32);
  } catch (e) {
    throw new TokenError("TOKEN_INPUT", `node:crypto returned an ECDSA signature that is not a P-256 ECDSA-Sig-Value: ${(e as Error).message}`, { cause: e });
  }
  return `${input}.${Buffer.from(signature.buffer, signature.byteOffset, signature.length).toString("base64url")}`;
}

/** Options of {@link verifyJwt}. */
export interface VerifyJwtOptions {
  issuer: string;
  audience?: string;
  /** epoch ms */
  now: number;
  /** Checks the header's `typ` (absent is `undefined`); returns the failed rule, or undefined. */
  checkTyp(typ: string | undefined): string | undefined;
  requiredClaims: string[];
}

/**
 * Everything up to and including the registered claims; the caller checks its own claims after.
 * Throws only TokenError.
 */
export async function verifyJwt(token: unknown, jwks: Jwks, o: VerifyJwtOptions): Promise<{ payload: JWTPayload; header: ProtectedHeaderParameters }> {
  if (typeof token !== "string") throw invalid("not a string");
  if (token.length > MAX_TOKEN_LENGTH) throw invalid(`longer than ${MAX_TOKEN_LENGTH} characters`);
  const parts = token.split(".");
  if (parts.length !== 3) throw invalid(`compact JWS has ${parts.length} parts, not 3`);
  const names = ["header", "payload", "signature"];
  // Only the canonical base64url of each part is accepted: otherwise a changed last character whose dropped
  // bits are not zero would decode to the same bytes and still verify.
  for (let i = 0; i < 3; i++) {
    const p = parts[i]!;
    if (!B64U.test(p)) throw invalid(`${names[i]} is not base64url`);
    let canonical: string;
    try {
      canonical = base64url.encode(base64url.decode(p));
    } catch (e) {
      throw invalid(`${names[i]} is not base64url`, e);
    }
    if (canonical !== p) throw invalid(`${names[i]} is not canonical base64url`);
  }
  let header: ProtectedHeaderParameters;
  try {
    const h: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url.decode(parts[0]!)));
    if (typeof h !== "object" || h === null || Array.isArray(h)) throw new Error("not a JSON object");
    header = h as ProtectedHeaderParameters;
  } catch (e) {
    throw invalid(`header is not a JSON object (${(e as Error).message})`, e);
  }
  if (header.alg !== "ES256") throw invalid(`alg must be ES256, not ${JSON.stringify(header.alg)}`);
  const typRule = o.checkTyp(typeof header.typ === "string" ? header.typ : header.typ === undefined ? undefined : String(header.typ));
  if (typRule !== undefined) throw invalid(typRule);
  if (typeof header.kid !== "string" || header.kid === "") throw invalid("kid is missing");
  const candidates = Array.isArray(jwks?.keys) ? jwks.keys.filter((k) => k !== null && typeof k === "object" && k.kid === header.kid) : [];
  if (candidates.length === 0) throw invalid(`kid ${JSON.stringify(header.kid)} is not in the JWKS`);
  if (candidates.length > 1) throw invalid(`kid ${JSON.stringify(header.kid)} names ${candidates.length} keys in the JWKS`);
  const jwk = candidates[0]!;
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || "d" in jwk) throw invalid(`JWKS key ${header.kid} is not a public P-256 key`);
  if (jwk.alg !== undefined && jwk.alg !== "ES256") throw invalid(`JWKS key ${header.kid} is for ${String(jwk.alg)}, not ES256`);
  if (jwk.use !== undefined && jwk.use !== "sig") throw invalid(`JWKS key ${header.kid} is not a signing key (use ${String(jwk.use)})`);
  if (header.crit !== undefined) throw invalid("header crit: no extension is understood");
  let key: KeyObject;
  try {
    key = verifyingKeyObject({ x: String(jwk.x), y: String(jwk.y) });
  } catch (e) {
    throw invalid(`JWKS key ${header.kid} cannot be imported (${(e as Error).message})`, e);
  }
  // node:crypto in this thread (what jose's jwtVerify did through WebCrypto, whose asynchronous job cost a relying
  // party about as much again as the verification), then the registered claims as jwtVerify checked them.
  // r ‖ s (RFC 7518 §3.4) as DER, with the key object bare: node:crypto's `dsaEncoding: "ieee-p1363"` costs ~20 µs
  // more per verification (Node 24, OpenSSL 3.5), about 40% of the verification itself.
  const rs = Buffer.from(parts[2]!, "base64url");
  if (rs.length !== 64) throw invalid(`signature is ${rs.length} bytes, not ES256's 64 (r ‖ s)`);
  let good: boolean;
  try {
    good = verify("sha256", Buffer.from(`${parts[0]!}.${parts[1]!}`, "ascii"), key, ecdsaDer(rs.subarray(0, 32), rs.subarray(32)));
  } catch (e) {
    throw invalid("signature does not verify", e);
  }
  if (!good) throw invalid("signature does not verify");
  let payload: JWTPayload;
  try {
    const p: unknown = JSON.parse(new TextDecoder().decode(Buffer.from(parts[1]!, "base64url")));
    if (typeof p !== "object" || p === null || Array.isArray(p)) throw new Error("not an object");
    payload = p as JWTPayload;
  } catch (e) {
    throw invalid("JWT Claims Set must be a top-level JSON object", e);
  }
  checkRegisteredClaims(payload, o);
  const nowS = Math.floor(o.now / 1000);
  if (!Number.isSafeInteger(payload.iat)) throw invalid("iat must be an integer");
  if (!Number.isSafeInteger(payload.exp)) throw invalid("exp must be an integer");
  if (payload.iat! > nowS + CLOCK_TOLERANCE_SECONDS) throw invalid("iat is in the future");
  if (payload.exp! <= payload.iat!) throw invalid("exp is not after iat");
  if (typeof payload.jti !== "string" || payload.jti === "") throw invalid("jti must be a non-empty string");
  if (typeof payload.sub !== "string" || payload.sub === "") throw invalid("sub must be a non-empty string");
  return { payload, header };
}

function claimFailed(claim: string, message: string): TokenError {
  return invalid(`claim ${claim} failed (${message})`);
}

/** A NumericDate claim, when present, is a number (as jose's jwtVerify required). */
function numericDate(payload: JWTPayload, claim: "iat" | "nbf" | "exp"): number | undefined {
  const v = payload[claim];
  if (v === undefined) return undefined;
  if (typeof v !== "number") throw claimFailed(claim, `"${claim}" claim must be a number`);
  return v;
}

/**
 * What jose's jwtVerify checked of the registered claims, in its order: presence of the required ones (and iss,
 * aud when expected), iss and aud, then nbf and exp within {@link CLOCK_TOLERANCE_SECONDS}.
 */
function checkRegisteredClaims(payload: JWTPayload, o: VerifyJwtOptions): void {
  const presence = [...o.requiredClaims];
  if (o.audience !== undefined) presence.push("aud");
  presence.push("iss");
  for (const claim of new Set(presence.reverse())) if (!Object.hasOwn(payload, claim)) throw claimFailed(claim, `missing required "${claim}" claim`);
  if (payload.iss !== o.issuer) throw claimFailed("iss", 'unexpected "iss" claim value');
  if (o.audience !== undefined) {
    const aud = payload.aud;
    if (!(aud === o.audience || (Array.isArray(aud) && aud.includes(o.audience)))) throw claimFailed("aud", 'unexpected "aud" claim value');
  }
  const now = Math.floor(o.now / 1000);
  numericDate(payload, "iat");
  const nbf = numericDate(payload, "nbf");
  if (nbf !== undefined && nbf > now + CLOCK_TOLERANCE_SECONDS) throw claimFailed("nbf", '"nbf" claim timestamp check failed');
  const exp = numericDate(payload, "exp");
  if (exp !== undefined && exp <= now - CLOCK_TOLERANCE_SECONDS)
    throw new TokenError("TOKEN_EXPIRED", 'token rejected: expired ("exp" claim timestamp check failed)');
}

/** Wraps anything unexpected from a verification into TOKEN_INVALID so that callers only ever see TokenError. */
export async function onlyTokenErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TokenError) throw e;
    throw invalid(`unexpected failure (${(e as Error)?.message ?? String(e)})`, e);
  }
}

export { invalid as tokenInvalid };
