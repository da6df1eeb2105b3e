/**
 * Trust set-ups and providers: create (connect, check that the key exists and is Active, probe the wrap mode),
 * list, show, remove, rotate (a new primary key version; old wrapped keys still unwrap) and rewrap.
 * @module
 */
import { readJson, type Principal, type ServiceEnv } from "@tessera/http";
import { checkClientCertificate, decodeWrapped, makeClientCsr, probeProvider, type WrapMode } from "@tessera/key-provider";
import type { Hono } from "hono";
import { actorName } from "../audit.ts";
import { providerKeyId, trustSetupKeyId } from "../bootstrap.ts";
import type { KmxdDeps } from "../deps.ts";
import { clientFor } from "../providers.ts";
import type { KmxdStore, ProviderRecord } from "../store/store.ts";
import type { AdminGuards } from "./admin_auth.ts";
import { nameParam } from "./admin_clusters.ts";
import { problem, setupProblem } from "./admin_problems.ts";
import { checkServerTls } from "./admin_tls_check.ts";
import { rewrapCore } from "./host.ts";
import { CreateProviderRequest, RewrapRequest, RotateRequest, TrustSetupRequest } from "./admin_schemas.ts";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The KMIP name of a key kmxd creates on rotation. */
export function rotatedKeyName(provider: string, version: number): string {
  return `tessera-kmxd/${provider}/v${version}`;
}

/** The usage mask a rotated key needs in `mode` (CBC-HMAC MACs with the same key). */
function usageFor(mode: WrapMode): string {
  return mode === "CBC-HMAC-SHA256" ? "Encrypt Decrypt MACGenerate MACVerify" : "Encrypt Decrypt";
}

/** A provider as the admin API shows it: servers, versions, grants, mode; never its client key. */
export async function providerView(store: KmxdStore, p: ProviderRecord): Promise<Record<string, unknown>> {
  const versions = await store.listKeyVersions(p.name);
  const current = versions.find((v) => v.version === p.currentVersion);
  return {
    name: p.name,
    kmipServers: [...p.kmipServers],
    currentVersion: p.currentVersion,
    mode: current?.mode ?? "unknown",
    versions: versions.map((v) => ({ version: v.version, keyId: v.keyId, mode: v.mode, createdAt: new Date(v.createdAt).toISOString() })),
    grants: [...(await store.listGrants(p.name))],
    clientCertificate: p.clientCertificate,
    serverCa: p.serverCa,
    createdAt: new Date(p.createdAt).toISOString(),
    updatedAt: new Date(p.updatedAt).toISOString(),
  };
}

/** Registers the trust set-up and provider routes. */
export function providerRoutes(app: Hono<ServiceEnv>, deps: KmxdDeps, guards: AdminGuards): void {
  const actor = (p: Principal) => actorName(p, deps.config.attestd.issuer);

  async function getRecord(name: string): Promise<ProviderRecord> {
    const p = await deps.store.getProvider(name);
    if (p === undefined) throw problem("provider-unknown", `there is no provider ${name}`);
    return p;
  }

  app.post("/api/v1/trust-setups", guards.write, async (c) => {
    const body = await readJson(c, TrustSetupRequest);
    let made: { csrPem: string; privateKeyPem: string };
    try {
      made = await makeClientCsr(body.name);
    } catch (e) {
      throw setupProblem(e, `trust set-up ${body.name}`);
    }
    // The connection test: reported, not enforced (a server may be down now and the CSR still worth making).
    const servers = await Promise.all(body.kmipServers.map((server) => checkServerTls(server, body.serverCa)));
    const at = deps.clock.now();
    await deps.store.putTrustSetup({
      name: body.name,
      kmipServers: body.kmipServers,
      serverCa: body.serverCa,
      csr: made.csrPem,
      clientKeyWrapped: deps.keyring.wrap(trustSetupKeyId(body.name), utf8.encode(made.privateKeyPem)),
      createdAt: at,
    });
    await deps.audit.record({ actor: actor(c.get("principal")), provider: body.name, operation: "trust-setup.create", result: "ok", detail: { servers } });
    return c.json({ name: body.name, csr: made.csrPem, kmipServers: body.kmipServers, servers, createdAt: new Date(at).toISOString() }, 201);
  });

  app.post("/api/v1/providers", guards.write, async (c) => {
    const body = await readJson(c, CreateProviderRequest);
    const who = actor(c.get("principal"));
    if ((await deps.store.getProvider(body.name)) !== undefined) throw problem("provider-exists", `provider ${body.name} exists already`);
    let keyPem = body.clientKey;
    if (keyPem === undefined) {
      const setup = await deps.store.getTrustSetup(body.name);
      if (setup === undefined) {
        throw problem("trust-setup-missing", `no clientKey given and no trust set-up ${body.name} to take it from (POST /api/v1/trust-setups first, or send clientKey)`);
      }
      keyPem = fromUtf8.decode(deps.keyring.unwrap(trustSetupKeyId(body.name), setup.clientKeyWrapped));
    }
    const what = `provider ${body.name}`;
    try {
      await checkClientCertificate(body.clientCertificate, keyPem);
    } catch (e) {
      throw setupProblem(e, what);
    }
    const client = clientFor(body, keyPem);
    let mode: WrapMode;
    try {
      ({ mode } = await probeProvider(client, body.keyId, body.wrapMode ?? "auto"));
    } catch (e) {
      await deps.audit.record({ actor: who, provider: body.name, operation: "provider.create", result: "refused", detail: { error: (e as Error).message } });
      throw setupProblem(e, `${what}, key ${body.keyId}`);
    } finally {
      client.close();
    }
    const at = deps.clock.now();
    const created = await deps.store.createProvider(
      {
        name: body.name,
        kmipServers: body.kmipServers,
        clientCertificate: body.clientCertificate,
        clientKeyWrapped: deps.keyring.wrap(providerKeyId(body.name), utf8.encode(keyPem)),
        serverCa: body.serverCa,
        createdAt: at,
      },
      { keyId: body.keyId, mode, createdAt: at },
      { fromTrustSetup: body.clientKey === undefined },
    );
    if (!created) throw problem("provider-exists", `provider ${body.name} exists already`);
    await deps.audit.record({ actor: who, provider: body.name, keyVersion: 1, operation: "provider.create", result: "ok", detail: { keyId: body.keyId, mode, kmipServers: body.kmipServers } });
    return c.json(await providerView(deps.store, await getRecord(body.name)), 201);
  });

  app.get("/api/v1/providers", guards.read, async (c) => {
    const all = await deps.store.listProviders();
    return c.json({ providers: await Promise.all(all.map((p) => providerView(deps.store, p))) });
  });

  app.get("/api/v1/providers/:provider", guards.read, async (c) => {
    const p = await getRecord(nameParam(c.req.param("provider"), "provider"));
    return c.json(await providerView(deps.store, p));
  });

  app.delete("/api/v1/providers/:provider", guards.write, async (c) => {
    const name = nameParam(c.req.param("provider"), "provider");
    if (!(await deps.store.deleteProvider(name))) throw problem("provider-unknown", `there is no provider ${name}`);
    await deps.audit.record({ actor: actor(c.get("principal")), provider: name, operation: "provider.remove", result: "ok" });
    return c.body(null, 204);
  });

  app.post("/api/v1/providers/:provider/rotate", guards.write, async (c) => {
    const name = nameParam(c.req.param("provider"), "provider");
    const body = await readJson(c, RotateRequest);
    const who = actor(c.get("principal"));
    const h = await deps.providers.get(name);
    if (h === undefined) throw problem("provider-unknown", `there is no provider ${name}`);
    const next = h.record.currentVersion + 1;
    let keyId = body.keyId;
    let mode: WrapMode;
    try {
      if (keyId === undefined) {
        // KMIP Create is a write: the client sends it at most once; an unknown outcome is reported, never retried.
        keyId = await h.client.create({ algorithm: "AES", length: 256, usage: usageFor(h.mode), name: rotatedKeyName(name, next) });
        await h.client.activate(keyId);
        ({ mode } = await probeProvider(h.client, keyId, h.mode));
      } else {
        ({ mode } = await probeProvider(h.client, keyId, "auto"));
      }
    } catch (e) {
      await deps.audit.record({ actor: who, provider: name, operation: "provider.rotate", result: "refused", detail: { error: (e as Error).message, ...(keyId ? { keyId } : {}) } });
      throw setupProblem(e, `rotating provider ${name}${keyId === undefined ? "" : `, key ${keyId}`}`);
    }
    const v = await deps.store.addKeyVersion(name, { keyId, mode, createdAt: deps.clock.now() });
    if (v === undefined) throw problem("provider-unknown", `provider ${name} was removed meanwhile`);
    await deps.audit.record({ actor: who, provider: name, keyVersion: v.version, operation: "provider.rotate", result: "ok", detail: { keyId, mode, created: body.keyId === undefined } });
    return c.json({ provider: name, version: v.version, keyId: v.keyId, mode: v.mode, createdAt: new Date(v.createdAt).toISOString() }, 201);
  });

  app.post("/api/v1/admin/providers/:provider/rewrap", guards.write, async (c) => {
    const name = nameParam(c.req.param("provider"), "provider");
    const { wrapped } = await readJson(c, RewrapRequest);
    const who = actor(c.get("principal"));
    let from: number | undefined;
    try {
      from = decodeWrapped(wrapped).kv;
    } catch {
      // rewrapCore names what is wrong with it.
    }
    let out: string;
    try {
      // The host route's core: the same checks and problems, admin authentication instead of a host token.
      out = await rewrapCore(deps, name, wrapped);
    } catch (e) {
      await deps.audit.record({ actor: who, provider: name, operation: "provider.rewrap", result: (e as { code?: string }).code ?? "error", ...(from !== undefined ? { detail: { from } } : {}) });
      throw e;
    }
    const to = decodeWrapped(out).kv;
    await deps.audit.record({ actor: who, provider: name, keyVersion: to, operation: "provider.rewrap", result: "ok", detail: { from } });
    return c.json({ wrapped: out, keyVersion: to });
  });
}
