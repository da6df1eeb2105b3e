/**
 * The host API (PROTOCOL.md, kmxd): data-keys, unwrap, encrypt, decrypt, and rewrap, each for an attested host
 * whose trusted cluster may use the provider. Every secret goes back as a compact JWE (RSA-OAEP-256 + A256GCM) to
 * the token's `cnf.jwk`; a token without one gets 403 `binding-key-missing` before any key server is asked.
 * Every key operation of an authenticated host is audited (result `ok` or the problem code); a data key is
 * answered only after its audit row is committed. Rate limits: a token bucket per host and one per provider
 * (429 `rate-limited` with Retry-After).
 * @module
 */
import { randomBytes } from "node:crypto";
import { ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { MAX_PLAINTEXT_LENGTH, rewrap, tokenBucket, unwrap, wrap, type ProviderKey } from "@tessera/key-provider";
import { encryptToJwk } from "@tessera/tokens";
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { KmxdDeps, ProviderHandle } from "../deps.ts";
import {
  authorizeProvider,
  bindingKeyOf,
  checkHostStatus,
  HostRefusal,
  hostProblemResponse,
  takeHostRate,
  verifyHostToken,
  VerifiedTokens,
  type HostCaller,
} from "../host_auth.ts";

/** Problem codes the host API answers with, and their status (PROTOCOL.md plus kmxd's). */
export const HOST_PROBLEMS = {
  "bad-request": 400,
  "wrapped-malformed": 400,
  "token-invalid": 401,
  "token-expired": 401,
  "host-untrusted": 403,
  "provider-not-allowed": 403,
  "binding-key-missing": 403,
  "provider-unknown": 404,
  "body-too-large": 413,
  "unsupported-media-type": 415,
  "unwrap-failed": 422,
  "rate-limited": 429,
  "kmip-refused": 502,
  "kmip-outcome-unknown": 502,
  "key-servers-unreachable": 503,
  "attestd-unreachable": 503,
} as const;

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const Base64 = z.string().regex(B64, "is not base64 (RFC 4648 §4, padded)");

const DataKeyBody = z.strictObject({ bytes: z.number().int().min(16).max(64).optional() });
const WrappedBody = z.strictObject({ wrapped: z.string().min(1, "is empty") });
const PlaintextBody = z.strictObject({ plaintext: Base64.max(Math.ceil(MAX_PLAINTEXT_LENGTH / 3) * 4, `is over ${MAX_PLAINTEXT_LENGTH} bytes`) });
const CiphertextBody = z.strictObject({ ciphertext: z.string().min(1, "is empty") });

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/**
 * The problem for an error of a key operation on the key server (only at this edge: the libs throw typed errors).
 * Anything else is returned unchanged (a 500 that is logged).
 */
export function keyOperationProblem(e: unknown, provider: string): unknown {
  if (e instanceof ProblemError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const p = (code: keyof typeof HOST_PROBLEMS, detail: string, extra?: Record<string, unknown>): ProblemError =>
    new ProblemError(code, HOST_PROBLEMS[code], detail, extra, { cause: e });
  switch (codeOf(e)) {
    case "WRAPPED_MALFORMED":
      return p("wrapped-malformed", message, { field: (e as { field?: unknown }).field });
    case "KEY_VERSION_UNKNOWN":
    case "UNWRAP_FAILED":
      return p("unwrap-failed", `provider ${provider}: ${message}`, { reason: codeOf(e) });
    case "KEY_SERVERS_UNREACHABLE":
      return p("key-servers-unreachable", `provider ${provider}: ${message}`, { servers: (e as { servers?: unknown }).servers ?? [] });
    case "KMIP_OUTCOME_UNKNOWN":
      return p("kmip-outcome-unknown", `provider ${provider}: the key server's answer was lost (not retried): ${message}`);
    case "KEY_NOT_FOUND":
    case "KEY_NOT_ACTIVE":
    case "MODE_UNSUPPORTED":
    case "KMIP_RESULT":
      return p("kmip-refused", `provider ${provider}: the key server refused: ${message}`, { reason: codeOf(e) });
    default:
      return e;
  }
}

async function providerOf(deps: KmxdDeps, name: string): Promise<ProviderHandle> {
  const handle = await deps.providers.get(name);
  if (handle === undefined) throw new ProblemError("provider-unknown", 404, `no trusted key provider ${name}`);
  return handle;
}

/**
 * Rewraps `wrapped` under the provider's current key version (the core of the host route and of the admin
 * route `POST /api/v1/admin/providers/{p}/rewrap`); no secret leaves it.
 * @throws ProblemError 404 `provider-unknown`, 400 `bad-request` / `wrapped-malformed`, 422 `unwrap-failed`,
 *   503 `key-servers-unreachable`, 502 `kmip-refused` / `kmip-outcome-unknown`.
 */
export async function rewrapCore(deps: KmxdDeps, provider: string, wrapped: unknown): Promise<string> {
  if (typeof wrapped !== "string" || wrapped === "") throw new ProblemError("bad-request", 400, "wrapped must be a non-empty string");
  const handle = await providerOf(deps, provider);
  return rewrapWith(handle, provider, wrapped);
}

async function rewrapWith(handle: ProviderHandle, provider: string, wrapped: string): Promise<string> {
  try {
    return await rewrap(handle.client, (kv) => handle.version(kv), handle.current, wrapped);
  } catch (e) {
    throw keyOperationProblem(e, provider);
  }
}

/** A host route's context once authenticated, authorized and admitted. */
interface Admitted {
  caller: HostCaller;
  handle: ProviderHandle;
  provider: string;
  cluster: string;
}

/** The audit of one operation: the key version it used, once known, and the row. */
interface Audited {
  keyVersion?: number;
  audit(result: string, detail?: Record<string, unknown>): Promise<void>;
}

function retryAfter(seconds: number): string {
  return String(Math.max(1, Math.ceil(seconds)));
}

/**
 * The host routes, to be mounted on kmxd's service (`app.route("/", hostRoutes(deps))`). The host and provider
 * rate limits (`deps.config.hostRate`, `providerRate` per second, a burst of one second's worth) live in the
 * returned app.
 */
export function hostRoutes(deps: KmxdDeps): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  const hostBucket = tokenBucket({ ratePerSecond: deps.config.hostRate, burst: Math.max(1, Math.ceil(deps.config.hostRate)) });
  const providerBucket = tokenBucket({ ratePerSecond: deps.config.providerRate, burst: Math.max(1, Math.ceil(deps.config.providerRate)) });
  // A host presents the same token for its whole lifetime: its signature and claims are checked once.
  const verified = new VerifiedTokens();

  /**
   * Runs one host operation: the token (no audit row when it is refused: there is no host yet), the host's
   * rate limit, the host's status, the
   * binding key for a secret, the provider and its grant, the provider's rate limit, then `run`. Refusals after
   * authentication are audited with their problem code; a rate-limited request is not (it would let a host fill
   * the audit table at the rate it is refused).
   */
  async function operation(c: Context<ServiceEnv>, name: string, secret: boolean, run: (a: Admitted, op: Audited) => Promise<Response>): Promise<Response> {
    const provider = c.req.param("provider") ?? "";
    let caller: HostCaller | undefined;
    const op: Audited = {
      async audit(result: string, detail?: Record<string, unknown>): Promise<void> {
        if (caller === undefined) return;
        await deps.audit.record({
          host: caller.host,
          provider,
          ...(op.keyVersion !== undefined ? { keyVersion: op.keyVersion } : {}),
          operation: name,
          result,
          ...(detail !== undefined ? { detail } : {}),
        });
      },
    };
    try {
      caller = await verifyHostToken(c.req.header("authorization"), {
        jwks: deps.attestdJwks,
        issuer: deps.config.attestd.issuer,
        now: deps.clock.now(),
        verified,
      });
      c.get("log").debug({ host: caller.host, provider, operation: name }, "host authenticated");
      takeHostRate(hostBucket, caller.host, deps.config.hostRate, deps.clock.now());
      // After the token is known good (a red host's attempts are audited under its name) and the host's rate
      // limit (they cannot fill the audit trail faster than it allows).
      checkHostStatus(caller, deps.hostStatus);
      if (secret) bindingKeyOf(caller);
      const found = await deps.providers.lookup(provider);
      if (found.handle === undefined) throw new ProblemError("provider-unknown", 404, `no trusted key provider ${provider}`);
      const handle = found.handle;
      const cluster = authorizeProvider(caller, provider, handle.grants, found.clusters);
      const byProvider = providerBucket.take(provider, deps.clock.now());
      if (!byProvider.ok) {
        throw new HostRefusal("rate-limited", 429, `provider ${provider} is over ${deps.config.providerRate} requests per second`, {
          headers: { "retry-after": retryAfter(byProvider.retryAfterSeconds) },
        });
      }
      return await run({ caller, handle, provider, cluster }, op);
    } catch (e) {
      const problem = keyOperationProblem(e, provider);
      if (problem instanceof ProblemError) {
        if (caller !== undefined && problem.code !== "rate-limited") {
          try {
            await op.audit(problem.code);
          } catch (err) {
            c.get("log").error({ err }, "the audit row of a refused key operation could not be written");
          }
        }
        if (problem.status === 401) c.get("log").info({ provider, operation: name, code: problem.code, detail: problem.detail }, "host token refused");
        return hostProblemResponse(problem);
      }
      throw problem;
    }
  }

  const versionOf = (wrapped: string): number | undefined => {
    // For the audit row only; unwrap itself validates the form (and refuses one over 64 KiB).
    if (wrapped.length > 64 * 1024) return undefined;
    try {
      const kv = (JSON.parse(Buffer.from(wrapped, "base64").toString("utf8")) as { kv?: unknown }).kv;
      return typeof kv === "number" ? kv : undefined;
    } catch {
      return undefined;
    }
  };

  app.post("/api/v1/providers/:provider/data-keys", (c) =>
    operation(c, "data-key.generate", true, async (a, op) => {
      const body = await readJson(c, DataKeyBody);
      const key = new Uint8Array(randomBytes(body.bytes ?? 32));
      try {
        const current: ProviderKey = a.handle.current;
        let wrapped: string;
        try {
          wrapped = await wrap(a.handle.client, current, key);
        } catch (e) {
          throw keyOperationProblem(e, a.provider);
        }
        const jwe = await encryptToJwk(key, bindingKeyOf(a.caller));
        // Durable before it is answered: a host never holds a data key that the audit trail does not show.
        op.keyVersion = current.version;
        await op.audit("ok", { bytes: key.length, cluster: a.cluster });
        return c.json({ wrapped, key: jwe }, 201);
      } finally {
        key.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/unwrap", (c) =>
    operation(c, "unwrap", true, async (a, op) => {
      const { wrapped } = await readJson(c, WrappedBody);
      op.keyVersion = versionOf(wrapped);
      let key: Uint8Array;
      try {
        key = await unwrap(a.handle.client, (v) => a.handle.version(v), wrapped);
      } catch (e) {
        throw keyOperationProblem(e, a.provider);
      }
      try {
        const jwe = await encryptToJwk(key, bindingKeyOf(a.caller));
        await op.audit("ok", { cluster: a.cluster });
        return c.json({ key: jwe });
      } finally {
        key.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/encrypt", (c) =>
    operation(c, "encrypt", false, async (a, op) => {
      const { plaintext } = await readJson(c, PlaintextBody);
      const bytes = new Uint8Array(Buffer.from(plaintext, "base64"));
      if (bytes.length > MAX_PLAINTEXT_LENGTH) throw new ProblemError("bad-request", 400, `plaintext is over ${MAX_PLAINTEXT_LENGTH} bytes`);
      let ciphertext: string;
      try {
        ciphertext = await wrap(a.handle.client, a.handle.current, bytes);
      } catch (e) {
        throw keyOperationProblem(e, a.provider);
      }
      op.keyVersion = a.handle.current.version;
      await op.audit("ok", { bytes: bytes.length, cluster: a.cluster });
      return c.json({ ciphertext });
    }),
  );

  app.post("/api/v1/providers/:provider/decrypt", (c) =>
    operation(c, "decrypt", true, async (a, op) => {
      const { ciphertext } = await readJson(c, CiphertextBody);
      op.keyVersion = versionOf(ciphertext);
      let plain: Uint8Array;
      try {
        plain = await unwrap(a.handle.client, (v) => a.handle.version(v), ciphertext);
      } catch (e) {
        throw keyOperationProblem(e, a.provider);
      }
      try {
        const jwe = await encryptToJwk(plain, bindingKeyOf(a.caller));
        await op.audit("ok", { cluster: a.cluster });
        return c.json({ plaintext: jwe });
      } finally {
        plain.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/rewrap", (c) =>
    operation(c, "rewrap", false, async (a, op) => {
      const { wrapped } = await readJson(c, WrappedBody);
      const from = versionOf(wrapped);
      const out = await rewrapWith(a.handle, a.provider, wrapped);
      op.keyVersion = a.handle.current.version;
      await op.audit("ok", { ...(from !== undefined ? { from } : {}), cluster: a.cluster });
      return c.json({ wrapped: out });
    }),
  );

  return app;
}
