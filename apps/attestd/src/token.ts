/**
 * The attestation token (PROTOCOL.md "The attestation token"): an EAR signed with the cluster's active key,
 * with the certified binding key as `cnf.jwk`. The key's last-token expiry is raised in the store so that a
 * later rotation keeps the key published until this token has expired.
 * @module
 */
import type { Verdict } from "@tessera/appraisal";
import { bindingKeyJwk, issueEar } from "@tessera/tokens";
import { clusterName } from "./config.ts";
import type { AttestdDeps } from "./deps.ts";
import type { HostRecord } from "./store/store.ts";

/** The build named in `ear.verifier-id`. */
export const ATTESTD_BUILD = "attestd/0.1.0";

/** What goes into one token. */
export interface TokenRequest {
  readonly host: string;
  /** The challenge nonce (hex). */
  readonly nonce: string;
  readonly enrolled: HostRecord;
  readonly verdict: Verdict;
  /** The binding key's TPM2B_PUBLIC when the host sent one (the verdict says it was certified). */
  readonly bindingKeyPublic?: Uint8Array | undefined;
  readonly lifetimeSeconds: number;
  readonly now: number;
}

/** Binding keys' JWKs by their TPM2B_PUBLIC (base64): a host sends the same binding key with every attestation. */
const bindingJwks = new Map<string, Awaited<ReturnType<typeof bindingKeyJwk>>>();
const MAX_BINDING_JWKS = 4096;

/** bindingKeyJwk, once per binding key (the thumbprint and the checks are a pure function of its bytes). */
async function cachedBindingKeyJwk(pub: Uint8Array): Promise<Awaited<ReturnType<typeof bindingKeyJwk>>> {
  const id = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString("base64");
  const hit = bindingJwks.get(id);
  if (hit !== undefined) return hit;
  const jwk = Object.freeze(await bindingKeyJwk(pub));
  if (bindingJwks.size >= MAX_BINDING_JWKS) bindingJwks.delete(bindingJwks.keys().next().value!);
  bindingJwks.set(id, jwk);
  return jwk;
}

/** Signs the EAR for an affirming verdict and notes its expiry against the signing key. */
export async function issueAttestationToken(deps: AttestdDeps, r: TokenRequest): Promise<{ token: string; jti: string; expiresAt: number }> {
  const quoted = r.verdict.quoted;
  // An affirming verdict always says what was quoted; a token that does not is never issued.
  if (r.verdict.status !== "affirming" || quoted === undefined || quoted.pcrDigest === "" || quoted.selection === "") {
    throw new Error(`no attestation token for ${r.host}: the verdict is not affirming or names no quoted PCR selection and digest`);
  }
  const key = await deps.signing.active();
  const cnf = r.bindingKeyPublic !== undefined && r.verdict.bindingKey !== undefined ? await cachedBindingKeyJwk(r.bindingKeyPublic) : undefined;
  const issued = await issueEar(
    {
      issuer: deps.config.publicUrl,
      subject: r.host,
      nonce: r.nonce,
      now: r.now,
      lifetimeSeconds: r.lifetimeSeconds,
      verifierBuild: ATTESTD_BUILD,
      ekFingerprint: r.enrolled.ekFingerprint,
      ...(r.enrolled.ekCa !== undefined ? { ekCa: r.enrolled.ekCa } : {}),
      akName: r.enrolled.akName,
      ...(r.verdict.image ? { image: r.verdict.image } : {}),
      secureBoot: r.verdict.secureBoot ?? false,
      pcrDigest: quoted.pcrDigest,
      pcrSelection: quoted.selection,
      trustedCluster: clusterName(deps.config),
      ...(cnf ? { cnfJwk: cnf } : {}),
    },
    key,
  );
  await deps.signing.noteIssued(key.kid, issued.expiresAt);
  return issued;
}
