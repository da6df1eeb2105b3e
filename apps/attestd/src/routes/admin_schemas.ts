/**
 * Request and response schemas of the admin API: they validate bodies (naming the bad field) and give the
 * OpenAPI document (openapi.ts) its shapes.
 * @module
 */
import { z } from "zod";
import { TRUSTED_ADMINS, TRUSTED_READERS } from "../auth.ts";

/** PROTOCOL.md's host name: 1–253 characters of `a-z 0-9 . -`. */
export const HostName = z.string().regex(/^[a-z0-9.-]{1,253}$/, "a host name is 1-253 characters of a-z 0-9 . -");
/** An image name: starts alphanumeric, then letters, digits, `. _ -` (128 at most). */
export const ImageName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "an image name is 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit");
/** An image version: starts alphanumeric, then letters, digits, `. _ - + ~` (128 at most). */
export const ImageVersion = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/, "an image version is 1-128 characters of A-Z a-z 0-9 . _ - + ~ starting with a letter or digit");
/** Padded base64 (RFC 4648 §4), as PROTOCOL.md sends binary values. */
export const Base64 = z.base64();
/** An RFC 3339 time. */
const Time = z.iso.datetime();
const Group = z.enum([TRUSTED_ADMINS, TRUSTED_READERS]);

/** `POST /api/v1/auth/token`. */
export const LoginRequest = z.strictObject({ user: z.string().min(1).max(256), password: z.string().min(1).max(1024) });
/** Its answer. */
export const LoginResponse = z.object({ token: z.string(), expiresAt: Time, subject: z.string(), groups: z.array(z.string()) });
/** `GET /api/v1/whoami`. */
export const Whoami = z.object({ subject: z.string(), groups: z.array(z.string()), issuer: z.string() });

/** `POST /api/v1/accounts`: a local account; without a password, one is generated and returned once. */
export const AddAccountRequest = z.strictObject({
  user: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, "a user name is 1-128 characters of A-Z a-z 0-9 . _ @ - starting with a letter or digit"),
  password: z.string().min(12).max(1024).optional(),
  groups: z.array(Group).min(1),
});
/** An account as listed (never its hash). */
export const AccountView = z.object({ user: z.string(), groups: z.array(z.string()), createdAt: Time });

/** `POST /api/v1/tpm-cas`: one PEM certificate or many concatenated (a vendor bundle). */
export const AddTpmCasRequest = z.strictObject({ certificates: z.string().min(1) });
/** A trusted TPM CA as listed. */
export const TpmCaView = z.object({
  id: z.string(),
  subject: z.string(),
  issuer: z.string(),
  notBefore: Time,
  notAfter: Time,
  isRoot: z.boolean(),
  addedAt: Time,
});
/** Answer of `POST /api/v1/tpm-cas`. */
export const AddTpmCasResponse = z.object({ added: z.array(TpmCaView), existing: z.array(z.string()) });

/** `POST /api/v1/tpm-crls`: PEM or base64 DER. */
export const AddCrlRequest = z.strictObject({ crl: z.string().min(1) });
/** A CRL as listed. */
export const CrlView = z.object({ id: z.string(), issuer: z.string(), thisUpdate: Time, nextUpdate: Time.optional(), addedAt: Time });

/** `POST /api/v1/ek-pins`: at least one of the certificate (b64 DER or PEM) and the public area (b64 TPM2B_PUBLIC). */
export const PutEkPinRequest = z
  .strictObject({ host: HostName, ekCertificate: z.string().min(1).optional(), ekPublic: Base64.optional() })
  .refine((p) => p.ekCertificate !== undefined || p.ekPublic !== undefined, {
    message: "give ekCertificate or ekPublic (or both)",
    path: ["ekCertificate"],
  });
/** A pin as listed. */
export const EkPinView = z.object({
  host: z.string(),
  ekFingerprint: z.string(),
  ekCertificate: z.string().optional(),
  ekPublic: z.string().optional(),
  addedAt: Time,
});

/**
 * `POST /api/v1/images`: exactly one source: a known-good host's event log (b64), a libs/boot manifest, or an
 * image model itself. `firmware` (event log only) records PCRs 0–6 under `firmwareModel` (default: the name).
 */
export const AddImageRequest = z.strictObject({
  name: ImageName,
  version: ImageVersion,
  eventLog: Base64.optional(),
  manifest: z.record(z.string(), z.unknown()).optional(),
  image: z.record(z.string(), z.unknown()).optional(),
  firmware: z.boolean().optional(),
  firmwareModel: z.string().min(1).max(128).optional(),
});
/** An image version as listed. */
export const ImageSummaryView = z.object({ name: z.string(), version: z.string(), addedAt: Time, summary: z.string() });
/** An image model (libs/host-image's ImageModel). */
export const ImageModelView = z.record(z.string(), z.unknown());

const Status = z.enum(["green", "red", "stale", "unknown"]);
/** A failed check as PROTOCOL.md reports it. */
export const FailureView = z.looseObject({ check: z.string(), detail: z.string() });
/** One host in `GET /api/v1/hosts`. */
export const HostSummaryView = z.object({
  host: z.string(),
  status: Status,
  message: z.string(),
  lastAttempt: Time.optional(),
  tokenExpiresAt: Time.optional(),
  image: z.object({ name: z.string(), version: z.string() }).optional(),
});
/** `GET /api/v1/hosts`. */
export const HostListView = z.object({
  hosts: z.array(HostSummaryView),
  summary: z.object({ green: z.number(), red: z.number(), stale: z.number(), unknown: z.number(), total: z.number() }),
});
/** One attempt in a host's history. */
export const AttemptView = z.object({
  id: z.string(),
  at: Time,
  status: z.enum(["affirming", "contraindicated"]),
  failures: z.array(FailureView),
  image: z.object({ name: z.string(), version: z.string() }).optional(),
  secureBoot: z.boolean().optional(),
  tokenExpiresAt: Time.optional(),
  /** The evidence is not the host's (its quote is not signed by the host's AK): it did not change the host's status. */
  foreign: z.boolean().optional(),
});
/** `GET /api/v1/hosts/{host}`. */
export const HostDetailView = z.object({
  host: z.string(),
  status: Status,
  message: z.string(),
  enrollment: z.object({ akName: z.string(), ekFingerprint: z.string(), enrolledAt: Time }).optional(),
  history: z.array(AttemptView),
});

/** `PATCH /api/v1/settings`: only the fields to change. */
export const PatchSettingsRequest = z.strictObject({
  ekTrustMode: z.enum(["ca", "pin"]).optional(),
  pcrSelection: z.string().min(1).max(512).optional(),
  secureBootRequired: z.boolean().optional(),
  tokenLifetimeSeconds: z.number().int().min(30).max(86400).optional(),
  nonceLifetimeSeconds: z.number().int().min(5).max(3600).optional(),
  enrollmentLifetimeSeconds: z.number().int().min(30).max(86400).optional(),
  hashAlgorithms: z
    .array(z.enum(["sha1", "sha256", "sha384", "sha512"]))
    .min(1)
    .optional(),
});
/** The settings with defaults applied. */
export const SettingsView = z.object({
  ekTrustMode: z.enum(["ca", "pin"]),
  pcrSelection: z.string(),
  secureBootRequired: z.boolean(),
  tokenLifetimeSeconds: z.number(),
  nonceLifetimeSeconds: z.number(),
  enrollmentLifetimeSeconds: z.number(),
  hashAlgorithms: z.array(z.string()).optional(),
});

/** One audit entry. */
export const AuditView = z.object({
  id: z.number(),
  at: Time,
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

/** A token signing key as listed (public part only). */
export const SigningKeyView = z.object({
  kid: z.string(),
  createdAt: Time,
  retiredAt: Time.optional(),
  lastTokenExpiresAt: Time.optional(),
  active: z.boolean(),
});

/** A status event as `GET /api/v1/events` streams it (`event: status`). */
export const StatusEventView = z.object({
  host: z.string(),
  status: Status,
  previous: Status,
  at: Time,
  message: z.string(),
});
