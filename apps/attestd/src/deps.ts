/**
 * What attestd's routes are given: the store, the key material, the clock, the event bus and the policy.
 * The process builds one {@link AttestdDeps} (main.ts, bootstrap.ts); tests build theirs with a real store.
 * @module
 */
import type { AppraisalPolicy } from "@tessera/appraisal";
import type { Keyring } from "@tessera/service";
import type { Logger } from "pino";
import type { AttestdConfig } from "./config.ts";
import type { AttestdStore, PolicyStamp, Settings } from "./store/store.ts";

/** A host's status changed (published after an attestation, an enrollment or a removal). */
export interface StatusEvent {
  readonly host: string;
  readonly status: "green" | "red" | "stale" | "unknown";
  /** The status before the change (`unknown` for a new host). */
  readonly previous: "green" | "red" | "stale" | "unknown";
  /** Epoch milliseconds. */
  readonly at: number;
  /** Why, in words (e.g. the first failed check). */
  readonly message: string;
}

/** The status event bus (in-process; the SSE route subscribes to it). */
export interface StatusEvents {
  publish(e: StatusEvent): void;
  /** Calls `fn` for every later event; returns the unsubscribe function. */
  subscribe(fn: (e: StatusEvent) => void): () => void;
}

/** A public JWK as published in the JWKS. */
export type PublicJwk = Readonly<Record<string, unknown>> & { readonly kid: string };

/** The signing key that signs tokens now, unwrapped. */
export interface ActiveSigningKey {
  readonly kid: string;
  /** The private JWK (ES256). */
  readonly privateJwk: Readonly<Record<string, unknown>>;
  readonly publicJwk: PublicJwk;
  readonly createdAt: number;
}

/** The token signing keys, read from the store (so every node signs with the same key). */
export interface SigningKeys {
  /** The active key (the newest not retired). */
  active(): Promise<ActiveSigningKey>;
  /** The published JWKS: the active key and every retired key whose last token has not expired. */
  jwks(): Promise<{ readonly keys: readonly PublicJwk[] }>;
  /** Makes a new active key and retires the current one; returns the new kid. */
  rotate(): Promise<{ readonly kid: string; readonly retired?: string }>;
  /** Records that `kid` signed a token expiring at `expiresAt`. */
  noteIssued(kid: string, expiresAt: number): Promise<void>;
}

/** Everything attestd's routes use. */
export interface AttestdDeps {
  readonly store: AttestdStore;
  /** Wraps signing keys at rest with the data directory's master key. */
  readonly keyring: Keyring;
  readonly logger: Logger;
  /** Epoch milliseconds (tests may move it). */
  readonly clock: { now(): number };
  readonly config: AttestdConfig;
  readonly signing: SigningKeys;
  readonly events: StatusEvents;
  /** The settings merged with their defaults. */
  settings(): Promise<AttestdSettings>;
  /**
   * The settings a challenge is built from, with `settingsJson` (the stored settings as {@link
   * AttestdStore.putNonceIf} compares them): those of the last read without reading again (the store checks them
   * when it stores the nonce), else read now; `stamp`: what putNonceIf returned when they were stale.
   */
  challengeSettings(stamp?: PolicyStamp): Promise<{ readonly settings: AttestdSettings; readonly settingsJson: string }>;
  /**
   * The settings and the current appraisal policy (every accepted image and the settings), with the PCRs of
   * `selection` (a challenge's, tpm2-tools syntax) when given, else the settings'. While neither the settings nor
   * the images change (on any node), the same frozen policy object is returned: nothing is re-read or rebuilt.
   * `stamp`: the store's policy stamp when the caller has just read it (AttestdStore.attestationInputs), so it is
   * not read again.
   */
  policyFor(selection?: string, stamp?: PolicyStamp): Promise<{ readonly settings: AttestdSettings; readonly policy: AppraisalPolicy }>;
}

/** The service's settings with defaults applied (PATCH /api/v1/settings changes the stored ones). */
export interface AttestdSettings {
  readonly ekTrustMode: "ca" | "pin";
  /** tpm2-tools `-l` syntax, e.g. `sha256:0,1,2,3,4,5,6,7`. */
  readonly pcrSelection: string;
  readonly secureBootRequired: boolean;
  readonly tokenLifetimeSeconds: number;
  readonly nonceLifetimeSeconds: number;
  readonly enrollmentLifetimeSeconds: number;
  /** Allowed quote signature hash algorithms; absent: libs/appraisal's default. */
  readonly hashAlgorithms?: readonly string[];
}

/**
 * The defaults: nonces for 60 s (PROTOCOL.md §2), tokens for 10 minutes, and the SHA-256 PCRs an image's
 * components are measured into — firmware and boot chain 0–7, and 8, 9 and 14, where grub logs the kernel, initrd
 * and command line and Tessera's boot its software version. PROTOCOL.md's example selection (0–7) leaves those
 * unverified, and libs/appraisal counts only quoted PCRs' events: every image with a kernel would be refused.
 */
export const DEFAULT_SETTINGS: AttestdSettings = Object.freeze({
  ekTrustMode: "ca",
  pcrSelection: "sha256:0,1,2,3,4,5,6,7,8,9,14",
  secureBootRequired: true,
  tokenLifetimeSeconds: 600,
  nonceLifetimeSeconds: 60,
  enrollmentLifetimeSeconds: 300,
});

/** The stored settings over the defaults (unknown or ill-typed fields are ignored; PATCH validates them). */
export function mergeSettings(stored: Settings | undefined): AttestdSettings {
  const s = stored ?? {};
  const pick = <K extends keyof AttestdSettings>(k: K, ok: (v: unknown) => boolean): AttestdSettings[K] =>
    (ok(s[k]) ? s[k] : DEFAULT_SETTINGS[k]) as AttestdSettings[K];
  const posInt = (v: unknown): boolean => typeof v === "number" && Number.isInteger(v) && v > 0;
  const hashes = s["hashAlgorithms"];
  return Object.freeze({
    ekTrustMode: pick("ekTrustMode", (v) => v === "ca" || v === "pin"),
    pcrSelection: pick("pcrSelection", (v) => typeof v === "string" && v.length > 0),
    secureBootRequired: pick("secureBootRequired", (v) => typeof v === "boolean"),
    tokenLifetimeSeconds: pick("tokenLifetimeSeconds", posInt),
    nonceLifetimeSeconds: pick("nonceLifetimeSeconds", posInt),
    enrollmentLifetimeSeconds: pick("enrollmentLifetimeSeconds", posInt),
    ...(Array.isArray(hashes) && hashes.every((h) => typeof h === "string") ? { hashAlgorithms: Object.freeze([...hashes] as string[]) } : {}),
  });
}
