/**
 * The first start of an attestd node, and every later one: the data directory (0700), its TLS material
 * (a local CA and a server certificate in D/tls/), the master key (D/master.key, 0600), the store, and, once
 * across every node of a cluster (under the store's lock), the first token signing key and the `admin`
 * account of TrustedAdmins whose generated password goes to D/admin.password (0600). A restart reuses all of it.
 * @module
 */
import path from "node:path";
import { openDatabase } from "@tessera/sql";
import { TRUSTED_ADMINS } from "@tessera/tokens";
import { assertMasterKeyUnwraps, generatePassword, hashPassword, prepareServiceHome, writeSecretFile, type Keyring } from "@tessera/service";
import type { Logger } from "pino";
import type { AttestdConfig } from "./config.ts";
import { newSigningKeyRecord } from "./signing.ts";
import { openAttestdStore } from "./store/sql_store.ts";
import type { AttestdStore } from "./store/store.ts";

/** The group whose members may change anything (the first account's group). */
export const ADMIN_GROUP = TRUSTED_ADMINS;

/** The account the first start creates. */
export const ADMIN_USER = "admin";

/** What {@link bootstrap} prepared. */
export interface Bootstrapped {
  readonly store: AttestdStore;
  readonly keyring: Keyring;
  readonly tls: { readonly cert: string; readonly key: string; readonly caCert: string; readonly caCertFile: string };
  /** The admin password file when this start created the admin account. */
  readonly adminPasswordFile?: string;
}


/** The SQLite database's file name in the data directory. */
export const SQLITE_FILE = "attestd.db";

/**
 * Prepares the data directory and the store. Idempotent: what exists is reused.
 * @param print where the admin password file's path is announced (default: stdout)
 */
export async function bootstrap(
  config: AttestdConfig,
  logger: Logger,
  print: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<Bootstrapped> {
  const { keyring, tls } = await prepareServiceHome({
    service: "attestd",
    dataDir: config.dataDir,
    listenHost: config.listen.host,
    publicUrl: config.publicUrl,
    masterKeyFile: config.masterKeyFile,
    log: logger,
  });
  const sqliteFile = path.join(config.dataDir, SQLITE_FILE);
  const db = await openDatabase(config.database !== undefined ? { postgres: config.database } : { sqlite: sqliteFile });
  let store: AttestdStore;
  try {
    // SQLite: the attestation path's commits run on a writer thread (their fsync does not stop the event loop).
    store = await openAttestdStore(db, config.database === undefined ? { writerFile: sqliteFile } : {});
  } catch (e) {
    await db.close();
    throw e;
  }
  let adminPasswordFile: string | undefined;
  try {
    adminPasswordFile = await store.withLock("bootstrap", async () => {
      const now = Date.now();
      if ((await store.listSigningKeys()).length === 0) {
        const k = await newSigningKeyRecord(keyring, now);
        await store.addSigningKey(k);
        logger.info({ kid: k.kid }, "first token signing key created");
      }
      if ((await store.getAccount(ADMIN_USER)) !== undefined) return undefined;
      const password = generatePassword();
      const file = path.join(config.dataDir, "admin.password");
      // The file first: an account whose password nobody can read would lock the administrator out.
      await writeSecretFile(file, `${password}\n`);
      await store.putAccount({ user: ADMIN_USER, passwordHash: await hashPassword(password), groups: [ADMIN_GROUP], createdAt: now });
      return file;
    });
  } catch (e) {
    await store.close();
    throw e;
  }
  try {
    assertMasterKeyUnwraps(
      keyring,
      config.masterKeyFile,
      "attestd",
      (await store.listSigningKeys()).map((k) => ({ id: `signing-key:${k.kid}`, wrapped: k.wrappedPrivateJwk, what: `token signing key ${k.kid}` })),
    );
  } catch (e) {
    await store.close();
    throw e;
  }
  if (adminPasswordFile !== undefined) {
    logger.info({ user: ADMIN_USER, file: adminPasswordFile }, "admin account created");
    print(`attestd: created account "${ADMIN_USER}" (${ADMIN_GROUP}); its password is in ${adminPasswordFile}`);
  }
  return { store, keyring, tls, ...(adminPasswordFile !== undefined ? { adminPasswordFile } : {}) };
}
