/**
 * Keys from a trusted key provider, for local consumers: kmxa calls kmxd's host API (PROTOCOL.md, kmxd) with the
 * agent's attestation token, and opens each JWE kmxd answers inside the TPM — TPM2_RSA_Decrypt of the content key
 * with the binding key (`agent.rsaDecrypt`), then A256GCM in memory. A key is never written anywhere: it lives in
 * the buffers handed to the caller, who zeroes them once used.
 * @module
 */
import { Agent as HttpsAgent } from "node:https";
import { httpsJson } from "@tessera/http";
import { decryptJweWith } from "@tessera/tokens";
import { AgentError, type Agent, type AgentFailure } from "./agent_types.ts";

/** Stable codes of {@link KeyRequestError}. */
export type KeyRequestErrorCode =
  /** kmxd answered with a problem: `status`, `problemCode`, `detail` and `extra` are kmxd's. */
  | "KMXD_REFUSED"
  /** kmxd could not be reached (connection refused, TLS, timeout). */
  | "KMXD_UNREACHABLE"
  /** kmxd answered something that is not the protocol's answer. */
  | "KMXD_ANSWER_INVALID"
  /** The agent holds no valid token: attestd refused the host or cannot be reached. */
  | "NOT_ATTESTED"
  /** The TPM could not open the JWE (not made for this host's binding key, or the TPM failed). */
  | "KEY_NOT_OPENED";

/** A key request that did not give a key, with what the caller needs to say why. */
export class KeyRequestError extends Error {
  /** Stable code. */
  readonly code: KeyRequestErrorCode;
  /** kmxd's HTTP status, for KMXD_REFUSED. */
  readonly status: number | undefined;
  /** kmxd's problem code (`host-untrusted`, `provider-unknown`, …), for KMXD_REFUSED. */
  readonly problemCode: string | undefined;
  /** kmxd's problem members other than type/title/status/detail (e.g. `servers`), for KMXD_REFUSED. */
  readonly extra: Record<string, unknown> | undefined;
  /** The agent's last attestation failure, for NOT_ATTESTED. */
  readonly failure: AgentFailure | undefined;
  /** Response headers kmxd sent that the caller should see again (`retry-after`). */
  readonly headers: Record<string, string> | undefined;

  /**
   * @param code stable code
   * @param message text for people
   * @param options kmxd's problem, the agent's failure, the cause
   */
  constructor(
    code: KeyRequestErrorCode,
    message: string,
    options: {
      status?: number;
      problemCode?: string;
      extra?: Record<string, unknown>;
      failure?: AgentFailure;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "KeyRequestError";
    this.code = code;
    this.status = options.status;
    this.problemCode = options.problemCode;
    this.extra = options.extra;
    this.failure = options.failure;
    this.headers = options.headers;
  }
}

/** What keys need of the agent. */
export type KeyAgent = Pick<Agent, "token" | "rsaDecrypt" | "attestNow">;

/** Options of {@link createKeyService}. */
export interface KeyServiceOptions {
  /** kmxd's URL (`https://host:7888`). */
  readonly kmxdUrl: string;
  /** The CA certificate(s) (PEM) kmxd's TLS certificate chains to. */
  readonly kmxdCa: string;
  /** The agent: its token, and the TPM that opens the JWEs. */
  readonly agent: KeyAgent;
  /** How long one kmxd request may take, ms (default 30 000). */
  readonly timeoutMs?: number;
}

/** A new data key: the key itself and its wrapped form (opaque, to be kept by the caller). */
export interface DataKey {
  /** The wrapped form kmxd made (base64); unwrap gives the key back. */
  readonly wrapped: string;
  /** The key. The caller zeroes it when done. */
  readonly key: Uint8Array;
}

/** The key operations of one trusted key provider, through kmxd. */
export interface KeyService {
  /** A new random data key of `bytes` (16–64, kmxd's default 32) and its wrapped form. */
  dataKey(provider: string, bytes?: number): Promise<DataKey>;
  /** The key inside a wrapped form. */
  unwrap(provider: string, wrapped: string): Promise<Uint8Array>;
  /** `plaintext` encrypted by the provider's primary key (the ciphertext is a wrapped form). */
  encrypt(provider: string, plaintext: Uint8Array): Promise<string>;
  /** The plaintext inside a ciphertext of {@link KeyService.encrypt}. */
  decrypt(provider: string, ciphertext: string): Promise<Uint8Array>;
  /** A wrapped form rewrapped under the provider's current key version (no secret comes back). */
  rewrap(provider: string, wrapped: string): Promise<string>;
  /**
   * An EK certificate for a vTPM of this host from the Trust Authority's vTPM CA (kmxd; the host's token shows it is
   * attested), and that CA's certificate.
   */
  vtpmEkCertificate(ekPublicKey: string, vm: { readonly name: string; readonly uuid: string }): Promise<{ certificate: string; ca: string }>;
  /** Closes kmxd's keep-alive connections. */
  close(): void;
}

/** Largest answer read from kmxd (a JWE of a 32 KiB plaintext is well under it). */
const MAX_ANSWER_BYTES = 1024 * 1024;

interface Answer {
  status: number;
  headers: Headers;
  json: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const PROBLEM_TYPE = "urn:tessera:problem:";

/** kmxd's problem document as a {@link KeyRequestError}. */
function refusal(op: string, what: string, a: Answer): KeyRequestError {
  const doc = isRecord(a.json) ? a.json : {};
  const type = typeof doc.type === "string" ? doc.type : "";
  const problemCode = type.startsWith(PROBLEM_TYPE) ? type.slice(PROBLEM_TYPE.length) : `http-${a.status}`;
  const detail = typeof doc.detail === "string" ? doc.detail : `HTTP ${a.status}`;
  const extra = Object.fromEntries(Object.entries(doc).filter(([k]) => !["type", "title", "status", "detail"].includes(k)));
  const retryAfter = a.headers.get("retry-after") ?? undefined;
  return new KeyRequestError("KMXD_REFUSED", `kmxd refused ${op} of ${what}: ${detail}`, {
    status: a.status,
    problemCode,
    extra,
    ...(typeof retryAfter === "string" ? { headers: { "retry-after": retryAfter } } : {}),
  });
}

/**
 * Whether kmxd refused the token only for its age: 401 `token-expired`, or 403 `host-untrusted` because attestd
 * reports the host `stale` (its last token ran out: attestd publishes that before kmxd sees the expiry itself).
 * Both say "attest again"; a red or removed host is not retried (its refusal is the caller's to see).
 */
function outdated(a: Answer): boolean {
  if (!isRecord(a.json)) return false;
  if (a.status === 401 && a.json.type === `${PROBLEM_TYPE}token-expired`) return true;
  return a.status === 403 && a.json.type === `${PROBLEM_TYPE}host-untrusted` && a.json.hostStatus === "stale";
}

function stringField(op: string, a: Answer, name: string): string {
  const v = isRecord(a.json) ? a.json[name] : undefined;
  if (typeof v !== "string" || v === "") {
    throw new KeyRequestError("KMXD_ANSWER_INVALID", `kmxd's answer to ${op} (HTTP ${a.status}) has no string ${name}`);
  }
  return v;
}

/**
 * The key service over kmxd for `agent`.
 *
 * A kmxd answer that refuses the token for its age only (401 `token-expired`, or 403 `host-untrusted` for a host
 * attestd reports `stale`: the token ran out between the agent's check and kmxd's, or the clocks disagree) makes
 * the agent attest again and the request is sent once more; every other refusal is the caller's to see, with
 * kmxd's status and code.
 *
 * @example
 * ```ts
 * const keys = createKeyService({ kmxdUrl, kmxdCa, agent });
 * const { wrapped, key } = await keys.dataKey("kms-1");
 * ```
 */
export function createKeyService(options: KeyServiceOptions): KeyService {
  const base = new URL(options.kmxdUrl);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const https = new HttpsAgent({ keepAlive: true, ca: options.kmxdCa, maxSockets: 16 });
  const { agent } = options;

  async function token(): Promise<string> {
    try {
      return (await agent.token()).token;
    } catch (e) {
      if (e instanceof AgentError && e.code === "NOT_ATTESTED") {
        throw new KeyRequestError("NOT_ATTESTED", e.message, {
          ...(e.failure !== undefined ? { failure: e.failure } : {}),
          cause: e,
        });
      }
      throw e;
    }
  }

  function call(op: string, provider: string, body: unknown, ok: number): Promise<Answer> {
    return callAt(op, `api/v1/providers/${encodeURIComponent(provider)}/${op}`, `provider ${provider}`, body, ok);
  }

  /** One host request to kmxd at `relPath` with the agent's token (attested again once if kmxd finds it outdated). */
  async function callAt(op: string, relPath: string, what: string, body: unknown, ok: number): Promise<Answer> {
    const url = new URL(relPath, base.href.endsWith("/") ? base : `${base.href}/`);
    const send = async (t: string): Promise<Answer> => {
      try {
        const r = await httpsJson("POST", url.href, body, {
          agent: https,
          headers: { accept: "application/json", authorization: `Bearer ${t}` },
          timeoutMs,
          maxResponseBytes: MAX_ANSWER_BYTES,
        });
        return { status: r.status, headers: r.headers, json: r.body };
      } catch (e) {
        throw new KeyRequestError("KMXD_UNREACHABLE", `kmxd at ${base.origin} cannot be reached: ${(e as Error).message}`, { cause: e });
      }
    };
    let a = await send(await token());
    if (outdated(a)) {
      await agent.attestNow();
      a = await send(await token());
    }
    if (a.status !== ok) {
      if (a.status >= 200 && a.status < 300) throw new KeyRequestError("KMXD_ANSWER_INVALID", `kmxd answered ${op} with HTTP ${a.status}, not ${ok}`);
      throw refusal(op, what, a);
    }
    return a;
  }

  async function open(op: string, jwe: string): Promise<Uint8Array> {
    try {
      return await decryptJweWith(jwe, (encryptedKey) => agent.rsaDecrypt(encryptedKey));
    } catch (e) {
      throw new KeyRequestError("KEY_NOT_OPENED", `the TPM did not open kmxd's answer to ${op}: ${(e as Error).message}`, { cause: e });
    }
  }

  return {
    async dataKey(provider, bytes) {
      const a = await call("data-keys", provider, bytes === undefined ? {} : { bytes }, 201);
      const wrapped = stringField("data-keys", a, "wrapped");
      return { wrapped, key: await open("data-keys", stringField("data-keys", a, "key")) };
    },
    async unwrap(provider, wrapped) {
      const a = await call("unwrap", provider, { wrapped }, 200);
      return open("unwrap", stringField("unwrap", a, "key"));
    },
    async encrypt(provider, plaintext) {
      const a = await call("encrypt", provider, { plaintext: Buffer.from(plaintext).toString("base64") }, 200);
      return stringField("encrypt", a, "ciphertext");
    },
    async decrypt(provider, ciphertext) {
      const a = await call("decrypt", provider, { ciphertext }, 200);
      return open("decrypt", stringField("decrypt", a, "plaintext"));
    },
    async rewrap(provider, wrapped) {
      const a = await call("rewrap", provider, { wrapped }, 200);
      return stringField("rewrap", a, "wrapped");
    },
    async vtpmEkCertificate(ekPublicKey, vm) {
      const a = await callAt("vtpm-ek-certificate", "api/v1/vtpm/ek-certificates", "the Trust Authority's vTPM CA", { ekPublicKey, vm }, 201);
      return { certificate: stringField("vtpm-ek-certificate", a, "certificate"), ca: stringField("vtpm-ek-certificate", a, "ca") };
    },
    close() {
      https.destroy();
    },
  };
}
