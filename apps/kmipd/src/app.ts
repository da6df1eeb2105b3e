/**
 * Builds kmipd from its configuration: data directory, master key, store, TLS material, listener.
 * @module
 */
import { aesGcmKeyring, ensureLocalTls, ensurePrivateDir, loadOrCreateMasterKey, loadOrCreateSealedMasterKey, readPem } from "@tessera/service";
import type { KmipdConfig } from "./config.ts";
import { type RunningServer, startServer } from "./server.ts";
import { openStore } from "./store/open.ts";
import { sqliteShared } from "./store/sqlite_store.ts";
import type { Store } from "./store/store.ts";
import { type ServingThread, startServingThreads } from "./threads.ts";
import { migrateOwners } from "./store/migrate_owners.ts";
import type { AuditEntry } from "./store/store.ts";

export { handleMessage } from "./dispatch.ts";
export { kmipdClientArgs, type KmipdProcess, spawnKmipd } from "./spawn.ts";
export { loadConfig, type KmipdConfig } from "./config.ts";
export { CLAIMED_PROFILES, profileName } from "./ops/discover.ts";

/** A started kmipd. */
export interface Kmipd {
  server: RunningServer;
  store: Store;
  /** Where generated TLS material is, when it was generated. */
  generatedTls?: { caCertFile: string; clientCertFile: string; clientKeyFile: string; created: boolean };
  /** The serving threads beside this one (`--threads` less one). */
  servingThreads: readonly ServingThread[];
  close(): Promise<void>;
}

/** Starts kmipd. */
export async function startKmipd(
  config: KmipdConfig,
  log: (msg: string, fields?: Record<string, unknown>) => void = () => {},
  onAudit?: (e: AuditEntry) => void,
): Promise<Kmipd> {
  await ensurePrivateDir(config.dataDir, log);
  const { key, created } = config.masterKeyTpm
    ? await loadOrCreateSealedMasterKey(config.masterKeyFile, config.masterKeyTpm)
    : await loadOrCreateMasterKey(config.masterKeyFile);
  if (created) log("created master key", { file: config.masterKeyFile });
  const shared = config.threads > 1 && config.database.startsWith("sqlite:") ? sqliteShared() : undefined;
  const store = await openStore(config.database, shared, true, log);
  try {
    await migrateOwners(store, log);
  } catch (e) {
    await store.close();
    throw e;
  }
  let tls: { certPem: string; keyPem: string; clientCaPem: string };
  let generatedTls: Kmipd["generatedTls"];
  if (config.tls) {
    tls = {
      certPem: await readPem(config.tls.certFile, "TLS certificate"),
      keyPem: await readPem(config.tls.keyFile, "TLS key"),
      clientCaPem: await readPem(config.tls.clientCaFile, "client CA"),
    };
  } else {
    const g = await ensureLocalTls(config.dataDir, { service: "kmipd", hosts: [config.host], client: { commonName: "kmipd-admin" } });
    generatedTls = g;
    tls = {
      certPem: await readPem(g.serverCertFile, "TLS certificate"),
      keyPem: await readPem(g.serverKeyFile, "TLS key"),
      clientCaPem: await readPem(g.caCertFile, "CA"),
    };
  }
  const onAuditFailure = (e: unknown, entries: AuditEntry[]) =>
    log("audit records could not be stored", { error: (e as Error).message, entries: entries.length });
  const reusePort = config.threads > 1;
  const server = await startServer(
    { store, keyring: aesGcmKeyring(key), onAudit, onAuditFailure },
    { host: config.host, port: config.port, ...tls, ...config.limits, reusePort },
    log,
  );
  // The other threads listen on the port this one got (a configured port 0 is chosen once, here).
  let threads: ServingThread[] = [];
  try {
    threads = await startServingThreads(
      config.threads - 1,
      {
        host: config.host,
        port: server.port,
        tls,
        limits: config.limits,
        masterKey: key,
        database: config.database,
        shared,
        forwardAudit: onAudit !== undefined,
      },
      log,
      onAudit,
    );
  } catch (e) {
    await server.close();
    await store.close();
    throw e;
  }
  return {
    server,
    store,
    generatedTls,
    servingThreads: threads,
    async close() {
      await Promise.all([server.close(), ...threads.map((t) => t.close())]);
      await store.close();
    },
  };
}
