/**
 * The host side of PROTOCOL.md's attestd calls (§1 enrollment and activation, §2 challenge, §3 attestation) over
 * HTTPS trusting attestd's CA: the same requests tpm2-tools and curl would send, nothing private. Answers are
 * checked against the protocol's shapes; every refusal is an {@link AttestdError} that says whether attestd
 * answered (`refused`, with its problem code, detail and failures) or could not be reached or understood
 * (`unreachable`: retried with backoff by the agent).
 * @module
 */
import { HttpsJsonError, httpsJson } from "@tessera/http";
import { z } from "zod";
import type { AgentFailure, AttestationFailure } from "./agent_types.ts";

/**
 * How a call to attestd failed: it `refused` (a 4xx problem: a verdict on the host or its request), or it was
 * `unreachable` (no answer, a 5xx, 429 or 408 — attestd busy or broken, not judging —, an answer that does not fit).
 */
export type AttestdErrorKind = "refused" | "unreachable";

/** A failed call to attestd. */
export class AttestdError extends Error {
  /** `refused` or `unreachable`. */
  readonly kind: AttestdErrorKind;
  /**
   * attestd's problem code when it refused (`attestation-failed`, `ek-untrusted`, …); else `attestd-unreachable`
   * (no answer), `attestd-unavailable` (5xx) or `attestd-answer-invalid` (an answer that is not PROTOCOL.md's).
   */
  readonly code: string;
  /** The HTTP status, when attestd answered. */
  readonly status: number | undefined;
  /** attestd's detail, or what went wrong. */
  readonly detail: string;
  /** attestd's failed checks (attestation-failed). */
  readonly failures: AttestationFailure[] | undefined;

  /** @param init what failed; @param options the cause */
  constructor(init: { kind: AttestdErrorKind; code: string; detail: string; status?: number; failures?: AttestationFailure[]; call: string }, options: { cause?: unknown } = {}) {
    super(`${init.call}: ${init.code}: ${init.detail}`, { cause: options.cause });
    this.name = "AttestdError";
    this.kind = init.kind;
    this.code = init.code;
    this.status = init.status;
    this.detail = init.detail;
    this.failures = init.failures;
  }

  /** As the agent's status reports it. */
  toFailure(): AgentFailure {
    return { code: this.code, detail: this.detail, ...(this.failures !== undefined ? { failures: this.failures } : {}) };
  }

  /** Whether attestd's failures include `check` (e.g. `ak-not-enrolled`). */
  hasCheck(check: string): boolean {
    return this.failures?.some((f) => f.check === check) ?? false;
  }
}

/** Options of {@link createAttestdHostClient}. */
export interface AttestdHostClientOptions {
  /** attestd's URL (no trailing slash needed). */
  readonly url: string;
  /** PEM of the CA(s) of attestd's TLS certificate. */
  readonly ca: string;
  /** Per call (default 30 s). */
  readonly timeoutMs?: number;
}

/** An enrollment started (§1): the credential to activate and until when. */
export interface Enrollment {
  enrollment: string;
  /** The credential file (`tpm2_makecredential -o` format). */
  credential: Uint8Array;
  expiresAt: number;
}

/** A challenge (§2). */
export interface Challenge {
  /** 32 bytes. */
  nonce: Uint8Array;
  /** tpm2-tools `-l` syntax, e.g. `sha256:0,1,2,3,4,5,6,7`. */
  pcrSelection: string;
  expiresAt: number;
}

/** The evidence of an attestation (§3), binary values as bytes. */
export interface Evidence {
  nonce: Uint8Array;
  quote: Uint8Array;
  signature: Uint8Array;
  pcrs: Record<string, Record<string, string>>;
  eventLog: Uint8Array;
  bindingKey?: { public: Uint8Array; certifyInfo: Uint8Array; signature: Uint8Array };
}

/** attestd's verdict: an attestation token. */
export interface Attested {
  status: "affirming";
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** The calls of PROTOCOL.md's host side. */
export interface AttestdHostClient {
  /** `POST /api/v1/hosts/{host}/enrollments`. */
  enroll(host: string, keys: { ekCertificate?: Uint8Array; ekPublic?: Uint8Array; akPublic: Uint8Array }, signal?: AbortSignal): Promise<Enrollment>;
  /** `POST /api/v1/hosts/{host}/enrollments/{id}/activation`: the AK's Name (hex) as attestd bound it. */
  activate(host: string, enrollment: string, secret: Uint8Array, signal?: AbortSignal): Promise<{ akName: string }>;
  /** `POST /api/v1/hosts/{host}/challenges`. */
  challenge(host: string, signal?: AbortSignal): Promise<Challenge>;
  /** `POST /api/v1/hosts/{host}/attestations`. */
  attest(host: string, evidence: Evidence, signal?: AbortSignal): Promise<Attested>;
}

const Time = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));
const B64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "is not base64").min(1);
const EnrollmentAnswer = z.object({ enrollment: z.string().min(1).max(200), credential: B64, expiresAt: Time });
const ActivationAnswer = z.object({ akName: z.string().regex(/^[0-9a-f]+$/, "is not hex") });
const ChallengeAnswer = z.object({ nonce: z.string().regex(/^(?:[0-9a-f]{2}){8,64}$/, "is not a hex nonce"), pcrSelection: z.string().min(1).max(512), expiresAt: Time });
const AttestationAnswer = z.object({ status: z.literal("affirming"), token: z.string().regex(/^[\w-]+\.[\w-]+\.[\w-]+$/, "is not a compact JWS"), expiresAt: Time });
const Failure = z.looseObject({ check: z.string(), detail: z.string() });
const Problem = z.looseObject({ type: z.string().optional(), title: z.string().optional(), detail: z.string().optional(), failures: z.array(Failure).optional() });

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

/** A client of attestd's host protocol. */
export function createAttestdHostClient(options: AttestdHostClientOptions): AttestdHostClient {
  const base = options.url.replace(/\/+$/, "");
  const hostPath = (host: string): string => `${base}/api/v1/hosts/${encodeURIComponent(host)}`;

  async function post<T>(url: string, body: unknown, expected: number, schema: z.ZodType<T>, signal: AbortSignal | undefined): Promise<T> {
    const call = `POST ${url}`;
    let r;
    try {
      r = await httpsJson("POST", url, body, { ca: options.ca, ...(signal !== undefined ? { signal } : {}), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
    } catch (e) {
      if (!(e instanceof HttpsJsonError)) throw e;
      const code = e.code === "HTTP_RESPONSE_INVALID" || e.code === "HTTP_RESPONSE_TOO_LARGE" ? "attestd-answer-invalid" : "attestd-unreachable";
      throw new AttestdError({ kind: "unreachable", code, detail: e.message, ...(e.status !== undefined ? { status: e.status } : {}), call }, { cause: e });
    }
    if (r.status === expected) {
      const parsed = schema.safeParse(r.body);
      if (parsed.success) return parsed.data;
      const issue = parsed.error.issues[0]!;
      throw new AttestdError({ kind: "unreachable", code: "attestd-answer-invalid", status: r.status, detail: `the answer's field ${issue.path.join(".") || "(root)"} ${issue.message}`, call }, { cause: parsed.error });
    }
    const p = Problem.safeParse(r.body);
    const problem = p.success ? p.data : {};
    const code = problem.type?.startsWith("urn:tessera:problem:") ? problem.type.slice("urn:tessera:problem:".length) : undefined;
    const detail = problem.detail ?? problem.title ?? `HTTP ${r.status}`;
    // A server-side failure (or a proxy's) is not a verdict on this host: retried like no answer at all.
    if (r.status >= 500 || code === undefined) {
      throw new AttestdError({ kind: "unreachable", code: r.status >= 500 ? "attestd-unavailable" : "attestd-answer-invalid", status: r.status, detail: `HTTP ${r.status}: ${detail}`, call });
    }
    // Too many requests, or too slow: attestd is busy, not judging the host. Retried with backoff under its own code.
    if (r.status === 429 || r.status === 408) throw new AttestdError({ kind: "unreachable", code, status: r.status, detail, call });
    throw new AttestdError({ kind: "refused", code, status: r.status, detail, ...(problem.failures !== undefined ? { failures: problem.failures as AttestationFailure[] } : {}), call });
  }

  return {
    async enroll(host, keys, signal) {
      const body = {
        ...(keys.ekCertificate !== undefined ? { ekCertificate: b64(keys.ekCertificate) } : {}),
        ...(keys.ekPublic !== undefined ? { ekPublic: b64(keys.ekPublic) } : {}),
        akPublic: b64(keys.akPublic),
      };
      const a = await post(`${hostPath(host)}/enrollments`, body, 201, EnrollmentAnswer, signal);
      return { enrollment: a.enrollment, credential: new Uint8Array(Buffer.from(a.credential, "base64")), expiresAt: a.expiresAt };
    },
    async activate(host, enrollment, secret, signal) {
      return post(`${hostPath(host)}/enrollments/${encodeURIComponent(enrollment)}/activation`, { secret: b64(secret) }, 200, ActivationAnswer, signal);
    },
    async challenge(host, signal) {
      const a = await post(`${hostPath(host)}/challenges`, undefined, 201, ChallengeAnswer, signal);
      return { nonce: new Uint8Array(Buffer.from(a.nonce, "hex")), pcrSelection: a.pcrSelection, expiresAt: a.expiresAt };
    },
    async attest(host, evidence, signal) {
      const body = {
        nonce: Buffer.from(evidence.nonce).toString("hex"),
        quote: b64(evidence.quote),
        signature: b64(evidence.signature),
        pcrs: evidence.pcrs,
        eventLog: b64(evidence.eventLog),
        ...(evidence.bindingKey !== undefined
          ? { bindingKey: { public: b64(evidence.bindingKey.public), certifyInfo: b64(evidence.bindingKey.certifyInfo), signature: b64(evidence.bindingKey.signature) } }
          : {}),
      };
      return post(`${hostPath(host)}/attestations`, body, 200, AttestationAnswer, signal);
    },
  };
}
