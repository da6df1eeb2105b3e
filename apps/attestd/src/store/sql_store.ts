/**
 * attestd's store over @tessera/sql: one implementation for SQLite (one node) and PostgreSQL (several nodes
 * on one database). Consuming a nonce or an enrollment is one conditional UPDATE … RETURNING, so exactly one
 * caller wins whichever node it runs on; the database decides, not the process.
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ImageModel } from "@tessera/host-image";
import { inLoopWriter, migrate, sqliteWriterThread, type Db, type Dialect, type GroupWriter, type Migration } from "@tessera/sql";
import type {
  AccountRecord,
  AttestationRecord,
  AttestdStore,
  AuditRecord,
  ConsumeResult,
  CrlRecord,
  EkPinRecord,
  EnrollmentRecord,
  FailureRecord,
  HostRecord,
  HostStatus,
  ImageRecord,
  NonceRecord,
  PolicyStamp,
  Settings,
  SigningKeyRecord,
  TpmCaRecord,
} from "./store.ts";

/** The schema, per dialect where the engines differ (binary type, generated keys). */
function schemaV1(d: Dialect): string {
  const B = d === "sqlite" ? "BLOB" : "BYTEA";
  const SEQ = d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  return `
CREATE TABLE attestd_enrollments (
  id TEXT PRIMARY KEY, host TEXT NOT NULL, ak_public ${B} NOT NULL, ak_name TEXT NOT NULL, ek_public ${B} NOT NULL,
  ek_fingerprint TEXT NOT NULL, ek_certificate ${B}, secret_hash ${B} NOT NULL, created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL, used_at BIGINT);
CREATE INDEX attestd_enrollments_expiry ON attestd_enrollments (expires_at);
CREATE TABLE attestd_hosts (
  host TEXT PRIMARY KEY, ak_public ${B} NOT NULL, ak_name TEXT NOT NULL, ek_public ${B} NOT NULL,
  ek_fingerprint TEXT NOT NULL, ek_certificate ${B}, enrolled_at BIGINT NOT NULL);
CREATE TABLE attestd_nonces (
  nonce TEXT PRIMARY KEY, host TEXT NOT NULL, pcr_selection TEXT NOT NULL, created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL, used_at BIGINT);
CREATE INDEX attestd_nonces_expiry ON attestd_nonces (expires_at);
CREATE TABLE attestd_attestations (
  seq ${SEQ}, id TEXT NOT NULL UNIQUE, host TEXT NOT NULL, at BIGINT NOT NULL, status TEXT NOT NULL,
  failures TEXT NOT NULL, image_name TEXT, image_version TEXT, secure_boot INTEGER, token_id TEXT, token_expires_at BIGINT);
CREATE INDEX attestd_attestations_host ON attestd_attestations (host, at, seq);
CREATE TABLE attestd_last_attempts (host TEXT PRIMARY KEY, seq BIGINT NOT NULL, at BIGINT NOT NULL);
CREATE TABLE attestd_tpm_cas (id TEXT PRIMARY KEY, certificate ${B} NOT NULL, subject TEXT NOT NULL, added_at BIGINT NOT NULL);
CREATE TABLE attestd_crls (id TEXT PRIMARY KEY, crl ${B} NOT NULL, issuer TEXT NOT NULL, added_at BIGINT NOT NULL);
CREATE TABLE attestd_ek_pins (
  host TEXT PRIMARY KEY, certificate ${B}, ek_public ${B}, ek_fingerprint TEXT NOT NULL, added_at BIGINT NOT NULL);
CREATE TABLE attestd_images (
  seq ${SEQ}, name TEXT NOT NULL, version TEXT NOT NULL, image TEXT NOT NULL, added_at BIGINT NOT NULL, UNIQUE (name, version));
CREATE TABLE attestd_signing_keys (
  kid TEXT PRIMARY KEY, public_jwk TEXT NOT NULL, wrapped_private_jwk ${B} NOT NULL, created_at BIGINT NOT NULL,
  retired_at BIGINT, last_token_expires_at BIGINT);
CREATE TABLE attestd_accounts (user_name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, groups_json TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE attestd_audit (
  id ${SEQ}, at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, details TEXT);
CREATE TABLE attestd_settings (id INTEGER PRIMARY KEY CHECK (id = 1), settings TEXT NOT NULL);
`;
}

/** attestd's schema versions (append only: a released version is never edited). */
export const ATTESTD_MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "attestd tables", sql: { sqlite: schemaV1("sqlite"), postgres: schemaV1("postgres") } },
  {
    version: 2,
    description: "attempts whose evidence is not the host's",
    sql: "ALTER TABLE attestd_attestations ADD COLUMN foreign_evidence INTEGER;",
  },
  {
    version: 3,
    description: "the trusted TPM CA an EK chained to (tokens carry it as tessera.ekCa)",
    sql: "ALTER TABLE attestd_enrollments ADD COLUMN ek_ca TEXT; ALTER TABLE attestd_hosts ADD COLUMN ek_ca TEXT;",
  },
  {
    version: 4,
    description: "attempts by time, for pruning the history past its retention",
    sql: "CREATE INDEX attestd_attestations_at ON attestd_attestations (at);",
  },
];

/** Attempts deleted per transaction by pruneAttestations: short transactions, so that attestations are not held up. */
const PRUNE_BATCH = 2_000;

type Bytes = Uint8Array;

interface EnrollmentRow {
  id: string;
  host: string;
  ak_public: Bytes;
  ak_name: string;
  ek_public: Bytes;
  ek_fingerprint: string;
  ek_certificate: Bytes | null;
  ek_ca: string | null;
  secret_hash: Bytes;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

interface HostRow {
  host: string;
  ak_public: Bytes;
  ak_name: string;
  ek_public: Bytes;
  ek_fingerprint: string;
  ek_certificate: Bytes | null;
  ek_ca: string | null;
  enrolled_at: number;
}

interface NonceRow {
  nonce: string;
  host: string;
  pcr_selection: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

interface AttestationRow {
  id: string;
  host: string;
  at: number;
  status: string;
  failures: string;
  image_name: string | null;
  image_version: string | null;
  secure_boot: number | null;
  token_id: string | null;
  token_expires_at: number | null;
  foreign_evidence: number | null;
}

interface SigningKeyRow {
  kid: string;
  public_jwk: string;
  wrapped_private_jwk: Bytes;
  created_at: number;
  retired_at: number | null;
  last_token_expires_at: number | null;
}

const ENROLLMENT_COLUMNS = "id, host, ak_public, ak_name, ek_public, ek_fingerprint, ek_certificate, ek_ca, secret_hash, created_at, expires_at, used_at";
const ATTESTATION_COLUMNS = "id, host, at, status, failures, image_name, image_version, secure_boot, token_id, token_expires_at, foreign_evidence";

function toEnrollment(r: EnrollmentRow): EnrollmentRecord {
  return {
    id: r.id,
    host: r.host,
    akPublic: r.ak_public,
    akName: r.ak_name,
    ekPublic: r.ek_public,
    ekFingerprint: r.ek_fingerprint,
    ...(r.ek_certificate === null ? {} : { ekCertificate: r.ek_certificate }),
    ...(r.ek_ca === null ? {} : { ekCa: r.ek_ca }),
    secretHash: r.secret_hash,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

function toHost(r: HostRow): HostRecord {
  return {
    host: r.host,
    akPublic: r.ak_public,
    akName: r.ak_name,
    ekPublic: r.ek_public,
    ekFingerprint: r.ek_fingerprint,
    ...(r.ek_certificate === null ? {} : { ekCertificate: r.ek_certificate }),
    ...(r.ek_ca === null ? {} : { ekCa: r.ek_ca }),
    enrolledAt: r.enrolled_at,
  };
}

function toNonce(r: NonceRow): NonceRecord {
  return { nonce: r.nonce, host: r.host, pcrSelection: r.pcr_selection, createdAt: r.created_at, expiresAt: r.expires_at };
}

function toAttestation(r: AttestationRow): AttestationRecord {
  return {
    id: r.id,
    host: r.host,
    at: r.at,
    status: r.status === "affirming" ? "affirming" : "contraindicated",
    failures: JSON.parse(r.failures) as FailureRecord[],
    ...(r.image_name === null || r.image_version === null ? {} : { image: { name: r.image_name, version: r.image_version } }),
    ...(r.secure_boot === null ? {} : { secureBoot: r.secure_boot !== 0 }),
    ...(r.token_id === null ? {} : { tokenId: r.token_id }),
    ...(r.token_expires_at === null ? {} : { tokenExpiresAt: r.token_expires_at }),
    ...(r.foreign_evidence === null || r.foreign_evidence === 0 ? {} : { foreign: true }),
  };
}

function toSigningKey(r: SigningKeyRow): SigningKeyRecord {
  return {
    kid: r.kid,
    publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
    wrappedPrivateJwk: r.wrapped_private_jwk,
    createdAt: r.created_at,
    ...(r.retired_at === null ? {} : { retiredAt: r.retired_at }),
    ...(r.last_token_expires_at === null ? {} : { lastTokenExpiresAt: r.last_token_expires_at }),
  };
}

/**
 * A host's status from its last attempt: green (affirming, token valid at `now`), stale (affirming, token
 * expired), red (contraindicated: the first failure), unknown (enrolled, never attempted).
 */
function deriveStatus(host: string, last: AttestationRecord | undefined, enrolledAt: number | undefined, now: number): HostStatus {
  const base = { host, ...(last === undefined ? {} : { lastAttempt: last }), ...(enrolledAt === undefined ? {} : { enrolledAt }) };
  if (last === undefined) return { ...base, status: "unknown", message: "enrolled, not attested yet" };
  if (last.status === "contraindicated") {
    const first = last.failures[0];
    return { ...base, status: "red", message: first === undefined ? "contraindicated" : `${first.check}: ${first.detail}` };
  }
  if (last.tokenExpiresAt !== undefined && last.tokenExpiresAt <= now) {
    return { ...base, status: "stale", message: `token expired at ${new Date(last.tokenExpiresAt).toISOString()}` };
  }
  const image = last.image === undefined ? "" : ` with image ${last.image.name} ${last.image.version}`;
  const until = last.tokenExpiresAt === undefined ? "" : `; token valid until ${new Date(last.tokenExpiresAt).toISOString()}`;
  return { ...base, status: "green", message: `affirming${image}${until}` };
}

/** How a nonce stands for `host` at `now`, without spending it. */
async function classifyNonce(q: Db, host: string, nonce: string, now: number): Promise<ConsumeResult<NonceRecord>> {
  const [row] = await q.query<NonceRow>("SELECT nonce, host, pcr_selection, created_at, expires_at, used_at FROM attestd_nonces WHERE nonce = $1", [nonce]);
  return classifyNonceRow(row, host, now);
}

/** {@link classifyNonce} of a row read already (undefined: no such nonce). */
function classifyNonceRow(row: NonceRow | undefined, host: string, now: number): ConsumeResult<NonceRecord> {
  if (row === undefined) return { ok: false, reason: "unknown" };
  if (row.host !== host) return { ok: false, reason: "other-host" };
  if (row.used_at !== null) return { ok: false, reason: "used", value: toNonce(row) };
  if (row.expires_at <= now) return { ok: false, reason: "expired", value: toNonce(row) };
  return { ok: true, value: toNonce(row) };
}

/** Inserts an attempt and moves the host's last-attempt pointer (inside the caller's transaction). */
async function insertAttempt(tx: Db, a: AttestationRecord): Promise<{ previous: HostStatus["status"] }> {
  const [{ seq }] = await tx.query<{ seq: number }>(
    `INSERT INTO attestd_attestations (${ATTESTATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq`,
    [
      a.id,
      a.host,
      a.at,
      a.status,
      JSON.stringify(a.failures),
      a.image?.name ?? null,
      a.image?.version ?? null,
      a.secureBoot === undefined ? null : a.secureBoot ? 1 : 0,
      a.tokenId ?? null,
      a.tokenExpiresAt ?? null,
      a.foreign === true ? 1 : null,
    ],
  );
  // The host's last attempt before this one (inside the transaction: what the pointer moves from).
  const cols = ATTESTATION_COLUMNS.split(", ")
    .map((c) => `a.${c}`)
    .join(", ");
  const [prior] = await tx.query<AttestationRow>(`SELECT ${cols} FROM attestd_last_attempts l JOIN attestd_attestations a ON a.seq = l.seq WHERE l.host = $1`, [
    a.host,
  ]);
  const previous = deriveStatus(a.host, prior === undefined ? undefined : toAttestation(prior), undefined, a.at).status;
  // Evidence that is not the host's stays in the history only: it must not decide the host's status.
  if (a.foreign === true) return { previous };
  // Moves the host's pointer only forward (by time, then by insertion): attempts recorded out of order by
  // several nodes leave the latest one current. The conditional upsert is atomic on both engines.
  await tx.run(
    `INSERT INTO attestd_last_attempts (host, seq, at) VALUES ($1, $2, $3)
     ON CONFLICT (host) DO UPDATE SET seq = excluded.seq, at = excluded.at
     WHERE excluded.at > attestd_last_attempts.at OR (excluded.at = attestd_last_attempts.at AND excluded.seq > attestd_last_attempts.seq)`,
    [a.host, seq, a.at],
  );
  return { previous };
}


/** {@link AttestdStore.attestationInputs} on `db`. */
async function readAttestationInputs(db: Db, host: string, nonce: string, now: number): ReturnType<AttestdStore["attestationInputs"]> {
  // One row whatever exists: the nonce's and the host's columns are NULL when there is none.
  const [r] = await db.query<
    { [K in keyof NonceRow as `n_${K}`]: NonceRow[K] | null } & { [K in keyof HostRow as `h_${K}`]: HostRow[K] | null } & {
      settings: string | null;
      n: number | string;
      top: number | string | null;
    }
  >(
    `SELECT n.nonce AS n_nonce, n.host AS n_host, n.pcr_selection AS n_pcr_selection, n.created_at AS n_created_at,
            n.expires_at AS n_expires_at, n.used_at AS n_used_at,
            h.host AS h_host, h.ak_public AS h_ak_public, h.ak_name AS h_ak_name, h.ek_public AS h_ek_public,
            h.ek_fingerprint AS h_ek_fingerprint, h.ek_certificate AS h_ek_certificate, h.ek_ca AS h_ek_ca, h.enrolled_at AS h_enrolled_at,
            (SELECT settings FROM attestd_settings WHERE id = 1) AS settings,
            (SELECT COUNT(*) FROM attestd_images) AS n, (SELECT MAX(seq) FROM attestd_images) AS top
     FROM (SELECT 1 AS one) AS one
     LEFT JOIN attestd_nonces n ON n.nonce = $1
     LEFT JOIN attestd_hosts h ON h.host = $2`,
    [nonce, host],
  );
  const nonceRow: NonceRow | undefined =
    r?.n_nonce == null
      ? undefined
      : {
          nonce: r.n_nonce,
          host: r.n_host!,
          pcr_selection: r.n_pcr_selection!,
          created_at: Number(r.n_created_at),
          expires_at: Number(r.n_expires_at),
          used_at: r.n_used_at == null ? null : Number(r.n_used_at),
        };
  const hostRow: HostRow | undefined =
    r?.h_host == null
      ? undefined
      : {
          host: r.h_host,
          ak_public: r.h_ak_public!,
          ak_name: r.h_ak_name!,
          ek_public: r.h_ek_public!,
          ek_fingerprint: r.h_ek_fingerprint!,
          ek_certificate: r.h_ek_certificate ?? null,
          ek_ca: r.h_ek_ca ?? null,
          enrolled_at: Number(r.h_enrolled_at),
        };
  return {
    nonce: classifyNonceRow(nonceRow, host, now),
    host: hostRow === undefined ? undefined : toHost(hostRow),
    stamp: {
      settings: r?.settings == null ? undefined : (JSON.parse(r.settings) as Settings),
      images: `${String(r?.n ?? 0)}:${String(r?.top ?? 0)}`,
    },
  };
}

/** {@link AttestdStore.getPolicyStamp} on `db`. */
async function readPolicyStamp(db: Db): Promise<PolicyStamp> {
  // Image rows are never updated and their seq never reused (AUTOINCREMENT, identity): an add raises the maximum,
  // a removal alone lowers the count, so (count, maximum) changes with every change of the set.
  const [r] = await db.query<{ settings: string | null; n: number | string; top: number | string | null }>(
    `SELECT (SELECT settings FROM attestd_settings WHERE id = 1) AS settings,
            (SELECT COUNT(*) FROM attestd_images) AS n, (SELECT MAX(seq) FROM attestd_images) AS top`,
  );
  return {
    settings: r?.settings == null ? undefined : (JSON.parse(r.settings) as Settings),
    images: `${String(r?.n ?? 0)}:${String(r?.top ?? 0)}`,
  };
}

/**
 * A write of the attestation path, as data: it runs in a group commit, on this thread or on the writer thread. And
 * the hot reads (`attestationInputs` once per attestation, `policyStamp` for the settings), sent to the writer thread
 * when there is one: its connection commits every write, so its page cache stays valid, where this thread's
 * connection had to read every page again after each of the thread's commits (SQLite drops a connection's cache when
 * another one changed the file): 70–120 µs per read on the serving thread. A challenge reads nothing of its own: its
 * settings are checked where its nonce is stored (`putNonceIf`).
 */
export type WriteOp =
  | { readonly kind: "putNonce"; readonly n: NonceRecord }
  | { readonly kind: "putNonceIf"; readonly n: NonceRecord; readonly settingsJson: string }
  | { readonly kind: "recordAttestation"; readonly a: AttestationRecord; readonly nonce: string }
  | { readonly kind: "noteTokenIssued"; readonly kid: string; readonly expiresAt: number }
  | { readonly kind: "attestationInputs"; readonly host: string; readonly nonce: string; readonly now: number }
  | { readonly kind: "policyStamp" };

/** What {@link AttestdStore.recordAttestation} answers. */
type RecordResult = Awaited<ReturnType<AttestdStore["recordAttestation"]>>;

/** Runs one {@link WriteOp} in `tx` (the group's transaction); its result is the store method's. */
export async function runWriteOp(tx: Db, op: WriteOp): Promise<unknown> {
  switch (op.kind) {
    case "putNonceIf": {
      // The challenge was built from settings the caller had cached; stored only while they are the current ones.
      const stamp = await readPolicyStamp(tx);
      if (JSON.stringify(stamp.settings ?? null) !== op.settingsJson) return { ok: false, stamp };
      await runWriteOp(tx, { kind: "putNonce", n: op.n });
      return { ok: true };
    }
    case "putNonce":
      await tx.run("INSERT INTO attestd_nonces (nonce, host, pcr_selection, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)", [
        op.n.nonce,
        op.n.host,
        op.n.pcrSelection,
        op.n.createdAt,
        op.n.expiresAt,
      ]);
      return undefined;
    case "recordAttestation": {
      // Both or neither: the nonce is spent and the attempt recorded in one transaction.
      const { a, nonce } = op;
      const won = await tx.query<{ nonce: string }>(
        "UPDATE attestd_nonces SET used_at = $3 WHERE nonce = $1 AND host = $2 AND used_at IS NULL AND expires_at > $3 RETURNING nonce",
        [nonce, a.host, a.at],
      );
      if (won.length === 0) {
        const r = await classifyNonce(tx, a.host, nonce, a.at);
        // Lost between the caller's peek and now (another request or node spent it, or it expired).
        return (r.ok ? { ok: false as const, reason: "used" as const } : r) satisfies RecordResult;
      }
      return { ok: true as const, ...(await insertAttempt(tx, a)) } satisfies RecordResult;
    }
    case "attestationInputs":
      return readAttestationInputs(tx, op.host, op.nonce, op.now);
    case "policyStamp":
      return readPolicyStamp(tx);
    case "noteTokenIssued":
      // Only ever raised, in one statement: concurrent issuers on several nodes cannot lower it.
      await tx.run(
        "UPDATE attestd_signing_keys SET last_token_expires_at = $2 WHERE kid = $1 AND (last_token_expires_at IS NULL OR last_token_expires_at < $2)",
        [op.kid, op.expiresAt],
      );
      return undefined;
  }
}

/** Set inside the store's own transactions (withLock), where a write must join that transaction instead of a group. */
const inTransaction = new AsyncLocalStorage<boolean>();

/** Options of {@link openAttestdStore}. */
export interface StoreOptions {
  /**
   * SQLite only: the database file, to run the group commits on a writer thread with its own connection to it
   * (libs/sql's sqliteWriterThread), so that the fsync of each commit (1–4 ms here) no longer stops the event loop. Without it,
   * groups commit on this thread.
   */
  readonly writerFile?: string;
}

/**
 * Migrates `db` to attestd's schema and returns the store over it. `close()` closes `db`.
 * @throws SqlError when the database cannot be migrated (SQL_MIGRATION: it is newer than this program)
 */
export async function openAttestdStore(db: Db, options: StoreOptions = {}): Promise<AttestdStore> {
  await migrate(db, "attestd", ATTESTD_MIGRATIONS);
  const writer: GroupWriter<WriteOp> =
    options.writerFile !== undefined && db.dialect === "sqlite"
      ? await sqliteWriterThread<WriteOp>(options.writerFile, new URL(import.meta.url), "runWriteOp")
      : inLoopWriter(db, runWriteOp);
  const write = (op: WriteOp): Promise<unknown> =>
    // Inside a transaction of the caller (withLock): the write joins it (a group would wait for its lock forever).
    inTransaction.getStore() === true ? runWriteOp(db, op) : writer.run(op);
  const threaded = options.writerFile !== undefined && db.dialect === "sqlite";
  /** A hot read: on the writer thread's connection when there is one (see {@link WriteOp}), else on `db`. */
  const hotRead = <T>(op: WriteOp, direct: () => Promise<T>): Promise<T> =>
    threaded && inTransaction.getStore() !== true ? (writer.run(op) as Promise<T>) : direct();

  /** The single-use consumption shared by nonces and enrollments. */
  async function consume<R, T>(
    table: string,
    key: string,
    columns: string,
    host: string,
    id: string,
    now: number,
    map: (r: R) => T,
  ): Promise<ConsumeResult<T>> {
    // One statement decides: under concurrency (any node) exactly one UPDATE finds used_at still NULL.
    const won = await db.query<R>(
      `UPDATE ${table} SET used_at = $3 WHERE ${key} = $1 AND host = $2 AND used_at IS NULL AND expires_at > $3 RETURNING ${columns}`,
      [id, host, now],
    );
    if (won.length > 0) return { ok: true, value: map(won[0]) };
    const [row] = await db.query<R & { host: string; used_at: number | null; expires_at: number }>(`SELECT ${columns} FROM ${table} WHERE ${key} = $1`, [id]);
    if (row === undefined) return { ok: false, reason: "unknown" };
    // Another host's challenge: said so, not consumed, and nothing of it handed out.
    if (row.host !== host) return { ok: false, reason: "other-host" };
    if (row.used_at !== null) return { ok: false, reason: "used", value: map(row) };
    return { ok: false, reason: "expired", value: map(row) };
  }

  /** Each host's last attempt, through attestd_last_attempts: the status poll reads one row per host, not the history. */
  async function lastAttempts(host?: string): Promise<Map<string, AttestationRecord>> {
    const cols = ATTESTATION_COLUMNS.split(", ")
      .map((c) => `a.${c}`)
      .join(", ");
    const rows = await db.query<AttestationRow>(
      `SELECT ${cols} FROM attestd_last_attempts l JOIN attestd_attestations a ON a.seq = l.seq ${host === undefined ? "" : "WHERE l.host = $1"}`,
      host === undefined ? [] : [host],
    );
    return new Map(rows.map((r) => [r.host, toAttestation(r)]));
  }

  const store: AttestdStore = {
    async putEnrollment(e) {
      await db.run(
        `INSERT INTO attestd_enrollments (id, host, ak_public, ak_name, ek_public, ek_fingerprint, ek_certificate, ek_ca, secret_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [e.id, e.host, e.akPublic, e.akName, e.ekPublic, e.ekFingerprint, e.ekCertificate ?? null, e.ekCa ?? null, e.secretHash, e.createdAt, e.expiresAt],
      );
    },
    consumeEnrollment(host, id, now) {
      return consume<EnrollmentRow, EnrollmentRecord>("attestd_enrollments", "id", ENROLLMENT_COLUMNS, host, id, now, toEnrollment);
    },
    async putHost(h) {
      await db.run(
        `INSERT INTO attestd_hosts (host, ak_public, ak_name, ek_public, ek_fingerprint, ek_certificate, ek_ca, enrolled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (host) DO UPDATE SET ak_public = excluded.ak_public, ak_name = excluded.ak_name, ek_public = excluded.ek_public,
           ek_fingerprint = excluded.ek_fingerprint, ek_certificate = excluded.ek_certificate, ek_ca = excluded.ek_ca, enrolled_at = excluded.enrolled_at`,
        [h.host, h.akPublic, h.akName, h.ekPublic, h.ekFingerprint, h.ekCertificate ?? null, h.ekCa ?? null, h.enrolledAt],
      );
    },
    async getHost(host) {
      const [r] = await db.query<HostRow>(
        "SELECT host, ak_public, ak_name, ek_public, ek_fingerprint, ek_certificate, ek_ca, enrolled_at FROM attestd_hosts WHERE host = $1",
        [host],
      );
      return r === undefined ? undefined : toHost(r);
    },
    removeHost(host) {
      // The host, its history and its pending challenges: a removed host is not listed and must enroll again.
      return db.transaction(async (tx) => {
        const removed = (await tx.run("DELETE FROM attestd_hosts WHERE host = $1", [host])).changes;
        const history = (await tx.run("DELETE FROM attestd_attestations WHERE host = $1", [host])).changes;
        await tx.run("DELETE FROM attestd_last_attempts WHERE host = $1", [host]);
        await tx.run("DELETE FROM attestd_nonces WHERE host = $1", [host]);
        await tx.run("DELETE FROM attestd_enrollments WHERE host = $1", [host]);
        return removed + history > 0;
      });
    },

    async putNonce(n) {
      await write({ kind: "putNonce", n });
    },
    putNonceIf(n, settingsJson) {
      return write({ kind: "putNonceIf", n, settingsJson }) as ReturnType<AttestdStore["putNonceIf"]>;
    },
    consumeNonce(host, nonce, now) {
      return consume<NonceRow, NonceRecord>(
        "attestd_nonces",
        "nonce",
        "nonce, host, pcr_selection, created_at, expires_at, used_at",
        host,
        nonce,
        now,
        toNonce,
      );
    },
    purgeExpired(before) {
      return db.transaction(async (tx) => {
        const nonces = (await tx.run("DELETE FROM attestd_nonces WHERE expires_at < $1", [before])).changes;
        const enrollments = (await tx.run("DELETE FROM attestd_enrollments WHERE expires_at < $1", [before])).changes;
        return nonces + enrollments;
      });
    },

    addAttestation(a) {
      return db.transaction((tx) => insertAttempt(tx, a));
    },
    async pruneAttestations(before) {
      // In batches, each its own short transaction; a host's last attempt (its status) is never deleted. Several nodes
      // may prune at once: a row is deleted once, and the others find fewer.
      let total = 0;
      for (;;) {
        const n = (
          await db.run(
            `DELETE FROM attestd_attestations WHERE seq IN (
               SELECT seq FROM attestd_attestations a
               WHERE a.at < $1 AND NOT EXISTS (SELECT 1 FROM attestd_last_attempts l WHERE l.seq = a.seq)
               LIMIT ${PRUNE_BATCH})`,
            [before],
          )
        ).changes;
        total += n;
        if (n < PRUNE_BATCH) return total;
      }
    },
    async peekNonce(host, nonce, now) {
      return classifyNonce(db, host, nonce, now);
    },
    recordAttestation(a, nonce) {
      // One transaction for both: the nonce is spent and the attempt recorded together, or neither (its commit shared
      // with the other writes of this turn: groupCommit, or the writer thread's).
      return write({ kind: "recordAttestation", a, nonce }) as Promise<RecordResult>;
    },
    async listAttestations(host, limit) {
      const rows = await db.query<AttestationRow>(
        `SELECT ${ATTESTATION_COLUMNS} FROM attestd_attestations WHERE host = $1 ORDER BY at DESC, seq DESC LIMIT $2`,
        [host, Math.max(0, Math.floor(limit))],
      );
      return rows.map(toAttestation);
    },
    async listHostStatus(now) {
      // Two reads, no transaction: a read-only poll (the event watcher's) must not take SQLite's write lock.
      const hosts = await db.query<{ host: string; enrolled_at: number }>("SELECT host, enrolled_at FROM attestd_hosts");
      const last = await lastAttempts();
      const enrolled = new Map(hosts.map((h) => [h.host, h.enrolled_at]));
      const names = [...new Set([...enrolled.keys(), ...last.keys()])].sort();
      return names.map((h) => deriveStatus(h, last.get(h), enrolled.get(h), now));
    },
    async getHostStatus(host, now) {
      const enrolled = await db.query<{ enrolled_at: number }>("SELECT enrolled_at FROM attestd_hosts WHERE host = $1", [host]);
      const last = await lastAttempts(host);
      const attempt = last.get(host);
      if (enrolled.length === 0 && attempt === undefined) return undefined;
      return deriveStatus(host, attempt, enrolled[0]?.enrolled_at, now);
    },

    async addTpmCa(c) {
      const r = await db.run("INSERT INTO attestd_tpm_cas (id, certificate, subject, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING", [
        c.id,
        c.certificate,
        c.subject,
        c.addedAt,
      ]);
      return r.changes === 1;
    },
    async listTpmCas() {
      const rows = await db.query<{ id: string; certificate: Bytes; subject: string; added_at: number }>(
        "SELECT id, certificate, subject, added_at FROM attestd_tpm_cas ORDER BY added_at, id",
      );
      return rows.map((r): TpmCaRecord => ({ id: r.id, certificate: r.certificate, subject: r.subject, addedAt: r.added_at }));
    },
    async removeTpmCa(id) {
      return (await db.run("DELETE FROM attestd_tpm_cas WHERE id = $1", [id])).changes > 0;
    },
    async addCrl(c) {
      const r = await db.run("INSERT INTO attestd_crls (id, crl, issuer, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING", [
        c.id,
        c.crl,
        c.issuer,
        c.addedAt,
      ]);
      return r.changes === 1;
    },
    async listCrls() {
      const rows = await db.query<{ id: string; crl: Bytes; issuer: string; added_at: number }>(
        "SELECT id, crl, issuer, added_at FROM attestd_crls ORDER BY added_at, id",
      );
      return rows.map((r): CrlRecord => ({ id: r.id, crl: r.crl, issuer: r.issuer, addedAt: r.added_at }));
    },
    async removeCrl(id) {
      return (await db.run("DELETE FROM attestd_crls WHERE id = $1", [id])).changes > 0;
    },
    async putEkPin(p) {
      await db.run(
        `INSERT INTO attestd_ek_pins (host, certificate, ek_public, ek_fingerprint, added_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (host) DO UPDATE SET certificate = excluded.certificate, ek_public = excluded.ek_public,
           ek_fingerprint = excluded.ek_fingerprint, added_at = excluded.added_at`,
        [p.host, p.certificate ?? null, p.ekPublic ?? null, p.ekFingerprint, p.addedAt],
      );
    },
    async getEkPin(host) {
      return (await listPins("WHERE host = $1", [host]))[0];
    },
    listEkPins() {
      return listPins("", []);
    },
    async removeEkPin(host) {
      return (await db.run("DELETE FROM attestd_ek_pins WHERE host = $1", [host])).changes > 0;
    },

    async addImage(i) {
      const r = await db.run("INSERT INTO attestd_images (name, version, image, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name, version) DO NOTHING", [
        i.name,
        i.version,
        JSON.stringify(i.image),
        i.addedAt,
      ]);
      return r.changes === 1;
    },
    listImages() {
      return listImageRows("", []);
    },
    getImage(name) {
      return listImageRows("WHERE name = $1", [name]);
    },
    async removeImage(name, version) {
      const r =
        version === undefined
          ? await db.run("DELETE FROM attestd_images WHERE name = $1", [name])
          : await db.run("DELETE FROM attestd_images WHERE name = $1 AND version = $2", [name, version]);
      return r.changes;
    },

    async addSigningKey(k) {
      await db.run(
        `INSERT INTO attestd_signing_keys (kid, public_jwk, wrapped_private_jwk, created_at, retired_at, last_token_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [k.kid, JSON.stringify(k.publicJwk), k.wrappedPrivateJwk, k.createdAt, k.retiredAt ?? null, k.lastTokenExpiresAt ?? null],
      );
    },
    async listSigningKeys() {
      const rows = await db.query<SigningKeyRow>(
        "SELECT kid, public_jwk, wrapped_private_jwk, created_at, retired_at, last_token_expires_at FROM attestd_signing_keys ORDER BY created_at, kid",
      );
      return rows.map(toSigningKey);
    },
    async retireSigningKey(kid, at) {
      // The first retirement counts: a second rotation racing on another node does not move it.
      await db.run("UPDATE attestd_signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL", [kid, at]);
    },
    async noteTokenIssued(kid, expiresAt) {
      await write({ kind: "noteTokenIssued", kid, expiresAt });
    },
    async purgeSigningKeys(before) {
      const r = await db.run(
        "DELETE FROM attestd_signing_keys WHERE retired_at IS NOT NULL AND (last_token_expires_at IS NULL OR last_token_expires_at < $1)",
        [before],
      );
      return r.changes;
    },

    async putAccount(a) {
      await db.run(
        `INSERT INTO attestd_accounts (user_name, password_hash, groups_json, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_name) DO UPDATE SET password_hash = excluded.password_hash, groups_json = excluded.groups_json, created_at = excluded.created_at`,
        [a.user, a.passwordHash, JSON.stringify(a.groups), a.createdAt],
      );
    },
    async getAccount(user) {
      return (await listAccountRows("WHERE user_name = $1", [user]))[0];
    },
    listAccounts() {
      return listAccountRows("", []);
    },
    async removeAccount(user) {
      return (await db.run("DELETE FROM attestd_accounts WHERE user_name = $1", [user])).changes > 0;
    },
    async addAudit(a) {
      await db.run("INSERT INTO attestd_audit (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)", [
        a.at,
        a.actor,
        a.action,
        a.target,
        a.details === undefined ? null : JSON.stringify(a.details),
      ]);
    },
    async listAudit(limit) {
      const rows = await db.query<{ id: number; at: number; actor: string; action: string; target: string; details: string | null }>(
        "SELECT id, at, actor, action, target, details FROM attestd_audit ORDER BY id DESC LIMIT $1",
        [Math.max(0, Math.floor(limit))],
      );
      return rows.map((r): AuditRecord => ({
        id: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
        ...(r.details === null ? {} : { details: JSON.parse(r.details) as Record<string, unknown> }),
      }));
    },
    async getSettings() {
      const [r] = await db.query<{ settings: string }>("SELECT settings FROM attestd_settings WHERE id = 1");
      return r === undefined ? undefined : (JSON.parse(r.settings) as Settings);
    },
    attestationInputs(host, nonce, now) {
      return hotRead({ kind: "attestationInputs", host, nonce, now }, () => readAttestationInputs(db, host, nonce, now));
    },
    getPolicyStamp() {
      return hotRead({ kind: "policyStamp" }, () => readPolicyStamp(db));
    },
    async putSettings(s) {
      await db.run("INSERT INTO attestd_settings (id, settings) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET settings = excluded.settings", [
        JSON.stringify(s),
      ]);
    },

    withLock(name, fn) {
      // One transaction holding the lock: SQLite's BEGIN IMMEDIATE is the file's write lock (and @tessera/sql's
      // per-file lock in this process); PostgreSQL takes a transaction advisory lock named after `name`. The
      // store's calls inside `fn` join the transaction, so its work is also all-or-nothing.
      return db.transaction(async (tx) => {
        if (tx.dialect === "postgres") await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`attestd:${name}`]);
        return inTransaction.run(true, fn);
      });
    },
    async close() {
      await writer.close();
      return db.close();
    },
  };

  async function listPins(where: string, params: string[]): Promise<EkPinRecord[]> {
    const rows = await db.query<{ host: string; certificate: Bytes | null; ek_public: Bytes | null; ek_fingerprint: string; added_at: number }>(
      `SELECT host, certificate, ek_public, ek_fingerprint, added_at FROM attestd_ek_pins ${where} ORDER BY host`,
      params,
    );
    return rows.map((r): EkPinRecord => ({
      host: r.host,
      ...(r.certificate === null ? {} : { certificate: r.certificate }),
      ...(r.ek_public === null ? {} : { ekPublic: r.ek_public }),
      ekFingerprint: r.ek_fingerprint,
      addedAt: r.added_at,
    }));
  }

  async function listImageRows(where: string, params: string[]): Promise<ImageRecord[]> {
    const rows = await db.query<{ name: string; version: string; image: string; added_at: number }>(
      `SELECT name, version, image, added_at FROM attestd_images ${where} ORDER BY name, added_at, seq`,
      params,
    );
    return rows.map((r): ImageRecord => ({ name: r.name, version: r.version, image: JSON.parse(r.image) as ImageModel, addedAt: r.added_at }));
  }

  async function listAccountRows(where: string, params: string[]): Promise<AccountRecord[]> {
    const rows = await db.query<{ user_name: string; password_hash: string; groups_json: string; created_at: number }>(
      `SELECT user_name, password_hash, groups_json, created_at FROM attestd_accounts ${where} ORDER BY user_name`,
      params,
    );
    return rows.map((r): AccountRecord => ({
      user: r.user_name,
      passwordHash: r.password_hash,
      groups: JSON.parse(r.groups_json) as string[],
      createdAt: r.created_at,
    }));
  }

  return store;
}
