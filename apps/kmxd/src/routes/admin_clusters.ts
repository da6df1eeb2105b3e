/**
 * Trusted clusters (named groups of hosts, by name pattern, EK fingerprint or TPM CA) and the grants that let a
 * cluster use a provider. Every host is in `default` until a cluster's rule claims it; `default` is implicit and
 * cannot be set or removed.
 * @module
 */
import { readJson, type ServiceEnv } from "@tessera/http";
import type { ClusterRule } from "@tessera/key-provider";
import type { Hono } from "hono";
import { actorName } from "../audit.ts";
import type { KmxdDeps } from "../deps.ts";
import type { AdminGuards } from "./admin_auth.ts";
import { problem } from "./admin_problems.ts";
import { GrantRequest, Name, PutClusterRequest } from "./admin_schemas.ts";

/** The cluster every host belongs to until another claims it. */
export const DEFAULT_CLUSTER = "default";

/** A name from the path, validated (400 `bad-request` naming `what`). */
export function nameParam(value: string, what: string): string {
  const r = Name.safeParse(value);
  if (!r.success) throw problem("bad-request", `bad ${what} name ${JSON.stringify(value.slice(0, 80))}: ${r.error.issues[0]?.message ?? "invalid"}`, { field: what });
  return r.data;
}

/** Registers the cluster and grant routes. */
export function clusterRoutes(app: Hono<ServiceEnv>, deps: KmxdDeps, guards: AdminGuards): void {
  const actor = (p: Parameters<typeof actorName>[0]) => actorName(p, deps.config.attestd.issuer);

  app.get("/api/v1/clusters", guards.read, async (c) => {
    const stored = await deps.store.listClusters();
    return c.json({
      clusters: [
        { name: DEFAULT_CLUSTER, rules: [], implicit: true },
        ...stored.map((s) => ({ name: s.name, rules: s.rules, updatedAt: new Date(s.updatedAt).toISOString() })),
      ],
    });
  });

  app.put("/api/v1/clusters/:cluster", guards.write, async (c) => {
    const name = nameParam(c.req.param("cluster"), "cluster");
    if (name === DEFAULT_CLUSTER) throw problem("cluster-default", "the cluster default holds every host no other cluster claims: it has no rules to set");
    const { rules } = await readJson(c, PutClusterRequest);
    const clean: ClusterRule[] = rules.map((r) => ({
      ...(r.host !== undefined ? { host: r.host } : {}),
      ...(r.ekFingerprint !== undefined ? { ekFingerprint: r.ekFingerprint.toLowerCase() } : {}),
      ...(r.tpmCa !== undefined ? { tpmCa: r.tpmCa.toLowerCase() } : {}),
    }));
    const at = deps.clock.now();
    const created = await deps.store.putCluster({ name, rules: clean, updatedAt: at });
    await deps.audit.record({ actor: actor(c.get("principal")), operation: "cluster.put", result: "ok", detail: { cluster: name, rules: clean } });
    return c.json({ name, rules: clean, updatedAt: new Date(at).toISOString() }, created ? 201 : 200);
  });

  app.delete("/api/v1/clusters/:cluster", guards.write, async (c) => {
    const name = nameParam(c.req.param("cluster"), "cluster");
    if (name === DEFAULT_CLUSTER) throw problem("cluster-default", "the cluster default cannot be removed");
    if (!(await deps.store.deleteCluster(name))) throw problem("cluster-unknown", `there is no trusted cluster ${name}`);
    await deps.audit.record({ actor: actor(c.get("principal")), operation: "cluster.remove", result: "ok", detail: { cluster: name } });
    return c.body(null, 204);
  });

  app.post("/api/v1/providers/:provider/grants", guards.write, async (c) => {
    const provider = nameParam(c.req.param("provider"), "provider");
    const { cluster } = await readJson(c, GrantRequest);
    // A grant to a cluster nobody set up is most likely a typo: refused, so it cannot silently serve no one.
    if (cluster !== DEFAULT_CLUSTER && !(await deps.store.listClusters()).some((x) => x.name === cluster)) {
      throw problem("cluster-unknown", `there is no trusted cluster ${cluster} (set it up first: PUT /api/v1/clusters/${cluster})`);
    }
    if (!(await deps.store.grant(provider, cluster, deps.clock.now()))) throw problem("provider-unknown", `there is no provider ${provider}`);
    await deps.audit.record({ actor: actor(c.get("principal")), provider, operation: "grant.add", result: "ok", detail: { cluster } });
    return c.json({ provider, grants: await deps.store.listGrants(provider) }, 201);
  });

  app.delete("/api/v1/providers/:provider/grants/:cluster", guards.write, async (c) => {
    const provider = nameParam(c.req.param("provider"), "provider");
    const cluster = nameParam(c.req.param("cluster"), "cluster");
    if ((await deps.store.getProvider(provider)) === undefined) throw problem("provider-unknown", `there is no provider ${provider}`);
    if (!(await deps.store.revoke(provider, cluster, deps.clock.now()))) throw problem("grant-unknown", `provider ${provider} is not granted to cluster ${cluster}`);
    await deps.audit.record({ actor: actor(c.get("principal")), provider, operation: "grant.remove", result: "ok", detail: { cluster } });
    return c.body(null, 204);
  });
}
