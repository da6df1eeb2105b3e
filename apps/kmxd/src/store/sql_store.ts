/**
 * kmxd's store over @tessera/sql: one implementation for SQLite (one node) and PostgreSQL (several nodes on one
 * database). Every change to providers, key versions, grants or clusters bumps one revision counter in the same
 * transaction, so every node's provider registry sees the change on its next lookup.
 * @module
 */
import type { ClusterRule, WrapMode } from "@tessera/key-provider";
import { inLoopWriter, migrate, sqliteWriterThread, type Db, type Dialect, type GroupWriter, type Migration } from "@tessera/sql";
import type { AuditRecord, ClusterRecord, KeyVersionRecord, KmxdStore, ProviderRecord, TrustSetupRecord } from "./store.ts";

/** The schema, per dialect where the engines differ (binary type, generated keys). */
function schemaV1(d: Dialect): string {
  const B = d === "sqlite" ? "BLOB" : "BYTEA";
  const SEQ = d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  return `
CREATE TABLE kmxd_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision BIGINT NOT NULL);
INSERT INTO kmxd_revision (id, revision) VALUES (1, 0);
CREATE TABLE kmxd_providers (
  name TEXT PRIMARY KEY, kmip_servers TEXT NOT NULL, client_certificate TEXT NOT NULL, client_key_wrapped ${B} NOT NULL,
  server_ca TEXT NOT NULL, current_version INTEGER NOT NULL, revision BIGINT NOT NULL, created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE TABLE kmxd_key_versions (
  provider TEXT NOT NULL, version INTEGER NOT NULL, key_id TEXT NOT NULL, mode TEXT NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY (provider, version));
CREATE TABLE kmxd_grants (provider TEXT NOT NULL, cluster TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (provider, cluster));
CREATE TABLE kmxd_trust_setups (
  name TEXT PRIMARY KEY, kmip_servers TEXT NOT NULL, server_ca TEXT NOT NULL, csr TEXT NOT NULL, client_key_wrapped ${B} NOT NULL,
  created_at BIGINT NOT NULL);
CREATE TABLE kmxd_clusters (name TEXT PRIMARY KEY, rules TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE kmxd_audit (
  id ${SEQ}, at BIGINT NOT NULL, actor TEXT, host TEXT, provider TEXT, key_version INTEGER, operation TEXT NOT NULL,
  result TEXT NOT NULL, detail TEXT);
CREATE INDEX kmxd_audit_provider ON kmxd_audit (provider, id);
CREATE INDEX kmxd_audit_host ON kmxd_audit (host, id);
`;
}

/** Version 2: the Trust Authority's vTPM CA (one row; its key wrapped by the master key). */
function schemaV2(d: Dialect): string {
  const B = d === "sqlite" ? "BLOB" : "BYTEA";
  return `CREATE TABLE kmxd_vtpm_ca (id INTEGER PRIMARY KEY CHECK (id = 1), certificate TEXT NOT NULL, key_wrapped ${B} NOT NULL, created_at BIGINT NOT NULL);`;
}

/** kmxd's schema versions (append only: a released version is never edited). */
export const KMXD_MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "kmxd tables", sql: { sqlite: schemaV1("sqlite"), postgres: schemaV1("postgres") } },
  { version: 2, description: "the vTPM CA", sql: { sqlite: schemaV2("sqlite"), postgres: schemaV2("postgres") } },
];

interface ProviderRow {
  name: string;
  kmip_servers: string;
  client_certificate: string;
  client_key_wrapped: Uint8Array;
  server_ca: string;
  current_version: number;
  revision: number;
  created_at: number;
  updated_at: number;
}

interface KeyVersionRow {
  provider: string;
  version: number;
  key_id: string;
  mode: string;
  created_at: number;
}

interface AuditRow {
  id: number;
  at: number;
  actor: string | null;
  host: string | null;
  provider: string | null;
  key_version: number | null;
  operation: string;
  result: string;
  detail: string | null;
}

const PROVIDER_COLUMNS = "name, kmip_servers, client_certificate, client_key_wrapped, server_ca, current_version, revision, created_at, updated_at";

function toProvider(r: ProviderRow): ProviderRecord {
  return Object.freeze({
    name: r.name,
    kmipServers: Object.freeze(JSON.parse(r.kmip_servers) as string[]),
    clientCertificate: r.client_certificate,
    clientKeyWrapped: r.client_key_wrapped,
    serverCa: r.server_ca,
    currentVersion: r.current_version,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

function toKeyVersion(r: KeyVersionRow): KeyVersionRecord {
  return Object.freeze({ provider: r.provider, version: r.version, keyId: r.key_id, mode: r.mode as WrapMode, createdAt: r.created_at });
}

function toAudit(r: AuditRow): AuditRecord {
  return Object.freeze({
    id: r.id,
    at: r.at,
    ...(r.actor === null ? {} : { actor: r.actor }),
    ...(r.host === null ? {} : { host: r.host }),
    ...(r.provider === null ? {} : { provider: r.provider }),
    ...(r.key_version === null ? {} : { keyVersion: r.key_version }),
    operation: r.operation,
    result: r.result,
    ...(r.detail === null ? {} : { detail: JSON.parse(r.detail) as Record<string, unknown> }),
  });
}

/** Inserts one audit row in `tx` (the store's addAudit, on the event loop or on the audit writer thread). */
export async function insertAudit(tx: Db, a: Omit<AuditRecord, "id">): Promise<void> {
  await tx.run("INSERT INTO kmxd_audit (at, actor, host, provider, key_version, operation, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", [
    a.at,
    a.actor ?? null,
    a.host ?? null,
    a.provider ?? null,
    a.keyVersion ?? null,
    a.operation,
    a.result,
    a.detail === undefined ? null : JSON.stringify(a.detail),
  ]);
}

/** Options of {@link openKmxdStore}. */
export interface OpenKmxdStoreOptions {
  /**
   * The SQLite file `db` is open on: the audit rows of key operations are then committed by a thread with its own
   * connection to it (their fsync off the event loop). Ignored for PostgreSQL.
   */
  readonly sqliteFile?: string;
}

/**
 * Migrates `db` to kmxd's schema and returns the store over it. `close()` closes `db`.
 * @throws SqlError when the database cannot be migrated (SQL_MIGRATION: it is newer than this program)
 */
export async function openKmxdStore(db: Db, options: OpenKmxdStoreOptions = {}): Promise<KmxdStore> {
  await migrate(db, "kmxd", KMXD_MIGRATIONS);
  // The audit rows of key operations (one per host request) share a COMMIT: on the writer thread when there is one
  // (SQLite file), else per event-loop turn; each caller is answered only once its row is committed.
  const writer: GroupWriter<Omit<AuditRecord, "id">> =
    options.sqliteFile !== undefined && db.dialect === "sqlite"
      ? await sqliteWriterThread<Omit<AuditRecord, "id">>(options.sqliteFile, new URL(import.meta.url), "insertAudit")
      : inLoopWriter(db, insertAudit);

  /** Bumps the global revision inside `tx` and returns the new value (the changed provider's revision too). */
  async function bump(tx: Db): Promise<number> {
    const [row] = await tx.query<{ revision: number }>("UPDATE kmxd_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision");
    if (row === undefined) throw new Error("kmxd_revision has no row");
    return row.revision;
  }

  /** Marks provider `name` changed at `at` (its revision follows the global one). @returns false without it. */
  async function touchProvider(tx: Db, name: string, at: number): Promise<boolean> {
    const rev = await bump(tx);
    const { changes } = await tx.run("UPDATE kmxd_providers SET revision = $2, updated_at = $3 WHERE name = $1", [name, rev, at]);
    return changes > 0;
  }

  const store: KmxdStore = {
    async revision() {
      const [row] = await db.query<{ revision: number }>("SELECT revision FROM kmxd_revision WHERE id = 1");
      return row?.revision ?? 0;
    },

    createProvider(p, first, options = {}) {
      return db
        .transaction(async (tx) => {
          const [exists] = await tx.query("SELECT name FROM kmxd_providers WHERE name = $1", [p.name]);
          if (exists !== undefined) return false;
          const rev = await bump(tx);
          const inserted = await tx.run(
            `INSERT INTO kmxd_providers (${PROVIDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7) ON CONFLICT (name) DO NOTHING`,
            [p.name, JSON.stringify(p.kmipServers), p.clientCertificate, p.clientKeyWrapped, p.serverCa, rev, p.createdAt],
          );
          // Another node created it between the SELECT and the INSERT (PostgreSQL, READ COMMITTED).
          if (inserted.changes === 0) throw new ProviderExistsRace(p.name);
          await tx.run("INSERT INTO kmxd_key_versions (provider, version, key_id, mode, created_at) VALUES ($1, 1, $2, $3, $4)", [
            p.name,
            first.keyId,
            first.mode,
            first.createdAt,
          ]);
          if (options.fromTrustSetup === true) await tx.run("DELETE FROM kmxd_trust_setups WHERE name = $1", [p.name]);
          return true;
        })
        .catch((e: unknown) => {
          if (e instanceof ProviderExistsRace) return false;
          throw e;
        });
    },

    async getProvider(name) {
      const [r] = await db.query<ProviderRow>(`SELECT ${PROVIDER_COLUMNS} FROM kmxd_providers WHERE name = $1`, [name]);
      return r === undefined ? undefined : toProvider(r);
    },

    async listProviders() {
      return (await db.query<ProviderRow>(`SELECT ${PROVIDER_COLUMNS} FROM kmxd_providers ORDER BY name`)).map(toProvider);
    },

    deleteProvider(name) {
      return db.transaction(async (tx) => {
        const { changes } = await tx.run("DELETE FROM kmxd_providers WHERE name = $1", [name]);
        if (changes === 0) return false;
        await tx.run("DELETE FROM kmxd_key_versions WHERE provider = $1", [name]);
        await tx.run("DELETE FROM kmxd_grants WHERE provider = $1", [name]);
        await bump(tx);
        return true;
      });
    },

    addKeyVersion(provider, v) {
      return db.transaction(async (tx) => {
        // The provider row is locked by this UPDATE (PostgreSQL) or the file by BEGIN IMMEDIATE (SQLite): two
        // rotations on two nodes get versions N+1 and N+2, never the same one.
        const [row] = await tx.query<{ current_version: number }>(
          "UPDATE kmxd_providers SET current_version = current_version + 1, updated_at = $2 WHERE name = $1 RETURNING current_version",
          [provider, v.createdAt],
        );
        if (row === undefined) return undefined;
        await tx.run("INSERT INTO kmxd_key_versions (provider, version, key_id, mode, created_at) VALUES ($1, $2, $3, $4, $5)", [
          provider,
          row.current_version,
          v.keyId,
          v.mode,
          v.createdAt,
        ]);
        await touchProvider(tx, provider, v.createdAt);
        return toKeyVersion({ provider, version: row.current_version, key_id: v.keyId, mode: v.mode, created_at: v.createdAt });
      });
    },

    async listKeyVersions(provider) {
      return (
        await db.query<KeyVersionRow>("SELECT provider, version, key_id, mode, created_at FROM kmxd_key_versions WHERE provider = $1 ORDER BY version", [
          provider,
        ])
      ).map(toKeyVersion);
    },

    grant(provider, cluster, at) {
      return db.transaction(async (tx) => {
        const [exists] = await tx.query("SELECT name FROM kmxd_providers WHERE name = $1", [provider]);
        if (exists === undefined) return false;
        const { changes } = await tx.run("INSERT INTO kmxd_grants (provider, cluster, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [
          provider,
          cluster,
          at,
        ]);
        if (changes > 0) await touchProvider(tx, provider, at);
        return true;
      });
    },

    revoke(provider, cluster, at) {
      return db.transaction(async (tx) => {
        const { changes } = await tx.run("DELETE FROM kmxd_grants WHERE provider = $1 AND cluster = $2", [provider, cluster]);
        if (changes === 0) return false;
        await touchProvider(tx, provider, at);
        return true;
      });
    },

    async listGrants(provider) {
      return (await db.query<{ cluster: string }>("SELECT cluster FROM kmxd_grants WHERE provider = $1 ORDER BY cluster", [provider])).map((r) => r.cluster);
    },

    async getVtpmCa() {
      const [r] = await db.query<{ certificate: string; key_wrapped: Uint8Array; created_at: number }>(
        "SELECT certificate, key_wrapped, created_at FROM kmxd_vtpm_ca WHERE id = 1",
      );
      return r === undefined ? undefined : Object.freeze({ certificate: r.certificate, keyWrapped: r.key_wrapped, createdAt: r.created_at });
    },

    async putVtpmCaIfAbsent(ca) {
      // Two nodes making the CA at once: the first row stays, and both read it back.
      await db.run("INSERT INTO kmxd_vtpm_ca (id, certificate, key_wrapped, created_at) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING", [
        ca.certificate,
        ca.keyWrapped,
        ca.createdAt,
      ]);
      const [r] = await db.query<{ certificate: string; key_wrapped: Uint8Array; created_at: number }>(
        "SELECT certificate, key_wrapped, created_at FROM kmxd_vtpm_ca WHERE id = 1",
      );
      return Object.freeze({ certificate: r!.certificate, keyWrapped: r!.key_wrapped, createdAt: r!.created_at });
    },

    async putTrustSetup(t) {
      await db.run(
        `INSERT INTO kmxd_trust_setups (name, kmip_servers, server_ca, csr, client_key_wrapped, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name) DO UPDATE SET kmip_servers = excluded.kmip_servers, server_ca = excluded.server_ca, csr = excluded.csr,
           client_key_wrapped = excluded.client_key_wrapped, created_at = excluded.created_at`,
        [t.name, JSON.stringify(t.kmipServers), t.serverCa, t.csr, t.clientKeyWrapped, t.createdAt],
      );
    },

    async getTrustSetup(name) {
      const [r] = await db.query<{ name: string; kmip_servers: string; server_ca: string; csr: string; client_key_wrapped: Uint8Array; created_at: number }>(
        "SELECT name, kmip_servers, server_ca, csr, client_key_wrapped, created_at FROM kmxd_trust_setups WHERE name = $1",
        [name],
      );
      if (r === undefined) return undefined;
      const t: TrustSetupRecord = {
        name: r.name,
        kmipServers: Object.freeze(JSON.parse(r.kmip_servers) as string[]),
        serverCa: r.server_ca,
        csr: r.csr,
        clientKeyWrapped: r.client_key_wrapped,
        createdAt: r.created_at,
      };
      return Object.freeze(t);
    },

    putCluster(c) {
      return db.transaction(async (tx) => {
        const [old] = await tx.query("SELECT name FROM kmxd_clusters WHERE name = $1", [c.name]);
        await tx.run(
          `INSERT INTO kmxd_clusters (name, rules, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at`,
          [c.name, JSON.stringify(c.rules), c.updatedAt],
        );
        await bump(tx);
        return old === undefined;
      });
    },

    deleteCluster(name) {
      return db.transaction(async (tx) => {
        const { changes } = await tx.run("DELETE FROM kmxd_clusters WHERE name = $1", [name]);
        if (changes === 0) return false;
        // The grants go with the cluster: a cluster of the same name made later starts with none.
        const granted = await tx.query<{ provider: string }>("DELETE FROM kmxd_grants WHERE cluster = $1 RETURNING provider", [name]);
        const rev = await bump(tx);
        for (const g of granted) await tx.run("UPDATE kmxd_providers SET revision = $2 WHERE name = $1", [g.provider, rev]);
        return true;
      });
    },

    async listClusters() {
      return (await db.query<{ name: string; rules: string; updated_at: number }>("SELECT name, rules, updated_at FROM kmxd_clusters ORDER BY name")).map((r) =>
        Object.freeze({ name: r.name, rules: Object.freeze(JSON.parse(r.rules) as ClusterRule[]), updatedAt: r.updated_at }),
      ) as readonly ClusterRecord[];
    },

    async addAudit(a) {
      await writer.run(a);
    },

    async listAudit(q) {
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (q.provider !== undefined) {
        params.push(q.provider);
        where.push(`provider = $${params.length}`);
      }
      if (q.host !== undefined) {
        params.push(q.host);
        where.push(`host = $${params.length}`);
      }
      if (q.before !== undefined) {
        params.push(q.before);
        where.push(`id < $${params.length}`);
      }
      params.push(q.limit);
      const rows = await db.query<AuditRow>(
        `SELECT id, at, actor, host, provider, key_version, operation, result, detail FROM kmxd_audit ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(toAudit);
    },

    async close() {
      await writer.close();
      return db.close();
    },
  };
  return store;
}

/** Internal: the INSERT lost a race with another node (turned into `false`). */
class ProviderExistsRace extends Error {
  constructor(name: string) {
    super(`provider ${name} was created concurrently`);
  }
}
