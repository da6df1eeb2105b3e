/**
 * The verification limits and the key shapes that every token function shares.
 * @module
 */

/**
 * How far (seconds) a verifier's clock may be from the issuer's: a token is accepted until `exp` plus this,
 * and refused when `iat` is more than this in the future. 30 s absorbs NTP-synchronised skew between
 * attestd nodes and kmxd while staying small against token lifetimes of minutes to hours.
 */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Tokens longer than this are refused before parsing (an EAR with a binding key is about 2 KiB). */
export const MAX_TOKEN_LENGTH = 16_384;

/** A JWKS as served at `/.well-known/jwks.json`: public JWKs with `kid`. */
export interface Jwks {
  readonly keys: readonly Readonly<Record<string, unknown>>[];
}

/** A key that can sign: its `kid` and private ES256 JWK. */
export interface TokenSigner {
  readonly kid: string;
  readonly privateJwk: Readonly<Record<string, unknown>>;
}
