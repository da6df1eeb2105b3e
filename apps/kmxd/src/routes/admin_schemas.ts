/**
 * The admin API's request and response schemas (zod): they validate the bodies and give the OpenAPI document.
 * @module
 */
import { parseKmipServer } from "@tessera/key-provider";
import { z } from "zod";

/** A provider's, trust set-up's or cluster's name: 1–63 of A-Z a-z 0-9 . _ -, starting with a letter or digit. */
export const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "is not a name (1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit)");

/** `host:port` or `[v6]:port`, exactly as the key-provider lib reads them. */
export const KmipServer = z.string().refine((s) => {
  try {
    parseKmipServer(s);
    return true;
  } catch {
    return false;
  }
}, "is not HOST:PORT (or [IPv6]:PORT, port 1-65535)");

/** The key servers, in the order they are tried. */
export const KmipServers = z.array(KmipServer).min(1, "names no server").max(16, "names more than 16 servers");

const Pem = (what: string) =>
  z
    .string()
    .max(64 * 1024, "is over 64 KiB")
    .regex(new RegExp(`-----BEGIN ${what}-----`), `holds no PEM ${what}`);

/** One or more PEM certificates. */
export const CertificatePem = Pem("CERTIFICATE");

/** A PEM private key (PKCS#8, SEC1 or PKCS#1). */
export const PrivateKeyPem = z
  .string()
  .max(64 * 1024, "is over 64 KiB")
  .regex(/-----BEGIN (?:EC |RSA )?PRIVATE KEY-----/, "holds no PEM private key");

/** The wrap modes, or `auto` (GCM when the server does it, else CBC-HMAC). */
export const WrapModeRequest = z.enum(["auto", "A256GCM", "CBC-HMAC-SHA256"]);

/** `POST /api/v1/trust-setups`. */
export const TrustSetupRequest = z.strictObject({ name: Name, kmipServers: KmipServers, serverCa: CertificatePem });

/** Answer of `POST /api/v1/trust-setups`. */
export const TrustSetupView = z.object({
  name: z.string(),
  csr: z.string(),
  kmipServers: z.array(z.string()),
  /** The connection test: each server's TLS certificate against serverCa. */
  servers: z.array(z.object({ server: z.string(), status: z.enum(["trusted", "untrusted", "unreachable"]), detail: z.string().optional() })),
  createdAt: z.iso.datetime(),
});

/** `POST /api/v1/providers`. */
export const CreateProviderRequest = z.strictObject({
  name: Name,
  kmipServers: KmipServers,
  keyId: z.string().min(1, "is empty").max(1024, "is over 1024 characters"),
  serverCa: CertificatePem,
  clientCertificate: CertificatePem,
  clientKey: PrivateKeyPem.optional(),
  wrapMode: WrapModeRequest.optional(),
});

/** `POST /api/v1/providers/{p}/rotate`. */
export const RotateRequest = z.strictObject({ keyId: z.string().min(1, "is empty").max(1024, "is over 1024 characters").optional() });

/** `POST /api/v1/providers/{p}/grants`. */
export const GrantRequest = z.strictObject({ cluster: Name });

/** A wrapped key (PLAN.md's wrapped form, base64). */
export const RewrapRequest = z.strictObject({ wrapped: z.string().min(1, "is empty").max(96 * 1024, "is over 96 KiB") });

/** Answer of rewrap. */
export const RewrapView = z.object({ wrapped: z.string(), keyVersion: z.number().int() });

const Hex64 = z.string().regex(/^[0-9a-fA-F]{64}$/, "is not 64 hex digits (a SHA-256)");

/** One rule placing hosts in a trusted cluster (at least one criterion; all given must match). */
export const ClusterRuleSchema = z
  .strictObject({
    host: z.string().min(1, "is empty").max(255, "is over 255 characters").optional(),
    ekFingerprint: Hex64.optional(),
    tpmCa: Hex64.optional(),
  })
  .refine((r) => r.host !== undefined || r.ekFingerprint !== undefined || r.tpmCa !== undefined, "names no host, ekFingerprint or tpmCa");

/** `PUT /api/v1/clusters/{c}`. */
export const PutClusterRequest = z.strictObject({ rules: z.array(ClusterRuleSchema).max(1000, "has more than 1000 rules") });

/** A trusted cluster. */
export const ClusterView = z.object({
  name: z.string(),
  rules: z.array(z.object({ host: z.string().optional(), ekFingerprint: z.string().optional(), tpmCa: z.string().optional() })),
  updatedAt: z.iso.datetime().optional(),
  /** `default`: every host no other cluster claims. */
  implicit: z.boolean().optional(),
});

/** A key version. */
export const KeyVersionView = z.object({ version: z.number().int(), keyId: z.string(), mode: z.string(), createdAt: z.iso.datetime() });

/** A provider as the admin API shows it (never its client key). */
export const ProviderView = z.object({
  name: z.string(),
  kmipServers: z.array(z.string()),
  currentVersion: z.number().int(),
  mode: z.string(),
  versions: z.array(KeyVersionView),
  grants: z.array(z.string()),
  clientCertificate: z.string(),
  serverCa: z.string(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

/** One audit row. */
export const AuditView = z.object({
  id: z.number().int(),
  at: z.iso.datetime(),
  actor: z.string().optional(),
  host: z.string().optional(),
  provider: z.string().optional(),
  keyVersion: z.number().int().optional(),
  operation: z.string(),
  result: z.string(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

/** `GET /api/v1/audit` query. */
export const AuditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  provider: z.string().min(1).max(255).optional(),
  host: z.string().min(1).max(255).optional(),
  before: z.coerce.number().int().min(1).optional(),
});
