/**
 * @tessera/tokens — the Trust Authority's tokens, pure (jose and WebCrypto): ES256 signing keys and their
 * JWKS, the EAR attestation token (draft-ietf-rats-ear, Veraison's profile), admin access tokens, the binding
 * key's JWK, and JWE to it.
 * @module
 */
export * from "./errors.ts";
export * from "./jwks.ts";
export * from "./signing_keys.ts";
export * from "./ear_claims.ts";
export * from "./issue_ear.ts";
export * from "./verify_ear.ts";
export * from "./admin_token.ts";
export * from "./binding_key_jwk.ts";
export * from "./jwe.ts";
export * from "./decrypt_jwe_with.ts";
