/**
 * @tessera/oidc-testing: a test OpenID Connect issuer over real HTTPS (discovery, JWKS, ES256 tokens by its key or
 * another), for the admin sign-in tests of attestd and kmxd.
 * @module
 */
export { startOidcIssuer, type TestOidcIssuer } from "./oidc_issuer.ts";
