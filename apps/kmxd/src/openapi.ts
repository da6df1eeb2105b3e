/**
 * kmxd's OpenAPI 3.1 document (`GET /api/v1/openapi.json`): the host API of PROTOCOL.md and the admin API, from
 * the zod schemas that validate the admin requests.
 * @module
 */
import { openApiDocument, type ApiRoute, type OpenApiObject } from "@tessera/http";
import { z } from "zod";
import * as s from "./routes/admin_schemas.ts";

const Jwe = z.string().describe("compact JWE (RSA-OAEP-256, A256GCM) to the token's cnf.jwk");
const Wrapped = z.string().describe("the wrapped form (base64): names the provider and the primary key version");

const HOST: readonly ApiRoute[] = [
  {
    method: "post",
    path: "/api/v1/providers/:provider/data-keys",
    summary: "A new random data key, as a JWE to the host's binding key, and its wrapped form",
    request: z.object({ bytes: z.number().int().min(16).max(64).optional() }),
    responses: { 201: z.object({ wrapped: Wrapped, key: Jwe }), 401: "token-invalid / token-expired", 403: "host-untrusted / provider-not-allowed / binding-key-missing", 404: "provider-unknown", 429: "rate-limited", 503: "key-servers-unreachable (names each server tried)" },
    tags: ["host"],
  },
  {
    method: "post",
    path: "/api/v1/providers/:provider/unwrap",
    summary: "Unwraps a wrapped key; the key comes back as a JWE to the host's binding key",
    request: z.object({ wrapped: Wrapped }),
    responses: { 200: z.object({ key: Jwe }), 400: "wrapped-malformed", 401: "token-invalid / token-expired", 403: "host-untrusted / provider-not-allowed / binding-key-missing", 404: "provider-unknown", 422: "unwrap-failed", 429: "rate-limited", 503: "key-servers-unreachable" },
    tags: ["host"],
  },
  {
    method: "post",
    path: "/api/v1/providers/:provider/encrypt",
    summary: "Encrypts with the provider's primary key (the wrapped form)",
    request: z.object({ plaintext: z.base64() }),
    responses: { 200: z.object({ ciphertext: Wrapped }), 401: "token-invalid / token-expired", 403: "host-untrusted / provider-not-allowed", 404: "provider-unknown", 429: "rate-limited", 503: "key-servers-unreachable" },
    tags: ["host"],
  },
  {
    method: "post",
    path: "/api/v1/providers/:provider/decrypt",
    summary: "Decrypts; the plaintext comes back as a JWE to the host's binding key",
    request: z.object({ ciphertext: Wrapped }),
    responses: { 200: z.object({ plaintext: Jwe }), 400: "wrapped-malformed", 401: "token-invalid / token-expired", 403: "host-untrusted / provider-not-allowed / binding-key-missing", 404: "provider-unknown", 422: "unwrap-failed", 429: "rate-limited", 503: "key-servers-unreachable" },
    tags: ["host"],
  },
  {
    method: "post",
    path: "/api/v1/providers/:provider/rewrap",
    summary: "Moves a wrapped key to the provider's current key version (no secret returned)",
    request: z.object({ wrapped: Wrapped }),
    responses: { 200: z.object({ wrapped: Wrapped }), 400: "wrapped-malformed", 401: "token-invalid / token-expired", 403: "host-untrusted / provider-not-allowed", 404: "provider-unknown", 422: "unwrap-failed", 503: "key-servers-unreachable" },
    tags: ["host"],
  },
  {
    method: "get",
    path: "/api/v1/health",
    summary: "Health: degraded while attestd's event stream is down (tokens are then bounded by their expiry only)",
    responses: { 200: z.object({ status: z.enum(["ok", "degraded"]), attestdEvents: z.enum(["connected", "disconnected"]), since: z.string() }) },
    tags: ["host"],
    auth: false,
  },
];

const ADMIN_ROUTES: ApiRoute[] = [
  { method: "post", path: "/api/v1/trust-setups", summary: "Makes kmxd's client key and a CSR for a key server (the key stays in kmxd, wrapped)", request: s.TrustSetupRequest, responses: { 201: s.TrustSetupView, 400: "bad-request" } },
  {
    method: "post",
    path: "/api/v1/providers",
    summary: "Creates a provider: connects, checks the key exists and is Active, probes the wrap mode",
    request: s.CreateProviderRequest,
    responses: { 201: s.ProviderView, 400: "bad-request / kmip-key-unknown / kmip-key-inactive / wrap-mode-unsupported / trust-setup-missing / client-certificate-invalid", 409: "provider-exists", 502: "kmip-connection-failed (servers) / kmip-refused" },
  },
  { method: "get", path: "/api/v1/providers", summary: "Every provider", responses: { 200: z.object({ providers: z.array(s.ProviderView) }) } },
  { method: "get", path: "/api/v1/providers/:provider", summary: "One provider: servers, versions, grants, mode (never its key)", responses: { 200: s.ProviderView, 404: "provider-unknown" } },
  { method: "delete", path: "/api/v1/providers/:provider", summary: "Removes a provider (its keys stay on the key servers)", responses: { 204: "removed", 404: "provider-unknown" } },
  {
    method: "post",
    path: "/api/v1/providers/:provider/rotate",
    summary: "A new primary key version: the given key, or a new AES-256 key created and activated on the key server",
    request: s.RotateRequest,
    responses: { 201: z.object({ provider: z.string(), version: z.number().int(), keyId: z.string(), mode: z.string(), createdAt: z.string() }), 400: "kmip-key-unknown / kmip-key-inactive", 404: "provider-unknown", 502: "kmip-connection-failed / kmip-refused / kmip-outcome-unknown" },
  },
  { method: "post", path: "/api/v1/admin/providers/:provider/rewrap", summary: "Rewraps a wrapped key under the current version (admin)", request: s.RewrapRequest, responses: { 200: s.RewrapView, 400: "wrapped-malformed", 404: "provider-unknown", 422: "unwrap-failed", 503: "key-servers-unreachable" } },
  { method: "post", path: "/api/v1/providers/:provider/grants", summary: "Lets a trusted cluster use the provider", request: s.GrantRequest, responses: { 201: z.object({ provider: z.string(), grants: z.array(z.string()) }), 404: "provider-unknown / cluster-unknown" } },
  { method: "delete", path: "/api/v1/providers/:provider/grants/:cluster", summary: "Revokes a grant", responses: { 204: "revoked", 404: "provider-unknown / grant-unknown" } },
  { method: "get", path: "/api/v1/clusters", summary: "The trusted clusters (default first, implicit)", responses: { 200: z.object({ clusters: z.array(s.ClusterView) }) } },
  { method: "put", path: "/api/v1/clusters/:cluster", summary: "Sets a trusted cluster's rules (host glob, EK fingerprint, TPM CA)", request: s.PutClusterRequest, responses: { 200: s.ClusterView, 201: s.ClusterView, 409: "cluster-default" } },
  { method: "delete", path: "/api/v1/clusters/:cluster", summary: "Removes a trusted cluster and its grants (not default)", responses: { 204: "removed", 404: "cluster-unknown", 409: "cluster-default" } },
  { method: "get", path: "/api/v1/audit", summary: "The audit trail, newest first (?limit=&provider=&host=&before=)", responses: { 200: z.object({ entries: z.array(s.AuditView) }) } },
  { method: "get", path: "/api/v1/whoami", summary: "The caller's subject, groups and issuer", responses: { 200: z.object({ subject: z.string(), groups: z.array(z.string()), issuer: z.string() }) } },
  { method: "get", path: "/api/v1/openapi.json", summary: "This document", responses: { 200: "OpenAPI 3.1" }, auth: false },
];

const ADMIN: readonly ApiRoute[] = ADMIN_ROUTES.map((r) => ({ ...r, tags: ["admin"] }));

/** The document. */
export function kmxdOpenApi(info: { readonly version: string }): OpenApiObject {
  return openApiDocument(
    {
      title: "Tessera Key Provider Service (kmxd)",
      version: info.version,
      description:
        "Host routes take an attestation token from attestd (Bearer); every secret is a JWE to the token's binding key. Admin routes take attestd's admin tokens (or the OIDC issuer's): reads TrustedAdmins or TrustedReaders, changes TrustedAdmins.",
    },
    [...HOST, ...ADMIN],
  );
}
