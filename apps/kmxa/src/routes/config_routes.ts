/**
 * The agent's settings through its local API (workflow steps 6 and 7 of DESIGN.md, `tactl cluster
 * import-ta-identity` and `tactl cluster set-key-provider`):
 *
 * - `GET /api/v1/ta-identity`: the Trust Authority in use ({@link TrustAuthorityView}), on both channels.
 * - `PUT /api/v1/ta-identity` `{attestd: {url, ca}, kmxd: {url, ca}, cluster?}` (socket only): use it from now on
 *   (kept in state.json, winning over `--attestd`/`--kmxd`), attest at once → 200 `{trustAuthority, status}` with
 *   the status that attestation ended in (a refusal is its `state`, not an HTTP error).
 * - `GET /api/v1/key-provider` → `{name}` (null when none), on both channels.
 * - `PUT /api/v1/key-provider` `{name}` (socket only; null clears it) → `{name}`: the default provider, which
 *   `POST /api/v1/data-keys|unwrap|encrypt|decrypt|rewrap` (socket only, app.ts) use; without one they answer
 *   409 `key-provider-unset`.
 *
 * The changes are socket-only because they decide whom the host trusts: the socket's mode (0600) decides who may.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { problemResponse, ProblemError, readJson, type ServiceEnv } from "@tessera/http";
import { Hono } from "hono";
import { z } from "zod";
import { AgentError, type AgentSettings, type TrustAuthority } from "../agent_types.ts";
import type { DataKey, KeyService } from "../keys.ts";
import { statusView, type StatusView } from "./status.ts";

/** {@link TrustAuthority} as JSON. */
export interface TrustAuthorityView {
  attestd: { url: string; ca: string };
  kmxd: { url: string; ca: string } | null;
  cluster: string | null;
  /** `imported` (PUT /api/v1/ta-identity) or `configuration` (the command line, environment or file). */
  source: "imported" | "configuration";
  /** When it was imported (RFC 3339), null for the configuration's. */
  importedAt: string | null;
}

/** The answer of `PUT /api/v1/ta-identity`. */
export interface TaIdentityAnswer {
  trustAuthority: TrustAuthorityView;
  status: StatusView;
}

/** The JSON view of a Trust Authority. */
export function trustAuthorityView(ta: TrustAuthority): TrustAuthorityView {
  return {
    attestd: { url: ta.attestd.url, ca: ta.attestd.ca },
    kmxd: ta.kmxd === undefined ? null : { url: ta.kmxd.url, ca: ta.kmxd.ca },
    cluster: ta.cluster ?? null,
    source: ta.importedAt === undefined ? "configuration" : "imported",
    importedAt: ta.importedAt === undefined ? null : new Date(ta.importedAt).toISOString(),
  };
}

/** The largest CA bundle taken (a few certificates). */
const MAX_CA_CHARS = 64 * 1024;

const Pem = z
  .string()
  .max(MAX_CA_CHARS, `is over ${MAX_CA_CHARS} characters`)
  .refine((s) => {
    const blocks = s.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) return false;
    try {
      for (const b of blocks) new X509Certificate(b);
      return true;
    } catch {
      return false;
    }
  }, "is not PEM certificates");

const HttpsUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === "https:" && u.search === "" && u.hash === "" && u.username === "" && u.password === "";
    } catch {
      return false;
    }
  }, "is not an https:// URL without query, fragment or credentials");

const Service = z.strictObject({ url: HttpsUrl, ca: Pem });

const TaIdentityBody = z.strictObject({
  attestd: Service,
  kmxd: Service,
  cluster: z.string().min(1).max(253).optional(),
});

/** kmxd's provider names: 1–63 of A-Z a-z 0-9 . _ -, starting with a letter or digit. */
const PROVIDER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const KeyProviderBody = z.strictObject({
  name: z.string().regex(PROVIDER, "is not a provider name (1-63 characters of A-Z a-z 0-9 . _ -)").nullable(),
});

/** The key operations that, without a provider in the path, use the default one. */
export const DEFAULT_PROVIDER_OPERATIONS = ["data-keys", "unwrap", "encrypt", "decrypt", "rewrap"] as const;

const socketOnly = (what: string): Response =>
  problemResponse({ code: "socket-only", status: 403, detail: `${what} is changed only on kmxa's Unix socket, not on its TCP port` });

/** The settings routes over `settings`; on the TCP channel the changes answer 403 `socket-only`. */
export function configRoutes(settings: AgentSettings, channel: "socket" | "tcp"): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();

  app.get("/api/v1/ta-identity", (c) => {
    c.header("cache-control", "no-store");
    return c.json(trustAuthorityView(settings.trustAuthority()));
  });

  app.put("/api/v1/ta-identity", async (c) => {
    if (channel !== "socket") return socketOnly("the Trust Authority");
    const body = await readJson(c, TaIdentityBody);
    let status;
    try {
      status = await settings.setTrustAuthority(body);
    } catch (e) {
      if (e instanceof AgentError) throw new ProblemError(e.code === "CLOSED" ? "agent-closed" : "agent-error", 503, e.message, { reason: e.code });
      throw e;
    }
    c.header("cache-control", "no-store");
    const answer: TaIdentityAnswer = { trustAuthority: trustAuthorityView(settings.trustAuthority()), status: statusView(status) };
    return c.json(answer);
  });

  app.get("/api/v1/key-provider", (c) => c.json({ name: settings.keyProvider() ?? null }));

  app.put("/api/v1/key-provider", async (c) => {
    if (channel !== "socket") return socketOnly("the default key provider");
    const { name } = await readJson(c, KeyProviderBody);
    await settings.setKeyProvider(name ?? undefined);
    return c.json({ name: settings.keyProvider() ?? null });
  });

  return app;
}

/**
 * A key service that follows the agent's Trust Authority: `make(kmxd)` builds one for a kmxd, and a new one is made
 * (the old one closed once its requests have ended) each time an identity is imported.
 */
export function followingKeyService(
  settings: Pick<AgentSettings, "trustAuthority" | "onTrustAuthorityChange">,
  make: (kmxd: { url: string; ca: string }) => KeyService,
): KeyService {
  const first = settings.trustAuthority().kmxd;
  if (first === undefined) throw new Error("followingKeyService: the agent has no kmxd");
  let current = make(first);
  const busy = new Map<KeyService, number>();
  const retired = new Set<KeyService>();
  const release = (s: KeyService): void => {
    const n = (busy.get(s) ?? 1) - 1;
    if (n > 0) busy.set(s, n);
    else {
      busy.delete(s);
      if (retired.delete(s)) s.close();
    }
  };
  settings.onTrustAuthorityChange((ta) => {
    if (ta.kmxd === undefined) return;
    const old = current;
    current = make(ta.kmxd);
    if (busy.has(old)) retired.add(old);
    else old.close();
  });
  const use = async <T>(fn: (s: KeyService) => Promise<T>): Promise<T> => {
    const s = current;
    busy.set(s, (busy.get(s) ?? 0) + 1);
    try {
      return await fn(s);
    } finally {
      release(s);
    }
  };
  return {
    dataKey: (p, bytes): Promise<DataKey> => use((s) => s.dataKey(p, bytes)),
    unwrap: (p, w) => use((s) => s.unwrap(p, w)),
    encrypt: (p, x) => use((s) => s.encrypt(p, x)),
    decrypt: (p, x) => use((s) => s.decrypt(p, x)),
    rewrap: (p, w) => use((s) => s.rewrap(p, w)),
    vtpmEkCertificate: (k, vm) => use((s) => s.vtpmEkCertificate(k, vm)),
    close() {
      current.close();
      for (const s of retired) s.close();
      retired.clear();
    },
  };
}
