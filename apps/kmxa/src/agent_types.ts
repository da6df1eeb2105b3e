/**
 * The host agent's contract: what the local API (server.ts, routes/) asks of the agent core (agent.ts).
 * Types only, so that both sides can be written against it at once.
 * @module
 */

/**
 * Where the agent stands with attestd:
 * - `starting`: the first attestation has not ended yet;
 * - `attested`: the last attestation gave a token;
 * - `refused`: the last attestation ended without a token for a reason of the host's — attestd refused it
 *   (`lastFailure.code` is attestd's problem code, e.g. `attestation-failed`, `ek-untrusted`), or the agent could not
 *   make its evidence (`tpm-error`, `event-log-unreadable`, `ak-name-mismatch`, `agent-error`);
 * - `unreachable`: attestd could not be reached, was busy or broken (`attestd-unreachable`, `attestd-unavailable`,
 *   `attestd-answer-invalid`, `rate-limited`); a token obtained earlier is still handed out until it expires.
 */
export type AgentState = "starting" | "attested" | "refused" | "unreachable";

/** One failed appraisal check as attestd reports it (PROTOCOL.md §3, `failures`). */
export interface AttestationFailure {
  /** The check's stable code, e.g. `log-replay`, `image-unknown`. */
  check: string;
  /** Text for people. */
  detail: string;
  /** Any further fields attestd gave (pcr, bank, event, expected, measured, image). */
  [field: string]: unknown;
}

/** Why the last attempt did not end in a token. */
export interface AgentFailure {
  /** attestd's problem code (`attestation-failed`, `ek-untrusted`, …) or the agent's own (`attestd-unreachable`, `tpm-error`, …). */
  code: string;
  /** Text for people. */
  detail: string;
  /** attestd's failed checks, when it refused an attestation. */
  failures?: AttestationFailure[];
}

/** The agent's status, as `GET /api/v1/status` shows it. Times are milliseconds since the epoch. */
export interface AgentStatus {
  /** The host name the agent attests as. */
  host: string;
  /** Where it stands. */
  state: AgentState;
  /** When `state` last changed. */
  since: number;
  /** When the current token expires (only while attested). */
  tokenExpiresAt?: number;
  /** When the last attestation attempt ended. */
  lastAttempt?: number;
  /** Why the last attempt failed (absent after a success). */
  lastFailure?: AgentFailure;
  /** When the next scheduled attestation will run. */
  nextAttemptAt?: number;
  /** The AK's Name (hex), once known. */
  akName?: string;
  /** SHA-256 (hex) of the EK's public key in SPKI DER, as attestd's token names it. */
  ekFingerprint?: string;
}

/** The host's TPM identity, for the administrator to import into the Trust Authority. */
export interface HostIdentity {
  /** The host name the agent attests as. */
  host: string;
  /** The EK certificate (DER) read from its NV index, when the TPM has one. */
  ekCertificate?: Uint8Array;
  /** The EK's TPM2B_PUBLIC (as `tpm2_createek -u` writes it). */
  ekPublic: Uint8Array;
  /** The EK's public key as SPKI DER. */
  ekSpki: Uint8Array;
  /** SHA-256 (hex) of `ekSpki`. */
  ekFingerprint: string;
  /** The AK's Name (hex). */
  akName: string;
  /** The AK's TPM2B_PUBLIC. */
  akPublic: Uint8Array;
  /** What the TPM says about itself (libs/tss tpmInfo), when it answered at start. */
  tpm?: {
    /** Manufacturer ID as its ASCII characters (e.g. "IBM", "INTC", "IFX"). */
    manufacturer: string;
    /** TPM_PT_VENDOR_STRING_1..4 joined (the model, as vendors use it). */
    vendorString: string;
    /** Firmware version, four dot-separated 16-bit fields. */
    firmwareVersion: string;
  };
  /** The TCG event log as read from the log file (empty when the file is absent). */
  eventLog: Uint8Array;
  /** The event log file the agent reads. */
  eventLogPath: string;
}

/** The agent core. One per process; it owns the TPM connection. */
export interface Agent {
  /** The current status (no I/O). */
  status(): AgentStatus;
  /**
   * A valid attestation token, attesting first when there is none or it is near expiry (less than 5 s left).
   * A token stays valid while attestd cannot be reached (`unreachable`) or the host cannot make its evidence, until
   * it expires; a refusal by attestd drops it at once (the host is not trustworthy now): from then on NOT_ATTESTED.
   * Within 5 s of a failed attempt it answers NOT_ATTESTED without attesting again (the schedule and attestNow retry).
   * @throws AgentError code `NOT_ATTESTED` (with the last failure) when attestd refuses or cannot be reached.
   */
  token(): Promise<{ token: string; expiresAt: number }>;
  /** Attests now (joining an attempt already running) and returns the resulting status. */
  attestNow(): Promise<AgentStatus>;
  /** The host's TPM identity. */
  identity(): Promise<HostIdentity>;
  /** RSA-OAEP (SHA-256) decryption with the binding key, inside the TPM (the CEK of a kmxd JWE). */
  rsaDecrypt(cipherText: Uint8Array): Promise<Uint8Array>;
  /** Stops the schedule and closes the TPM connection. */
  close(): Promise<void>;
}

/**
 * Stable codes of {@link AgentError}:
 * - `NOT_ATTESTED`: no valid token (attestd refused or cannot be reached); `failure` says why.
 * - `DECRYPT_FAILED`: the TPM refused to decrypt with the binding key (a ciphertext made for another key, or damaged).
 * - `TPM_ERROR`: the TPM failed otherwise (not reachable, a command error).
 * - `STATE_INVALID`: the data directory's state.json cannot be read or does not fit.
 * - `CLOSED`: the agent was closed.
 */
export type AgentErrorCode = "NOT_ATTESTED" | "DECRYPT_FAILED" | "TPM_ERROR" | "STATE_INVALID" | "CLOSED";

/** An agent operation that cannot be done; `code` is stable, `failure` carries the last attestation failure. */
export class AgentError extends Error {
  /** Stable code. */
  readonly code: AgentErrorCode;
  /** The last attestation failure, for NOT_ATTESTED. */
  readonly failure: AgentFailure | undefined;

  /**
   * @param code stable code
   * @param message text for people
   * @param options the last failure and/or the underlying cause
   */
  constructor(code: AgentErrorCode, message: string, options: { failure?: AgentFailure; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "AgentError";
    this.code = code;
    this.failure = options.failure;
  }
}

/**
 * The Trust Authority the agent works with: attestd and kmxd, each with the CA of its TLS certificate (PEM).
 * From the configuration (`--attestd`, `--kmxd`, …) until an identity is imported (`PUT /api/v1/ta-identity`,
 * workflow step 6); the imported one is kept in state.json and wins over the configuration from then on.
 */
export interface TrustAuthority {
  attestd: { url: string; ca: string };
  /** kmxd (absent only for an agent core started without one: the core's own tests). */
  kmxd?: { url: string; ca: string };
  /** The Trust Authority cluster's name, when the identity named it. */
  cluster?: string;
  /** When it was imported (ms since the epoch); absent: the configuration's. */
  importedAt?: number;
}

/** The agent's settings made through its local API (workflow steps 6 and 7). */
export interface AgentSettings {
  /** The Trust Authority in use. */
  trustAuthority(): TrustAuthority;
  /**
   * Uses `ta` from now on (kept in state.json): the token of the previous one is dropped, the AK is enrolled again
   * when attestd's URL changed, and the host attests at once. Resolves with the status that attestation ended in.
   */
  setTrustAuthority(ta: { attestd: { url: string; ca: string }; kmxd: { url: string; ca: string }; cluster?: string }): Promise<AgentStatus>;
  /** Listeners told after each change of the Trust Authority (the key service follows kmxd's URL). */
  onTrustAuthorityChange(listener: (ta: TrustAuthority) => void): void;
  /** The default key provider (workflow step 7), used by the key routes without a provider. */
  keyProvider(): string | undefined;
  /** Sets (or, with undefined, clears) the default key provider; kept in state.json. */
  setKeyProvider(name: string | undefined): Promise<void>;
}
