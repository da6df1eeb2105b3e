/**
 * The first start of a kmxd node, and every later one: the data directory (0700), its TLS material (a local CA
 * and a server certificate in D/tls/), the master key (D/master.key, 0600) and the store. A restart reuses all of
 * it. The nodes of one PostgreSQL database must share the master key file: the start checks that this node's key
 * unwraps the stored providers' client keys.
 * @module
 */
import path from "node:path";
import { openDatabase } from "@tessera/sql";
import { assertMasterKeyUnwraps, prepareServiceHome, type Keyring } from "@tessera/service";
import type { Logger } from "pino";
import type { KmxdConfig } from "./config.ts";
import { openKmxdStore } from "./store/sql_store.ts";
import type { KmxdStore } from "./store/store.ts";

/** The SQLite database's file name in the data directory. */
export const SQLITE_FILE = "kmxd.db";

/** The keyring id a provider's client key is wrapped for. */
export function providerKeyId(name: string): string {
  return `provider:${name}`;
}

/** The keyring id a pending trust set-up's key is wrapped for. */
export function trustSetupKeyId(name: string): string {
  return `trust-setup:${name}`;
}

/** What {@link bootstrap} prepared. */
export interface Bootstrapped {
  readonly store: KmxdStore;
  readonly keyring: Keyring;
  readonly tls: { readonly cert: string; readonly key: string; readonly caCert: string; readonly caCertFile: string };
}


/** Prepares the data directory and the store. Idempotent: what exists is reused. */
export async function bootstrap(config: KmxdConfig, logger: Logger): Promise<Bootstrapped> {
  const { keyring, tls } = await prepareServiceHome({
    service: "kmxd",
    dataDir: config.dataDir,
    listenHost: config.listen.host,
    publicUrl: config.publicUrl,
    masterKeyFile: config.masterKeyFile,
    log: logger,
  });
  const sqliteFile = config.database !== undefined ? undefined : path.join(config.dataDir, SQLITE_FILE);
  const db = await openDatabase(sqliteFile === undefined ? { postgres: config.database! } : { sqlite: sqliteFile });
  let store: KmxdStore;
  try {
    store = await openKmxdStore(db, sqliteFile === undefined ? {} : { sqliteFile });
  } catch (e) {
    await db.close();
    throw e;
  }
  try {
    assertMasterKeyUnwraps(
      keyring,
      config.masterKeyFile,
      "kmxd",
      (await store.listProviders()).map((p) => ({ id: providerKeyId(p.name), wrapped: p.clientKeyWrapped, what: `the client key of provider ${p.name}` })),
    );
  } catch (e) {
    await store.close();
    throw e;
  }
  return { store, keyring, tls };
}
