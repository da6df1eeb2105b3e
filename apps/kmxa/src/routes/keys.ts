/**
 * The key routes of the local API, served only on the Unix socket (app.ts answers 403 `socket-only` for them on the
 * TCP port): kmxd's host API (PROTOCOL.md, kmxd) with the secrets opened in this host's TPM and handed over in the
 * clear, base64 in JSON. kmxd's refusals come back with kmxd's status and problem code; a host without a valid
 * token is 503 `not-attested` with the agent's last failure.
 *
 * - `POST /api/v1/providers/{p}/data-keys` `{bytes?}` → 201 `{wrapped, key}`
 * - `POST /api/v1/providers/{p}/unwrap` `{wrapped}` → 200 `{key}`
 * - `POST /api/v1/providers/{p}/encrypt` `{plaintext}` → 200 `{ciphertext}`
 * - `POST /api/v1/providers/{p}/decrypt` `{ciphertext}` → 200 `{plaintext}`
 * - `POST /api/v1/providers/{p}/rewrap` `{wrapped}` → 200 `{wrapped}`
 * @module
 */
import { problemResponse, ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { KeyRequestError, type KeyService } from "../keys.ts";
import { MAX_PLAINTEXT_LENGTH } from "@tessera/key-provider";

/** The problem codes the key routes answer with besides kmxd's own (which pass through with kmxd's status). */
export const KEY_PROBLEMS = {
  "bad-request": 400,
  "socket-only": 403,
  "kmxd-answer-invalid": 502,
  "key-not-opened": 502,
  "not-attested": 503,
  "kmxd-unreachable": 503,
} as const;

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const Base64 = z.string().regex(B64, "is not base64 (RFC 4648 §4, padded)");
/** kmxd's provider names: 1–63 of A-Z a-z 0-9 . _ -, starting with a letter or digit. */
const PROVIDER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const EkCertificateBody = z.strictObject({
  ekPublicKey: z.string().startsWith("-----BEGIN PUBLIC KEY-----", "is not a SubjectPublicKeyInfo PEM").max(8192, "is over 8 KiB"),
  vm: z.strictObject({ name: z.string().min(1).max(63), uuid: z.string().uuid("is not a UUID") }),
});
const DataKeyBody = z.strictObject({ bytes: z.number().int().min(16).max(64).optional() });
const WrappedBody = z.strictObject({
  wrapped: z
    .string()
    .min(1, "is empty")
    .max(64 * 1024, "is over 64 KiB"),
});
const PlaintextBody = z.strictObject({ plaintext: Base64.max(Math.ceil(MAX_PLAINTEXT_LENGTH / 3) * 4, `is over ${MAX_PLAINTEXT_LENGTH} bytes`) });
const CiphertextBody = z.strictObject({
  ciphertext: z
    .string()
    .min(1, "is empty")
    .max(64 * 1024, "is over 64 KiB"),
});

/** The problem response for an error of a key request (a ProblemError as it is; anything else is rethrown). */
export function keyProblem(e: unknown): Response {
  if (e instanceof ProblemError) {
    return problemResponse({ code: e.code, status: e.status, detail: e.detail, ...(e.extra ? { extra: e.extra } : {}) });
  }
  if (!(e instanceof KeyRequestError)) throw e;
  switch (e.code) {
    case "KMXD_REFUSED":
      return problemResponse({
        code: e.problemCode ?? "kmxd-refused",
        status: e.status !== undefined && e.status >= 400 && e.status <= 599 ? e.status : 502,
        detail: e.message,
        extra: { ...e.extra, source: "kmxd" },
        ...(e.headers !== undefined ? { headers: e.headers } : {}),
      });
    case "NOT_ATTESTED":
      return problemResponse({
        code: "not-attested",
        status: KEY_PROBLEMS["not-attested"],
        detail: e.message,
        ...(e.failure !== undefined ? { extra: { failure: e.failure } } : {}),
        headers: { "retry-after": "5" },
      });
    case "KMXD_UNREACHABLE":
      return problemResponse({ code: "kmxd-unreachable", status: KEY_PROBLEMS["kmxd-unreachable"], detail: e.message, headers: { "retry-after": "5" } });
    case "KMXD_ANSWER_INVALID":
      return problemResponse({ code: "kmxd-answer-invalid", status: KEY_PROBLEMS["kmxd-answer-invalid"], detail: e.message });
    case "KEY_NOT_OPENED":
      return problemResponse({ code: "key-not-opened", status: KEY_PROBLEMS["key-not-opened"], detail: e.message });
  }
}

function providerOf(c: Context<ServiceEnv>): string {
  const p = c.req.param("provider") ?? "";
  if (!PROVIDER.test(p))
    throw new ProblemError("bad-request", 400, `provider ${JSON.stringify(p.slice(0, 80))} is not a provider name (1-63 characters of A-Z a-z 0-9 . _ -)`);
  return p;
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");

/**
 * Runs one key operation: errors become problems; the response is never cached (it holds a key).
 */
async function keyOperation(c: Context<ServiceEnv>, name: string, run: (provider: string) => Promise<Response>): Promise<Response> {
  try {
    const provider = providerOf(c);
    const res = await run(provider);
    res.headers.set("cache-control", "no-store");
    return res;
  } catch (e) {
    const res = keyProblem(e);
    c.get("log").info({ operation: name, status: res.status, err: e instanceof Error ? e.message : String(e) }, "key request refused");
    return res;
  }
}

/** The key routes over `keys`, to be mounted on the socket's app. */
export function keyRoutes(keys: KeyService): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();

  // A vTPM's EK certificate from the Trust Authority's vTPM CA (kmxd), for the vTPM manager on this host.
  app.post("/api/v1/vtpm/ek-certificates", async (c) => {
    try {
      const body = await readJson(c, EkCertificateBody);
      return c.json(await keys.vtpmEkCertificate(body.ekPublicKey, body.vm), 201);
    } catch (e) {
      const res = keyProblem(e);
      c.get("log").info(
        { operation: "vtpm-ek-certificate", status: res.status, err: e instanceof Error ? e.message : String(e) },
        "vTPM certificate request refused",
      );
      return res;
    }
  });

  app.post("/api/v1/providers/:provider/data-keys", (c) =>
    keyOperation(c, "data-keys", async (provider) => {
      const body = await readJson(c, DataKeyBody);
      const { wrapped, key } = await keys.dataKey(provider, body.bytes);
      try {
        return c.json({ wrapped, key: b64(key) }, 201);
      } finally {
        key.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/unwrap", (c) =>
    keyOperation(c, "unwrap", async (provider) => {
      const { wrapped } = await readJson(c, WrappedBody);
      const key = await keys.unwrap(provider, wrapped);
      try {
        return c.json({ key: b64(key) });
      } finally {
        key.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/encrypt", (c) =>
    keyOperation(c, "encrypt", async (provider) => {
      const { plaintext } = await readJson(c, PlaintextBody);
      const bytes = new Uint8Array(Buffer.from(plaintext, "base64"));
      if (bytes.length > MAX_PLAINTEXT_LENGTH) throw new ProblemError("bad-request", 400, `plaintext is over ${MAX_PLAINTEXT_LENGTH} bytes`);
      try {
        return c.json({ ciphertext: await keys.encrypt(provider, bytes) });
      } finally {
        bytes.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/decrypt", (c) =>
    keyOperation(c, "decrypt", async (provider) => {
      const { ciphertext } = await readJson(c, CiphertextBody);
      const plain = await keys.decrypt(provider, ciphertext);
      try {
        return c.json({ plaintext: b64(plain) });
      } finally {
        plain.fill(0);
      }
    }),
  );

  app.post("/api/v1/providers/:provider/rewrap", (c) =>
    keyOperation(c, "rewrap", async (provider) => {
      const { wrapped } = await readJson(c, WrappedBody);
      return c.json({ wrapped: await keys.rewrap(provider, wrapped) });
    }),
  );

  return app;
}
