/**
 * attestd's OpenAPI 3.1 document (`GET /api/v1/openapi.json`): the host protocol of PROTOCOL.md and the
 * admin API, from the same zod schemas that validate the requests.
 * @module
 */
import { openApiDocument, type ApiRoute, type OpenApiObject } from "@tessera/http";
import { z } from "zod";
import { ClusterIdentity } from "./identity.ts";
import { PROBLEM_CODES } from "./problems.ts";
import * as s from "./routes/admin_schemas.ts";

/** Who may call a route: anyone, a reader (TrustedAdmins or TrustedReaders), or an administrator. */
export type RouteAccess = "public" | "reader" | "admin";

/** One route of the document. */
export interface DocumentedRoute {
  readonly method: "get" | "post" | "put" | "patch" | "delete";
  /** Hono path syntax: `/api/v1/hosts/:host` (the document says `{host}`). */
  readonly path: string;
  readonly summary: string;
  readonly request?: z.ZodType;
  /** Status → schema, or a description for bodies without one. */
  readonly responses: Readonly<Record<number, z.ZodType | string>>;
  /** Default `public`. */
  readonly access?: RouteAccess;
}

/** RFC 9457 problem document as every error is answered (`type` is one of {@link PROBLEM_CODES}). */
export const Problem = z.looseObject({
  type: z.enum(PROBLEM_CODES.map((x) => `urn:tessera:problem:${x.code}`) as [string, ...string[]]),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
});

const B64 = z.base64();
const Hex = z.string().regex(/^[0-9a-f]+$/);
const Time = z.iso.datetime();
const Failure = s.FailureView;

/** The host protocol (PROTOCOL.md §1–3 and the JWKS), for when the host routes do not supply their own. */
export const HOST_PROTOCOL_ROUTES: readonly DocumentedRoute[] = [
  {
    method: "post",
    path: "/api/v1/hosts/:host/enrollments",
    summary: "Enrollment: bind an AK to a trusted EK (answers MakeCredential in tpm2_makecredential -o format)",
    request: z.object({ ekCertificate: B64.optional(), ekPublic: B64.optional(), akPublic: B64 }),
    responses: {
      201: z.object({ enrollment: z.string(), credential: B64, expiresAt: Time }),
      400: "bad request: the problem names the field",
      403: "refused: the problem says why",
      413: "body over 1 MiB",
    },
  },
  {
    method: "post",
    path: "/api/v1/hosts/:host/enrollments/:id/activation",
    summary: "Activation: the secret tpm2_activatecredential recovered",
    request: z.object({ secret: B64 }),
    responses: { 200: z.object({ akName: Hex }), 403: "refused: the problem says why", 404: "not found", 410: "expired" },
  },
  {
    method: "post",
    path: "/api/v1/hosts/:host/challenges",
    summary: "Challenge: a single-use nonce and the PCR selection to quote",
    responses: { 201: z.object({ nonce: Hex, pcrSelection: z.string(), expiresAt: Time }), 503: "the settings kept changing meanwhile: ask again" },
  },
  {
    method: "post",
    path: "/api/v1/hosts/:host/attestations",
    summary: "Attestation: quote, PCR values, event log and optional binding key → EAR token",
    request: z.object({
      nonce: Hex,
      quote: B64,
      signature: B64,
      pcrs: z.record(z.string(), z.record(z.string(), Hex)),
      eventLog: B64.optional(),
      bindingKey: z.object({ public: B64, certifyInfo: B64, signature: B64 }).optional(),
    }),
    responses: {
      200: z.object({ status: z.literal("affirming"), token: z.string(), expiresAt: Time }),
      403: Problem.extend({ failures: z.array(Failure).optional() }),
      413: "body over 1 MiB",
    },
  },
  {
    method: "get",
    path: "/.well-known/jwks.json",
    summary: "The token signing keys (the active one and retired ones whose tokens have not expired)",
    responses: { 200: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) },
  },
];

const ok = z.object({ removed: z.union([z.string(), z.number()]) });

/** The admin API. */
export const ADMIN_ROUTES: readonly DocumentedRoute[] = [
  {
    method: "post",
    path: "/api/v1/auth/token",
    summary: "Sign in with a local account: an admin token",
    request: s.LoginRequest,
    responses: { 200: s.LoginResponse, 401: "wrong user or password", 429: "too many failed sign-ins of this user from this address" },
  },
  { method: "get", path: "/api/v1/whoami", summary: "The caller", access: "reader", responses: { 200: s.Whoami } },
  { method: "get", path: "/api/v1/accounts", summary: "Local accounts", access: "admin", responses: { 200: z.object({ accounts: z.array(s.AccountView) }) } },
  {
    method: "post",
    path: "/api/v1/accounts",
    summary: "Add a local account (a generated password is returned once)",
    access: "admin",
    request: s.AddAccountRequest,
    responses: { 201: z.object({ account: s.AccountView, password: z.string().optional() }), 409: "exists already" },
  },
  { method: "delete", path: "/api/v1/accounts/:user", summary: "Remove a local account", access: "admin", responses: { 200: ok, 404: "not found" } },
  {
    method: "get",
    path: "/api/v1/tpm-cas",
    summary: "Trusted TPM manufacturer CAs",
    access: "reader",
    responses: { 200: z.object({ cas: z.array(s.TpmCaView) }) },
  },
  {
    method: "post",
    path: "/api/v1/tpm-cas",
    summary: "Trust TPM CA certificates (one PEM or a bundle)",
    access: "admin",
    request: s.AddTpmCasRequest,
    responses: { 201: s.AddTpmCasResponse, 400: "bad request: the problem names the field" },
  },
  { method: "delete", path: "/api/v1/tpm-cas/:id", summary: "Stop trusting a TPM CA", access: "admin", responses: { 200: ok, 404: "not found" } },
  { method: "get", path: "/api/v1/tpm-crls", summary: "CRLs of TPM CAs", access: "reader", responses: { 200: z.object({ crls: z.array(s.CrlView) }) } },
  {
    method: "post",
    path: "/api/v1/tpm-crls",
    summary: "Add a CRL (PEM or base64 DER)",
    access: "admin",
    request: s.AddCrlRequest,
    responses: { 201: z.object({ crl: s.CrlView, added: z.boolean() }), 400: "bad request: the problem names the field" },
  },
  { method: "delete", path: "/api/v1/tpm-crls/:id", summary: "Remove a CRL", access: "admin", responses: { 200: ok, 404: "not found" } },
  { method: "get", path: "/api/v1/ek-pins", summary: "Pinned EKs", access: "reader", responses: { 200: z.object({ pins: z.array(s.EkPinView) }) } },
  {
    method: "post",
    path: "/api/v1/ek-pins",
    summary: "Pin a host's EK certificate or bare EK public key",
    access: "admin",
    request: s.PutEkPinRequest,
    responses: { 201: z.object({ pin: s.EkPinView }), 400: "bad request: the problem names the field" },
  },
  { method: "delete", path: "/api/v1/ek-pins/:host", summary: "Remove a host's EK pin", access: "admin", responses: { 200: ok, 404: "not found" } },
  {
    method: "get",
    path: "/api/v1/images",
    summary: "Accepted host images",
    access: "reader",
    responses: { 200: z.object({ images: z.array(s.ImageSummaryView) }) },
  },
  {
    method: "post",
    path: "/api/v1/images",
    summary: "Accept a host image version (from an event log, a manifest or an image model)",
    access: "admin",
    request: s.AddImageRequest,
    responses: {
      201: z.object({ image: s.ImageSummaryView.extend({ model: s.ImageModelView }) }),
      400: "bad request: the problem names the field",
      409: "exists already",
    },
  },
  {
    method: "get",
    path: "/api/v1/images/:name",
    summary: "Every version of an image",
    access: "reader",
    responses: { 200: z.object({ name: z.string(), versions: z.array(s.ImageModelView) }), 404: "not found" },
  },
  {
    method: "delete",
    path: "/api/v1/images/:name",
    summary: "Remove an image (one version with ?version=V)",
    access: "admin",
    responses: { 200: ok, 404: "not found" },
  },
  { method: "get", path: "/api/v1/hosts", summary: "Every host's status and the fleet summary", access: "reader", responses: { 200: s.HostListView } },
  {
    method: "get",
    path: "/api/v1/hosts/:host",
    summary: "A host's status, enrollment and history",
    access: "reader",
    responses: { 200: s.HostDetailView, 404: "not found" },
  },
  { method: "delete", path: "/api/v1/hosts/:host", summary: "Forget a host (its AK binding)", access: "admin", responses: { 200: ok, 404: "not found" } },
  {
    method: "get",
    path: "/api/v1/events",
    summary: "Host status changes as server-sent events (`event: status`, data: a status event; `: keep-alive` comments)",
    access: "reader",
    responses: { 200: "text/event-stream of `ready` then `status` events" },
  },
  { method: "get", path: "/api/v1/settings", summary: "The service's settings", access: "reader", responses: { 200: s.SettingsView } },
  {
    method: "patch",
    path: "/api/v1/settings",
    summary: "Change settings",
    access: "admin",
    request: s.PatchSettingsRequest,
    responses: { 200: s.SettingsView, 400: "bad request: the problem names the field" },
  },
  {
    method: "get",
    path: "/api/v1/audit",
    summary: "The audit trail, newest first (?limit=N)",
    access: "reader",
    responses: { 200: z.object({ entries: z.array(s.AuditView) }) },
  },
  {
    method: "get",
    path: "/api/v1/identity",
    summary: "The Trust Authority cluster's identity (the export file)",
    access: "reader",
    responses: { 200: ClusterIdentity },
  },
  {
    method: "get",
    path: "/api/v1/signing-keys",
    summary: "Token signing keys (public data)",
    access: "reader",
    responses: { 200: z.object({ keys: z.array(s.SigningKeyView) }) },
  },
  {
    method: "post",
    path: "/api/v1/signing-keys/rotate",
    summary: "Rotate the token signing key (the old one stays published until its tokens expire)",
    access: "admin",
    responses: { 200: z.object({ kid: z.string(), retired: z.string().optional() }) },
  },
  { method: "get", path: "/api/v1/openapi.json", summary: "This document", responses: { 200: "the OpenAPI 3.1 document" } },
];

type Json = Record<string, unknown>;

/**
 * attestd's OpenAPI document: the host protocol (`hostRoutes`, default {@link HOST_PROTOCOL_ROUTES}) and
 * {@link ADMIN_ROUTES}, with bearer authentication, 401/403 problems and the groups needed
 * (`x-tessera-groups`) on the guarded routes.
 */
export function attestdOpenApi(options: { readonly version: string; readonly hostRoutes?: readonly DocumentedRoute[] }): OpenApiObject {
  const routes = [...(options.hostRoutes ?? HOST_PROTOCOL_ROUTES), ...ADMIN_ROUTES];
  const api: ApiRoute[] = routes.map((r) => {
    const guarded = (r.access ?? "public") !== "public";
    return {
      method: r.method,
      path: r.path,
      summary: r.summary,
      ...(r.request === undefined ? {} : { request: r.request }),
      responses: guarded ? { 401: "no valid bearer token", 403: "not in a group that may do this", ...r.responses } : { ...r.responses },
      tags: [r.path.startsWith("/api/v1/hosts/:host/") || r.path.startsWith("/.well-known") ? "host protocol" : "admin"],
      auth: guarded,
    };
  });
  const doc = openApiDocument({ title: "Tessera Attestation Service (attestd)", version: options.version }, api);
  const paths = doc.paths as Record<string, Record<string, Json>>;
  for (const r of routes) {
    if ((r.access ?? "public") === "public") continue;
    const op = paths[r.path.replace(/:(\w+)/g, "{$1}")]?.[r.method];
    if (op !== undefined) op["x-tessera-groups"] = r.access === "admin" ? ["TrustedAdmins"] : ["TrustedAdmins", "TrustedReaders"];
  }
  // Every problem code with its status, and the problem document's schema, for clients that switch on `type`.
  const components = (doc["components"] ?? {}) as Json;
  const { $schema: _dialect, ...problemSchema } = z.toJSONSchema(Problem, { io: "output" }) as Json;
  components["schemas"] = { ...((components["schemas"] as Json | undefined) ?? {}), Problem: problemSchema };
  doc["components"] = components;
  doc["x-tessera-problems"] = PROBLEM_CODES.map((x) => ({ code: x.code, type: `urn:tessera:problem:${x.code}`, status: x.status, meaning: x.meaning, inProtocol: x.inProtocol }));
  return doc;
}
