/**
 * The agent's own routes, on both the Unix socket and the TCP port:
 *
 * - `GET /api/v1/status`: where the agent stands with attestd ({@link StatusView}).
 * - `POST /api/v1/attest`: attest now (joining an attempt under way); 200 with the status it ended in, whatever it
 *   is (a refusal is the status's `state` and `lastFailure`, not an HTTP error: the request itself was served).
 * - `GET /api/v1/identity`: the host's identity for the administrator ({@link IdentityView}).
 * @module
 */
import { ProblemError, type ServiceEnv } from "@tessera/http";
import { imageFromEventLog, type ImageModel } from "@tessera/host-image";
import { parseEkCertificate } from "@tessera/pki";
import { Hono } from "hono";
import { AgentError, type Agent, type AgentFailure, type AgentState, type AgentStatus, type HostIdentity } from "../agent_types.ts";

/** {@link AgentStatus} as JSON: times in RFC 3339. */
export interface StatusView {
  host: string;
  state: AgentState;
  since: string;
  tokenExpiresAt?: string;
  lastAttempt?: string;
  lastFailure?: AgentFailure;
  nextAttemptAt?: string;
  akName?: string;
  ekFingerprint?: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The JSON view of a status. */
export function statusView(s: AgentStatus): StatusView {
  return {
    host: s.host,
    state: s.state,
    since: iso(s.since),
    ...(s.tokenExpiresAt !== undefined ? { tokenExpiresAt: iso(s.tokenExpiresAt) } : {}),
    ...(s.lastAttempt !== undefined ? { lastAttempt: iso(s.lastAttempt) } : {}),
    ...(s.lastFailure !== undefined ? { lastFailure: s.lastFailure } : {}),
    ...(s.nextAttemptAt !== undefined ? { nextAttemptAt: iso(s.nextAttemptAt) } : {}),
    ...(s.akName !== undefined ? { akName: s.akName } : {}),
    ...(s.ekFingerprint !== undefined ? { ekFingerprint: s.ekFingerprint } : {}),
  };
}

/** The host's identity as the administrator exports it (workflow step 1). Binary values base64. */
export interface IdentityView {
  host: string;
  /** The EK certificate (PEM), when the TPM holds one. */
  ekCertificate?: string;
  /** The EK's TPM2B_PUBLIC (base64), as `tpm2_createek -u` writes it. */
  ekPublic: string;
  /** The EK's public key (PEM, SubjectPublicKeyInfo): what attestd pins when there is no certificate. */
  ekPublicKey: string;
  /** SHA-256 (hex) of the EK's SPKI DER (the token's EK fingerprint). */
  ekFingerprint: string;
  /**
   * The EK certificate's subject and issuer (the TPM CA to trust on attestd is its issuer; `tactl ta` takes its
   * certificate from the TPM maker). Empty without a certificate: then attestd pins `ekPublicKey`.
   */
  caChain: { subject: string; issuer: string }[];
  /**
   * The TPM's maker, model (its vendor string) and firmware version as the TPM reports them, else from the EK
   * certificate's TCG attributes (`id:…` values).
   */
  tpm: { manufacturer?: string; model?: string; firmware?: string };
  /** The AK's Name (hex) and TPM2B_PUBLIC (base64). */
  akName: string;
  akPublic: string;
  /** The TCG event log (base64) as the agent reads it: `tactl ta image add --from-log` takes it as a file. */
  eventLog: string;
  /** The event log file. */
  eventLogPath: string;
  /** The image the log measured (libs/host-image's model), or why none could be made of it. */
  image?: ImageModel;
  imageError?: string;
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");

function pem(label: string, der: Uint8Array): string {
  const lines = b64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The JSON view of a host identity; `imageName`/`imageVersion` name the image made of its log. */
export function identityView(id: HostIdentity, image: { name: string; version: string }): IdentityView {
  const caChain: IdentityView["caChain"] = [];
  const tpm: IdentityView["tpm"] = {};
  if (id.ekCertificate !== undefined) {
    try {
      const ek = parseEkCertificate(id.ekCertificate);
      caChain.push({ subject: ek.subject, issuer: ek.issuer });
      if (ek.tpmManufacturer !== undefined) tpm.manufacturer = ek.tpmManufacturer;
      if (ek.tpmModel !== undefined) tpm.model = ek.tpmModel;
      if (ek.tpmVersion !== undefined) tpm.firmware = ek.tpmVersion;
    } catch {
      // A certificate the agent read but that does not parse is still exported: attestd names what is wrong with it.
    }
  }
  // What the TPM itself says wins over the certificate's attributes.
  if (id.tpm?.manufacturer) tpm.manufacturer = id.tpm.manufacturer;
  if (id.tpm?.vendorString) tpm.model = id.tpm.vendorString;
  if (id.tpm?.firmwareVersion) tpm.firmware = id.tpm.firmwareVersion;
  let made: ImageModel | undefined;
  let imageError: string | undefined;
  if (id.eventLog.length === 0) {
    imageError = `no event log at ${id.eventLogPath}`;
  } else {
    try {
      made = imageFromEventLog(id.eventLog, image);
    } catch (e) {
      imageError = e instanceof Error ? e.message : String(e);
    }
  }
  return {
    host: id.host,
    ...(id.ekCertificate !== undefined ? { ekCertificate: pem("CERTIFICATE", id.ekCertificate) } : {}),
    ekPublic: b64(id.ekPublic),
    ekPublicKey: pem("PUBLIC KEY", id.ekSpki),
    ekFingerprint: id.ekFingerprint,
    caChain,
    tpm,
    akName: id.akName,
    akPublic: b64(id.akPublic),
    eventLog: b64(id.eventLog),
    eventLogPath: id.eventLogPath,
    ...(made !== undefined ? { image: made } : {}),
    ...(imageError !== undefined ? { imageError } : {}),
  };
}

/** The agent's routes over `agent`. */
export function statusRoutes(agent: Pick<Agent, "status" | "attestNow" | "identity">): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  app.get("/api/v1/status", (c) => {
    c.header("cache-control", "no-store");
    return c.json(statusView(agent.status()));
  });
  app.post("/api/v1/attest", async (c) => {
    c.header("cache-control", "no-store");
    try {
      return c.json(statusView(await agent.attestNow()));
    } catch (e) {
      if (e instanceof AgentError) throw new ProblemError(e.code === "CLOSED" ? "agent-closed" : "agent-error", 503, e.message, { reason: e.code });
      throw e;
    }
  });
  app.get("/api/v1/identity", async (c) => {
    const q = c.req.query();
    const host = agent.status().host;
    const name = q.name ?? host;
    const version = q.version ?? "measured";
    if (name.length === 0 || name.length > 128 || version.length === 0 || version.length > 64) {
      throw new ProblemError("bad-request", 400, "name must be 1-128 characters and version 1-64");
    }
    let id: HostIdentity;
    try {
      id = await agent.identity();
    } catch (e) {
      if (e instanceof AgentError) throw new ProblemError("agent-error", 503, e.message, { reason: e.code });
      throw e;
    }
    c.header("cache-control", "no-store");
    return c.json(identityView(id, { name, version }));
  });
  return app;
}
