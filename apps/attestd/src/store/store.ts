/**
 * What attestd keeps, behind one interface with a SQLite (embedded default) and a PostgreSQL
 * implementation (several nodes, one database). Every method is atomic on its own; methods that
 * consume something (a nonce, an enrollment) succeed for exactly one caller across all nodes.
 * Times are epoch milliseconds. Binary values are Uint8Array. Nothing secret is stored in the clear:
 * signing keys are stored wrapped (the caller wraps with the data directory's master key), passwords
 * as scrypt hashes, enrollment secrets as SHA-256 hashes.
 * @module
 */
import type { ImageModel } from "@tessera/host-image";

/** A host's bound AK (the result of a completed enrollment). */
export interface HostRecord {
  readonly host: string;
  /** The AK's TPM2B_PUBLIC. */
  readonly akPublic: Uint8Array;
  /** The AK's Name (hex). */
  readonly akName: string;
  /** The EK's TPM2B_PUBLIC (as sent, or derived from its certificate). */
  readonly ekPublic: Uint8Array;
  /** SHA-256 of the EK's SubjectPublicKeyInfo DER (hex). */
  readonly ekFingerprint: string;
  /** The EK certificate DER, when the host sent one. */
  readonly ekCertificate?: Uint8Array;
  /** SHA-256 (hex) of the trusted TPM CA certificate the EK chained to; absent when a pin alone trusted it. */
  readonly ekCa?: string;
  readonly enrolledAt: number;
}

/** A MakeCredential challenge waiting for its activation. */
export interface EnrollmentRecord {
  readonly id: string;
  readonly host: string;
  readonly akPublic: Uint8Array;
  readonly akName: string;
  readonly ekPublic: Uint8Array;
  readonly ekFingerprint: string;
  readonly ekCertificate?: Uint8Array;
  /** As {@link HostRecord.ekCa}. */
  readonly ekCa?: string;
  /** SHA-256 of the credential secret (compared in constant time). */
  readonly secretHash: Uint8Array;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The outcome of consuming an enrollment or a nonce. */
export type ConsumeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: "unknown" | "used" | "expired" | "other-host"; readonly value?: T };

/** A challenge nonce. */
export interface NonceRecord {
  /** 32 bytes, hex. */
  readonly nonce: string;
  readonly host: string;
  /** tpm2-tools `-l` syntax, as sent in the challenge. */
  readonly pcrSelection: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** One failed check as PROTOCOL.md returns it. */
export interface FailureRecord {
  readonly check: string;
  readonly detail: string;
  readonly [field: string]: unknown;
}

/** One attestation attempt (kept as the host's history). */
export interface AttestationRecord {
  readonly id: string;
  readonly host: string;
  readonly at: number;
  readonly status: "affirming" | "contraindicated";
  readonly failures: readonly FailureRecord[];
  /** Accepted image `name` and `version` when affirming. */
  readonly image?: { readonly name: string; readonly version: string };
  readonly secureBoot?: boolean;
  /** The token's jti and expiry when one was issued. */
  readonly tokenId?: string;
  readonly tokenExpiresAt?: number;
  /**
   * The evidence is not the host's: its quote is not signed by the host's enrolled AK (or is not a fresh quote of
   * this challenge), so anyone holding a nonce could have sent it. Kept in the history for the administrator, but
   * it never becomes the host's last attempt: it does not change the host's status.
   */
  readonly foreign?: boolean;
}

/** A host's current status, derived from its last attempt that is not {@link AttestationRecord.foreign} (stale: last token expired, none newer). */
export interface HostStatus {
  readonly host: string;
  readonly status: "green" | "red" | "stale" | "unknown";
  readonly message: string;
  readonly lastAttempt?: AttestationRecord;
  readonly enrolledAt?: number;
}

/** A trusted TPM manufacturer CA (root or intermediate). */
export interface TpmCaRecord {
  /** SHA-256 of the certificate DER (hex). */
  readonly id: string;
  readonly certificate: Uint8Array;
  readonly subject: string;
  readonly addedAt: number;
}

/** A certificate revocation list of a TPM CA. */
export interface CrlRecord {
  /** SHA-256 of the CRL DER (hex). */
  readonly id: string;
  readonly crl: Uint8Array;
  readonly issuer: string;
  readonly addedAt: number;
}

/** A pinned EK for one host: a certificate, or a bare public key for TPMs without one. */
export interface EkPinRecord {
  readonly host: string;
  readonly certificate?: Uint8Array;
  /** TPM2B_PUBLIC. */
  readonly ekPublic?: Uint8Array;
  readonly ekFingerprint: string;
  readonly addedAt: number;
}

/** An accepted image version. */
export interface ImageRecord {
  readonly name: string;
  readonly version: string;
  readonly image: ImageModel;
  readonly addedAt: number;
}

/** A token signing key; `wrappedPrivateJwk` is the private JWK wrapped by the master key. */
export interface SigningKeyRecord {
  readonly kid: string;
  readonly publicJwk: Readonly<Record<string, unknown>>;
  readonly wrappedPrivateJwk: Uint8Array;
  readonly createdAt: number;
  /** When it stopped signing; it stays published until its last token expired. */
  readonly retiredAt?: number;
  /** The latest expiry of a token it signed. */
  readonly lastTokenExpiresAt?: number;
}

/** A local account. */
export interface AccountRecord {
  readonly user: string;
  /** scrypt hash string of @tessera/service's hashPassword. */
  readonly passwordHash: string;
  readonly groups: readonly string[];
  readonly createdAt: number;
}

/** One audited change. */
export interface AuditRecord {
  readonly id: number;
  readonly at: number;
  /** Who: the principal's subject (and issuer for external tokens). */
  readonly actor: string;
  /** What: e.g. `tpm-ca.add`, `image.remove`, `settings.update`. */
  readonly action: string;
  /** On what: e.g. the image name, the CA id. */
  readonly target: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The service's settings (one row). */
export type Settings = Readonly<Record<string, unknown>>;

/** {@link AttestdStore.getPolicyStamp}'s answer: the stored settings and the accepted images' stamp. */
export interface PolicyStamp {
  readonly settings: Settings | undefined;
  readonly images: string;
}

/** attestd's storage. Implementations: SQLite (one node) and PostgreSQL (several). */
export interface AttestdStore {
  // Enrollment
  putEnrollment(e: EnrollmentRecord): Promise<void>;
  /** Marks the enrollment used and returns it; exactly one caller across nodes gets ok. */
  consumeEnrollment(host: string, id: string, now: number): Promise<ConsumeResult<EnrollmentRecord>>;
  /** Binds the host's AK (replacing an earlier one). */
  putHost(h: HostRecord): Promise<void>;
  getHost(host: string): Promise<HostRecord | undefined>;
  removeHost(host: string): Promise<boolean>;

  // Challenges
  putNonce(n: NonceRecord): Promise<void>;
  /**
   * Stores a challenge's nonce only if the stored settings are still those `n` was built from (`settingsJson`:
   * `JSON.stringify` of the stored settings, `"null"` when none are stored), checked in the transaction that stores
   * it; otherwise stores nothing and returns the current policy stamp, for the caller to build the record again.
   */
  putNonceIf(n: NonceRecord, settingsJson: string): Promise<{ readonly ok: true } | { readonly ok: false; readonly stamp: PolicyStamp }>;
  /** Marks the nonce used; exactly one caller across nodes gets ok. `other-host`: issued to another host (not consumed). */
  consumeNonce(host: string, nonce: string, now: number): Promise<ConsumeResult<NonceRecord>>;
  /** How the nonce stands for `host` at `now` (ok: issued to it, unused, unexpired), without spending it. */
  peekNonce(host: string, nonce: string, now: number): Promise<ConsumeResult<NonceRecord>>;
  /**
   * Spends the nonce of `a.host` and records `a` in one transaction (one commit per attestation): exactly one caller
   * across nodes gets ok; any other gets the nonce's reason and records nothing. `a.at` is the time of consumption.
   */
  recordAttestation(
    a: AttestationRecord,
    nonce: string,
  ): Promise<{ readonly ok: true; readonly previous: HostStatus["status"] } | { readonly ok: false; readonly reason: "unknown" | "used" | "expired" | "other-host"; readonly value?: NonceRecord }>;
  /** Deletes nonces and enrollments that expired before `before`; returns how many. */
  purgeExpired(before: number): Promise<number>;

  // Attestations and status
  /**
   * Records an attempt; returns the host's status just before it (from its last attempt, at `a.at`), so the caller
   * can publish a change without reading the status first.
   */
  addAttestation(a: AttestationRecord): Promise<{ readonly previous: HostStatus["status"] }>;
  /**
   * Deletes attempts made before `before`, except each host's last attempt (what its status is derived from);
   * returns how many.
   */
  pruneAttestations(before: number): Promise<number>;
  /** Newest first. */
  listAttestations(host: string, limit: number): Promise<AttestationRecord[]>;
  /** Every known host (enrolled or attempted) with its status at `now`. */
  listHostStatus(now: number): Promise<HostStatus[]>;
  getHostStatus(host: string, now: number): Promise<HostStatus | undefined>;

  // TPM trust
  addTpmCa(c: TpmCaRecord): Promise<boolean>;
  listTpmCas(): Promise<TpmCaRecord[]>;
  removeTpmCa(id: string): Promise<boolean>;
  addCrl(c: CrlRecord): Promise<boolean>;
  listCrls(): Promise<CrlRecord[]>;
  removeCrl(id: string): Promise<boolean>;
  putEkPin(p: EkPinRecord): Promise<void>;
  getEkPin(host: string): Promise<EkPinRecord | undefined>;
  listEkPins(): Promise<EkPinRecord[]>;
  removeEkPin(host: string): Promise<boolean>;

  // Images
  /** false when that name and version exist already. */
  addImage(i: ImageRecord): Promise<boolean>;
  listImages(): Promise<ImageRecord[]>;
  /** Every version of `name`, oldest first. */
  getImage(name: string): Promise<ImageRecord[]>;
  /** Removes one version, or every version when `version` is undefined; returns how many. */
  removeImage(name: string, version?: string): Promise<number>;

  // Token signing keys
  addSigningKey(k: SigningKeyRecord): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  retireSigningKey(kid: string, at: number): Promise<void>;
  /** Raises the key's lastTokenExpiresAt to `expiresAt` if later. */
  noteTokenIssued(kid: string, expiresAt: number): Promise<void>;
  /** Deletes retired keys whose last token expired before `before`. */
  purgeSigningKeys(before: number): Promise<number>;

  // Accounts, audit, settings
  putAccount(a: AccountRecord): Promise<void>;
  getAccount(user: string): Promise<AccountRecord | undefined>;
  listAccounts(): Promise<AccountRecord[]>;
  removeAccount(user: string): Promise<boolean>;
  addAudit(a: Omit<AuditRecord, "id">): Promise<void>;
  /** Newest first. */
  listAudit(limit: number): Promise<AuditRecord[]>;
  getSettings(): Promise<Settings | undefined>;
  putSettings(s: Settings): Promise<void>;
  /**
   * What the appraisal policy depends on, in one cheap read: the stored settings and a stamp of the accepted images
   * that changes whenever an image is added or removed on any node (so a node may keep its parsed images while the
   * stamp stays).
   */
  getPolicyStamp(): Promise<PolicyStamp>;
  /**
   * What an attestation reads before it appraises, in one statement instead of three: how the nonce stands for
   * `host` at `now` ({@link peekNonce}), the host's bound AK ({@link getHost}) and {@link getPolicyStamp}.
   */
  attestationInputs(host: string, nonce: string, now: number): Promise<{ readonly nonce: ConsumeResult<NonceRecord>; readonly host: HostRecord | undefined; readonly stamp: PolicyStamp }>;

  /**
   * Runs `fn` holding a cluster-wide named lock (first-start bootstrap: creating the admin account
   * and the first signing key exactly once across nodes).
   */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
