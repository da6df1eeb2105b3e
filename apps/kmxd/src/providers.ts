/**
 * The provider registry: one pooled KMIP client per trusted key provider, built from its stored TLS material
 * (the client key unwrapped with the keyring), and its key versions and grants. Every lookup reads the store's
 * revision counter (one small query) and reloads only when it moved, so a provider changed, rotated, granted or
 * removed on any node is seen by every node on its next request. Concurrent lookups share that read: one runs at
 * a time, and the lookups arriving while it runs share the next one (which starts after they arrived, so each
 * still sees every change committed before it was asked).
 * @module
 */
import { createProviderClient, parseKmipServer, type ProviderKey, type TrustedCluster } from "@tessera/key-provider";
import type { KmipClient } from "@tessera/kmip-client";
import type { Keyring } from "@tessera/service";
import type { Logger } from "pino";
import { providerKeyId } from "./bootstrap.ts";
import type { ProviderHandle, ProviderRegistry } from "./deps.ts";
import type { KmxdStore, ProviderRecord } from "./store/store.ts";

/** How long a replaced client stays open for the requests still using it. */
const RETIRE_AFTER_MS = 30_000;

/** Options of {@link createProviderRegistry}. */
export interface ProviderRegistryOptions {
  readonly store: KmxdStore;
  readonly keyring: Keyring;
  readonly logger: Logger;
  /** Connections per provider (default: the key-provider lib's). */
  readonly poolSize?: number;
  /** Per-request KMIP timeout in ms (default: the key-provider lib's). */
  readonly timeoutMs?: number;
}

/** Options of the KMIP client for a provider's stored record (also used by the admin API to probe). */
export function clientFor(
  p: Pick<ProviderRecord, "kmipServers" | "clientCertificate" | "serverCa">,
  clientKeyPem: string,
  options: { readonly poolSize?: number; readonly timeoutMs?: number } = {},
): KmipClient {
  return createProviderClient({
    servers: p.kmipServers.map((s, i) => parseKmipServer(s, `kmipServers[${i}]`)),
    tls: { cert: p.clientCertificate, key: clientKeyPem, ca: p.serverCa },
    ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}

interface Entry {
  readonly revision: number;
  readonly handle: ProviderHandle;
}

/**
 * The registry over `store`.
 * @example
 * ```ts
 * const providers = createProviderRegistry({ store, keyring, logger });
 * const p = await providers.get("kms-1");
 * if (p) wrapped = await wrap(p.client, p.current, dataKey);
 * ```
 */
export function createProviderRegistry(options: ProviderRegistryOptions): ProviderRegistry {
  const { store, keyring, logger } = options;
  const entries = new Map<string, Entry>();
  let clusters: readonly TrustedCluster[] = [];
  let loaded = -1;
  /** The revision read (and reload) running now, and the one the lookups arriving meanwhile wait for. */
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  let closed = false;
  const retiring = new Map<ReturnType<typeof setTimeout>, KmipClient>();

  function retire(client: KmipClient): void {
    // Requests already holding the old handle finish on it; then its connections close.
    const t = setTimeout(() => {
      retiring.delete(t);
      client.close();
    }, RETIRE_AFTER_MS);
    t.unref();
    retiring.set(t, client);
  }

  async function build(record: ProviderRecord): Promise<ProviderHandle> {
    const versions = await store.listKeyVersions(record.name);
    const grants = await store.listGrants(record.name);
    const keys = new Map<number, ProviderKey>(versions.map((v) => [v.version, Object.freeze({ provider: record.name, version: v.version, keyId: v.keyId, mode: v.mode })]));
    const current = keys.get(record.currentVersion);
    if (current === undefined) throw new Error(`provider ${record.name}: its current key version ${record.currentVersion} is not stored`);
    const keyPem = new TextDecoder().decode(keyring.unwrap(providerKeyId(record.name), record.clientKeyWrapped));
    const client = clientFor(record, keyPem, options);
    return Object.freeze({
      record,
      client,
      current,
      version: (kv: number) => keys.get(kv),
      grants: Object.freeze([...grants]),
      mode: current.mode,
    });
  }

  async function reload(): Promise<void> {
    const revision = await store.revision();
    if (revision === loaded) return;
    const records = await store.listProviders();
    const seen = new Set<string>();
    for (const r of records) {
      seen.add(r.name);
      const old = entries.get(r.name);
      if (old !== undefined && old.revision === r.revision) continue;
      let handle: ProviderHandle;
      try {
        handle = await build(r);
      } catch (err) {
        // One unusable provider must not take the others down: it is answered as unknown until fixed.
        logger.error({ err, provider: r.name }, "provider cannot be loaded");
        if (old !== undefined) {
          entries.delete(r.name);
          retire(old.handle.client);
        }
        continue;
      }
      entries.set(r.name, { revision: r.revision, handle });
      if (old !== undefined) retire(old.handle.client);
      logger.info({ provider: r.name, revision: r.revision, version: handle.current.version }, old === undefined ? "provider loaded" : "provider reloaded");
    }
    for (const [name, e] of entries) {
      if (seen.has(name)) continue;
      entries.delete(name);
      retire(e.handle.client);
      logger.info({ provider: name }, "provider removed");
    }
    clusters = Object.freeze((await store.listClusters()).map((c) => ({ name: c.name, rules: [...c.rules] })));
    loaded = revision;
  }

  function start(): Promise<void> {
    const p = reload().finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  }

  /**
   * One reload at a time. A caller finding one running waits for the next, shared by every caller arriving
   * before it starts: a read begun before a caller arrived may predate a change that caller must see.
   */
  async function sync(): Promise<void> {
    if (closed) throw new Error("the provider registry is closed");
    if (running === undefined) return start();
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        if (closed) throw new Error("the provider registry is closed");
        return start();
      });
    return next;
  }

  return {
    async get(name) {
      await sync();
      return entries.get(name)?.handle;
    },
    async clusters() {
      await sync();
      return clusters;
    },
    async lookup(name) {
      await sync();
      return { handle: entries.get(name)?.handle, clusters };
    },
    close() {
      closed = true;
      for (const [t, client] of retiring) {
        clearTimeout(t);
        client.close();
      }
      retiring.clear();
      for (const e of entries.values()) e.handle.client.close();
      entries.clear();
    },
  };
}
