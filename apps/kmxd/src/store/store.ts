/**
 * What kmxd keeps, behind one interface with a SQLite (embedded default) and a PostgreSQL implementation
 * (several nodes, one database). Every method is atomic on its own. Times are epoch milliseconds. Nothing secret
 * is stored in the clear: the providers' client keys are stored wrapped by the caller (the data directory's
 * master key); the primary keys never leave their key servers at all.
 * @module
 */
import type { ClusterRule, WrapMode } from "@tessera/key-provider";

/** A trusted key provider. */
export interface ProviderRecord {
  readonly name: string;
  /** Its KMIP servers, `host:port`, tried in this order. */
  readonly kmipServers: readonly string[];
  /** kmxd's client certificate for those servers (PEM). */
  readonly clientCertificate: string;
  /** kmxd's client private key (PKCS#8 PEM), wrapped by the keyring for the id `provider:<name>`. */
  readonly clientKeyWrapped: Uint8Array;
  /** The CA(s) of the key servers' TLS certificates (PEM). */
  readonly serverCa: string;
  /** The current primary key version. */
  readonly currentVersion: number;
  /** Bumped by every change of the provider, its versions or its grants (nodes rebuild on a new value). */
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One primary key version of a provider. */
export interface KeyVersionRecord {
  readonly provider: string;
  /** 1, 2, … */
  readonly version: number;
  /** The key's unique identifier on the key servers. */
  readonly keyId: string;
  readonly mode: WrapMode;
  readonly createdAt: number;
}

/** A pending trust set-up: the CSR kmxd made and its key, waiting for the issued certificate. */
export interface TrustSetupRecord {
  readonly name: string;
  readonly kmipServers: readonly string[];
  readonly serverCa: string;
  readonly csr: string;
  /** The private key (PKCS#8 PEM), wrapped by the keyring for the id `trust-setup:<name>`. */
  readonly clientKeyWrapped: Uint8Array;
  readonly createdAt: number;
}

/** A trusted cluster: a named group of hosts. */
export interface ClusterRecord {
  readonly name: string;
  readonly rules: readonly ClusterRule[];
  readonly updatedAt: number;
}

/** One audit row. */
export interface AuditRecord {
  readonly id: number;
  readonly at: number;
  readonly actor?: string;
  readonly host?: string;
  readonly provider?: string;
  readonly keyVersion?: number;
  readonly operation: string;
  readonly result: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Filters of {@link KmxdStore.listAudit} (newest first). */
export interface AuditQuery {
  readonly limit: number;
  readonly provider?: string;
  readonly host?: string;
  /** Rows with an id below this (paging). */
  readonly before?: number;
}

/** The vTPM CA that certifies vTPMs' EKs for hosts of this Trust Authority. */
export interface VtpmCaRecord {
  /** Its certificate (PEM). */
  readonly certificate: string;
  /** Its private key (PKCS#8 PEM), wrapped by the master key (keyring id `vtpm-ca`). */
  readonly keyWrapped: Uint8Array;
  readonly createdAt: number;
}

/** The store. */
export interface KmxdStore {
  /**
   * A counter bumped by every change to providers, key versions, grants or clusters, on any node: the provider
   * registry reads it on each lookup and reloads only when it moved.
   */
  revision(): Promise<number>;

  /**
   * Creates a provider with its version 1, and drops the pending trust set-up of the same name when `fromTrustSetup`.
   * @returns false when a provider of that name exists (nothing written).
   */
  createProvider(
    p: Omit<ProviderRecord, "currentVersion" | "revision" | "updatedAt">,
    first: Omit<KeyVersionRecord, "provider" | "version">,
    options?: { readonly fromTrustSetup?: boolean },
  ): Promise<boolean>;
  getProvider(name: string): Promise<ProviderRecord | undefined>;
  listProviders(): Promise<readonly ProviderRecord[]>;
  /** Removes the provider, its versions and its grants. @returns false when there was none. */
  deleteProvider(name: string): Promise<boolean>;
  /** Adds the next key version and makes it current. @returns the new record, or undefined without the provider. */
  addKeyVersion(provider: string, v: Omit<KeyVersionRecord, "provider" | "version">): Promise<KeyVersionRecord | undefined>;
  listKeyVersions(provider: string): Promise<readonly KeyVersionRecord[]>;

  /** Grants `cluster` the provider. @returns false without the provider; true when granted (also when it was). */
  grant(provider: string, cluster: string, at: number): Promise<boolean>;
  /** @returns false when there was no such grant. */
  revoke(provider: string, cluster: string, at: number): Promise<boolean>;
  /** The clusters granted `provider` (sorted). */
  listGrants(provider: string): Promise<readonly string[]>;

  /** The Trust Authority's vTPM CA, once made. */
  getVtpmCa(): Promise<VtpmCaRecord | undefined>;
  /** Keeps `ca` unless a CA is there already (another node made one first); resolves with the one kept. */
  putVtpmCaIfAbsent(ca: VtpmCaRecord): Promise<VtpmCaRecord>;

  /** Creates or replaces a trust set-up. */
  putTrustSetup(t: TrustSetupRecord): Promise<void>;
  getTrustSetup(name: string): Promise<TrustSetupRecord | undefined>;

  /** Creates or replaces a cluster. @returns true when it was new. */
  putCluster(c: ClusterRecord): Promise<boolean>;
  /** Removes the cluster and its grants. @returns false when there was none. */
  deleteCluster(name: string): Promise<boolean>;
  listClusters(): Promise<readonly ClusterRecord[]>;

  /** Appends an audit row; resolves after it is committed. */
  addAudit(a: Omit<AuditRecord, "id">): Promise<void>;
  listAudit(q: AuditQuery): Promise<readonly AuditRecord[]>;

  close(): Promise<void>;
}
