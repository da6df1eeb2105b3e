/**
 * Token signing keys: ES256 (P-256) pairs named by their RFC 7638 thumbprint, the rule that picks the key that
 * signs now, and the rule that says which keys the JWKS publishes.
 * @module
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import { CLOCK_TOLERANCE_SECONDS } from "./jwks.ts";

/**
 * A token signing key. Times are epoch milliseconds. `retiredAt` is set when a rotation replaced it;
 * `lastTokenExpiresAt` is the latest `exp` (in ms) of a token it signed.
 */
export interface SigningKey {
  readonly kid: string;
  /** The private JWK (kty EC, crv P-256, with `d`), carrying `kid` and `alg` ES256. */
  readonly privateJwk: JWK;
  /** The public JWK as published: kty, crv, x, y, kid, alg ES256, use sig. */
  readonly publicJwk: JWK;
  readonly createdAt: number;
  readonly retiredAt?: number;
  readonly lastTokenExpiresAt?: number;
}

/**
 * The fields of a key that {@link activeSigningKey} and {@link publishedJwks} read (a stored record with a
 * wrapped private key fits: the public JWK may be any JSON object).
 */
export interface SigningKeyState {
  readonly kid: string;
  readonly publicJwk: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly retiredAt?: number | undefined;
  readonly lastTokenExpiresAt?: number | undefined;
}

/**
 * Makes a new ES256 signing key; its `kid` is the RFC 7638 SHA-256 thumbprint of the public key, so any
 * node, and any relying party, derives the same name from the key itself.
 * @param now creation time, epoch ms (default `Date.now()`).
 * @example
 * ```ts
 * const key = await generateSigningKey();
 * const { token } = await issueEar(input, key);
 * ```
 */
export async function generateSigningKey(now: number = Date.now()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const pub = await exportJWK(publicKey);
  const priv = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(pub, "sha256");
  return {
    kid,
    privateJwk: { kty: priv.kty, crv: priv.crv, x: priv.x, y: priv.y, d: priv.d, kid, alg: "ES256" },
    publicJwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg: "ES256", use: "sig" },
    createdAt: now,
  };
}

/**
 * The key that signs now: the newest (by `createdAt`, then `kid`) that is not retired; `undefined` when every
 * key is retired. The order is total so that every node of a cluster picks the same key from the same set.
 */
export function activeSigningKey<K extends SigningKeyState>(keys: readonly K[]): K | undefined {
  let best: K | undefined;
  for (const k of keys) {
    if (k.retiredAt !== undefined) continue;
    if (best === undefined || k.createdAt > best.createdAt || (k.createdAt === best.createdAt && k.kid > best.kid)) best = k;
  }
  return best;
}

/**
 * The JWKS to publish at `now` (epoch ms): every key not retired (the active one, and any another node may
 * still sign with during a rotation), and every retired key while a token it signed may still be accepted,
 * that is while `now < lastTokenExpiresAt + CLOCK_TOLERANCE_SECONDS`: verifiers accept a token up to the
 * clock tolerance past its `exp`, so its key must stay published that long. A retired key that never signed
 * a token is dropped at once. Newest first; each entry is the public JWK with its `kid`.
 */
export function publishedJwks(keys: readonly SigningKeyState[], now: number): { keys: JWK[] } {
  const published = keys.filter(
    (k) => k.retiredAt === undefined || (k.lastTokenExpiresAt !== undefined && now < k.lastTokenExpiresAt + CLOCK_TOLERANCE_SECONDS * 1000),
  );
  published.sort((a, b) => b.createdAt - a.createdAt || (a.kid < b.kid ? 1 : a.kid > b.kid ? -1 : 0));
  return { keys: published.map((k) => publicOnly(k.publicJwk, k.kid)) };
}

/** The public members of an EC or RSA JWK, with `kid` (a private member that slipped in is never published). */
export function publicOnly(jwk: Readonly<Record<string, unknown>>, kid: string): JWK {
  const out: JWK = {};
  for (const m of ["kty", "crv", "x", "y", "n", "e", "alg", "use"] as const) if (typeof jwk[m] === "string") out[m] = jwk[m] as string;
  out.kid = kid;
  return out;
}
