/**
 * The Trust Authority cluster's identity, as one exported file (workflow step 5): what a trusted cluster
 * imports to reach the cluster's services over TLS and to verify its tokens.
 * @module
 */
import { z } from "zod";
import { clusterName } from "./config.ts";
import type { AttestdDeps, PublicJwk } from "./deps.ts";

/** The identity file's schema (`GET /api/v1/identity`; `tactl ta export-identity` writes it). */
export const ClusterIdentity = z.object({
  /** The cluster's name. */
  cluster: z.string().min(1),
  /** The Attestation Service's URL (also the tokens' `iss`). */
  attestationService: z.url(),
  /** The Key Provider Service's URL, when it is known to attestd. */
  keyProviderService: z.url().optional(),
  /** PEM of the CA that issued the services' TLS certificates. */
  tlsCa: z.string().includes("-----BEGIN CERTIFICATE-----"),
  /** The token signing keys (JWKS). */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
});

/** A cluster identity. */
export type ClusterIdentity = z.infer<typeof ClusterIdentity>;

/** What the identity needs besides the deps. */
export interface IdentityOptions {
  /** The cluster's name (default: the configuration's, {@link clusterName}). */
  readonly cluster?: string;
  /** The Key Provider Service's URL. */
  readonly keyProviderService?: string;
  /** The TLS CA PEM (read once, at start, by the caller). */
  readonly tlsCaPem: string;
}

/**
 * The cluster's identity now: the JWKS is read at each call, so an export after a key rotation carries the
 * new key (and the retired ones whose tokens have not expired).
 * @example
 * ```ts
 * const identity = await clusterIdentity(deps, { tlsCaPem: await readFile(tls.caCertFile, "utf8") });
 * ```
 */
export async function clusterIdentity(deps: AttestdDeps, options: IdentityOptions): Promise<ClusterIdentity> {
  const jwks = await deps.signing.jwks();
  return {
    cluster: options.cluster ?? clusterName(deps.config),
    attestationService: deps.config.publicUrl,
    ...(options.keyProviderService === undefined ? {} : { keyProviderService: options.keyProviderService }),
    tlsCa: options.tlsCaPem,
    jwks: { keys: jwks.keys.map((k: PublicJwk) => ({ ...k })) },
  };
}
