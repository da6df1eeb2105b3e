/**
 * Builds kmipd from its configuration: data directory, master key, store, TLS material, listener.
 * @module
 */
import { mkdir } from "node:fs/promises";
import { aesGcmKeyring, loadOrCreateMasterKey, loadOrCreateSealedMasterKey } from "./master_key.ts";
import type { KmipdConfig } from "./config.ts";
import { type RunningServer, startServer } from "./server.ts";
import { openSqliteStore } from "./store/sqlite_store.ts";
import type { Store } from "./store/store.ts";
import { ensureLocalTls, readPem } from "./tls_bootstrap.ts";
import type { AuditEntry } from "./store/store.ts";

export { handleMessage } from "./dispatch.ts";
export { loadConfig, type KmipdConfig } from "./config.ts";

/** A started kmipd. */
export interface Kmipd {
  server: RunningServer;
  store: Store;
  /** Where generated TLS material is, when it was generated. */
  generatedTls?: { caCertFile: string; clientCertFile: string; clientKeyFile: string; created: boolean };
  close(): Promise<void>;
}

/** Opens the store a configuration names. */
export async function openStore(config: KmipdConfig): Promise<Store> {
  if (config.database.startsWith("sqlite:")) return openSqliteStore(config.database.slice("sqlite:".length));
  const { openPostgresStore } = await import("./store/postgres_store.ts");
  return openPostgresStore(config.database);
}

/** Starts kmipd. */
export async function startKmipd(
  config: KmipdConfig,
  log: (msg: string, fields?: Record<string, unknown>) => void = () => {},
  onAudit?: (e: AuditEntry) => void,
): Promise<Kmipd> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { key, created } = config.masterKeyTpm
    ? await loadOrCreateSealedMasterKey(config.masterKeyFile, config.masterKeyTpm)
    : await loadOrCreateMasterKey(config.masterKeyFile);
  if (created) log("created master key", { file: config.masterKeyFile });
  const store = await openStore(config);
  let tls: { certPem: string; keyPem: string; clientCaPem: string };
  let generatedTls: Kmipd["generatedTls"];
  if (config.tls) {
    tls = {
      certPem: await readPem(config.tls.certFile, "TLS certificate"),
      keyPem: await readPem(config.tls.keyFile, "TLS key"),
      clientCaPem: await readPem(config.tls.clientCaFile, "client CA"),
    };
  } else {
    const g = await ensureLocalTls(config.dataDir, config.host);
    generatedTls = g;
    tls = {
      certPem: await readPem(g.serverCertFile, "TLS certificate"),
      keyPem: await readPem(g.serverKeyFile, "TLS key"),
      clientCaPem: await readPem(g.caCertFile, "CA"),
    };
  }
  const onAuditFailure = (e: unknown, entries: AuditEntry[]) =>
    log("audit records could not be stored", { error: (e as Error).message, entries: entries.length });
  const server = await startServer({ store, keyring: aesGcmKeyring(key), onAudit, onAuditFailure }, { host: config.host, port: config.port, ...tls }, log);
  return {
    server,
    store,
    generatedTls,
    async close() {
      await server.close();
      await store.close();
    },
  };
}
