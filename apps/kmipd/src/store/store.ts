/**
 * The storage interface of kmipd. SQLite (embedded default) and PostgreSQL implement it; nothing else in
 * the server knows which one it talks to.
 * @module
 */

/** A managed object as stored. Key material is wrapped by the master key; attributes are a TTLV blob. */
export interface StoredObject {
  id: string;
  /** Identity (client certificate subject) that owns it. */
  owner: string;
  /** ObjectType enumeration value. */
  objectType: number;
  /** State enumeration value. */
  state: number;
  /** The object's attributes: an encoded KMIP 2.x Attributes structure. */
  attributes: Uint8Array;
  /** Wrapped key material (null for objects without, or after Destroy). */
  material: Uint8Array | null;
  /** Name attribute values, indexed for Locate. */
  names: string[];
  /** Identities (besides the owner) allowed to use it. */
  grants: string[];
}

/** One audit record: who did what to which object, and how it ended. */
export interface AuditEntry {
  at: number;
  identity: string;
  operation: string;
  objectId: string | null;
  result: string;
}

/** Storage of managed objects and the audit log. */
export interface Store {
  /** Inserts a new object; durable when the promise resolves. */
  insert(o: StoredObject): Promise<void>;
  /** Replaces an object's state, attributes, material and grants; durable when the promise resolves. */
  update(o: StoredObject): Promise<void>;
  /** Removes an object (used to undo a Create/Register in a batch that is undone). */
  delete(id: string): Promise<void>;
  /**
   * Holds object `id` against changes by other requests, of every thread of this process and, for a shared
   * database, of other processes, until the returned function is called. Waits at most `timeoutMs` for the
   * requests holding it, then rejects with ObjectBusyError (object_locks.ts). Reads are never blocked.
   */
  lock(id: string, timeoutMs: number): Promise<() => void>;
  /** One object by id. */
  get(id: string): Promise<StoredObject | undefined>;
  /** Objects `identity` owns or was granted, optionally with a given name. */
  list(identity: string, filter?: { name?: string }): Promise<StoredObject[]>;
  /** Appends audit records. */
  audit(entries: AuditEntry[]): Promise<void>;
  /** Audit records, newest last. */
  auditLog(limit?: number): Promise<AuditEntry[]>;
  /**
   * Once per store: when its owner format is older than `format`, rewrites every object with `rewrite` (owner,
   * grants, attributes; undefined for no change) and records `format`, in one transaction that other kmipd
   * threads and processes wait for. Resolves with the objects changed, or undefined when already at `format`.
   */
  migrateOwners(format: number, rewrite: (o: StoredObject) => StoredObject | undefined): Promise<number | undefined>;
  /** Closes the store. */
  close(): Promise<void>;
}
