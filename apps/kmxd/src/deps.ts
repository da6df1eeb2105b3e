/**
 * What kmxd's routes are given: the store, the provider registry, the keyring, attestd's JWKS and host status
 * watcher, the auditor, the clock and the configuration. The process builds one {@link KmxdDeps} (server.ts);
 * tests build theirs over real components.
 *
 * Agreed names of the host-facing modules (helper KX2), wired by server.ts / app.ts:
 * - `src/attestd_client.ts`: `createAttestdClient(options: AttestdClientOptions): AttestdClient` — an
 *   {@link AttestdClient} (JWKS cache, admin sign-in, SSE event stream with resync).
 * - `src/host_status.ts`: `createHostStatusWatcher({ client, clock, logger }): HostStatusWatcher`.
 * - `src/routes/host.ts`: `hostRoutes(deps: KmxdDeps): Hono<ServiceEnv>` (data-keys, unwrap, encrypt, decrypt,
 *   rewrap); it also exports the rewrap core used by the admin rewrap route:
 *   `rewrapCore(deps, provider: string, wrapped: unknown): Promise<string>`.
 * - `src/routes/health.ts`: `healthRoutes(deps: KmxdDeps): Hono<ServiceEnv>`.
 * @module
 */
import type { Jwks } from "@tessera/tokens";
import type { KmipClient } from "@tessera/kmip-client";
import type { ProviderKey, TrustedCluster, WrapMode } from "@tessera/key-provider";
import type { Keyring } from "@tessera/service";
import type { Logger } from "pino";
import type { KmxdConfig } from "./config.ts";
import type { KmxdStore, ProviderRecord } from "./store/store.ts";

export type { KmxdConfig } from "./config.ts";
export type { KmxdStore, ProviderRecord } from "./store/store.ts";

/** A provider as the routes use it: its stored record, its pooled KMIP client and its key versions. */
export interface ProviderHandle {
  readonly record: ProviderRecord;
  /** One pooled KMIP client over the provider's servers (in order), built from its stored TLS material. */
  readonly client: KmipClient;
  /** The current primary key version (new wraps use it). */
  readonly current: ProviderKey;
  /** Every key version of the provider, by number (old wrapped keys still unwrap). */
  version(kv: number): ProviderKey | undefined;
  /** The trusted clusters granted this provider (sorted). */
  readonly grants: readonly string[];
  /** The wrap mode of the current version. */
  readonly mode: WrapMode;
}

/**
 * The trusted key providers of this kmxd (providers.ts). Each {@link get} sees the latest state of the shared
 * store: a provider changed or removed on any node is rebuilt or dropped here before the answer.
 */
export interface ProviderRegistry {
  /** The provider `name`, or `undefined` when there is none. */
  get(name: string): Promise<ProviderHandle | undefined>;
  /** Every trusted cluster (by name order, without the implicit `default`), for `clusterOf`. */
  clusters(): Promise<readonly TrustedCluster[]>;
  /** {@link get} and {@link clusters} from one look at the store (a host request needs both). */
  lookup(name: string): Promise<{ readonly handle: ProviderHandle | undefined; readonly clusters: readonly TrustedCluster[] }>;
  /** Closes every KMIP client. */
  close(): void;
}

/** attestd's token signing keys (the JWKS), cached and refetched on demand. */
export interface JwksSource {
  /** The cached JWKS (fetched on first use). */
  get(): Promise<Jwks>;
  /** Fetches the JWKS again (a token names an unknown kid; an admin token fails with the cached one). */
  refresh(): Promise<Jwks>;
}

/** kmxd's connection to attestd (KX2's attestd_client.ts). */
export interface AttestdClient extends JwksSource {
  /** Stops the event stream and token refresh. */
  close(): void;
}

/** What {@link HostStatusWatcher.check} says about a host's token. */
export type HostStatusVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: string; readonly at: number; readonly message?: string };

/** The hosts' status as attestd reports it over its event stream (KX2's host_status.ts). */
export interface HostStatusWatcher {
  /**
   * Whether a token of `host` issued at `iat` (epoch seconds) is still good: refused when the host's latest
   * status is not green and that event came at or after `iat − 1 s`.
   */
  check(host: string, iat: number): HostStatusVerdict;
  /** The event stream's state, for the health route: `degraded` while disconnected. */
  health(): { readonly attestdEvents: "connected" | "disconnected"; readonly since: number };
  /** Stops watching. */
  close(): void;
}

/** One audited operation. Key operations name the host; admin operations the actor. */
export interface AuditEntry {
  /** The administrator (`subject`, or `subject (issuer)` for an OIDC issuer's). */
  readonly actor?: string;
  /** The host (the token's `sub`). */
  readonly host?: string;
  readonly provider?: string;
  readonly keyVersion?: number;
  /** e.g. `data-key.generate`, `unwrap`, `encrypt`, `decrypt`, `rewrap`, `provider.create`. */
  readonly operation: string;
  /** `ok`, or the problem code that refused it. */
  readonly result: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Writes the audit trail (the store, so every node sees it, and the log). */
export interface Auditor {
  /** Records one entry; resolves once it is committed (a data key is answered only after this). */
  record(entry: AuditEntry): Promise<void>;
}

/** Everything kmxd's routes use. */
export interface KmxdDeps {
  readonly store: KmxdStore;
  /** Wraps the providers' client keys at rest with the data directory's master key. */
  readonly keyring: Keyring;
  readonly logger: Logger;
  /** Epoch milliseconds (tests may move it). */
  readonly clock: { now(): number };
  readonly config: KmxdConfig;
  readonly providers: ProviderRegistry;
  readonly attestdJwks: JwksSource;
  readonly hostStatus: HostStatusWatcher;
  readonly audit: Auditor;
}
