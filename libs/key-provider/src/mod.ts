/**
 * @tessera/key-provider — the crypto of kmxd's trusted key providers, over an injected KMIP client (no HTTP, no
 * store):
 * - {@link encodeWrapped} / {@link decodeWrapped}: the versioned wrapped form naming provider and key version;
 *   {@link wrapAad}: the AAD bound to it.
 * - {@link wrap} / {@link unwrap} / {@link rewrap}: keys wrapped by KMIP Encrypt/Decrypt (A256GCM) or Encrypt + MAC
 *   (CBC-HMAC-SHA256) with the provider's primary key, which never leaves the key server.
 * - {@link probeProvider}: the key exists, is Active, and which mode the server can do.
 * - {@link createProviderClient}, {@link parseKmipServer}: a provider's pooled KMIP 1.4 client.
 * - {@link makeClientCsr}, {@link checkClientCertificate}: the trust set-up with a key server.
 * - {@link clusterOf}, {@link mayUse}: the release policy; {@link tokenBucket}: rate limits.
 * - errors.ts: every failure, with a stable `code`.
 * @module
 */
export * from "./errors.ts";
export * from "./wrapped_form.ts";
export * from "./wrap_aad.ts";
export * from "./wrap.ts";
export * from "./probe_provider.ts";
export * from "./create_provider_client.ts";
export * from "./client_csr.ts";
export * from "./cluster_of.ts";
export * from "./token_bucket.ts";
