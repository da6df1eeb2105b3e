/**
 * The token signing keys, kept in the store (wrapped by the data directory's master key) so that every node
 * of a cluster signs with the same active key and publishes the same JWKS. A rotated key stays published
 * until the last token it signed has expired.
 * @module
 */
import { activeSigningKey, generateSigningKey, publishedJwks, type SigningKeyState } from "@tessera/tokens";
import type { Keyring } from "@tessera/service";
import type { ActiveSigningKey, PublicJwk, SigningKeys } from "./deps.ts";
import type { AttestdStore, SigningKeyRecord } from "./store/store.ts";

/** How long a node reuses what it read of the key set (another node's rotation is seen within this). */
const CACHE_MS = 2000;

/**
 * A token's expiry is written to the store only when it passes the last one this node wrote by more than this:
 * one write a second instead of one per token. The JWKS keeps a retired key until its recorded last expiry plus
 * libs/tokens' 30 s clock tolerance, so a recorded expiry up to a second short still covers every token.
 */
const NOTE_GRANULARITY_MS = 1000;

/** The newest key not retired (libs/tokens' rule, so every node picks the same). */
function activeRecord(keys: readonly SigningKeyRecord[]): SigningKeyRecord | undefined {
  return activeSigningKey(keys as readonly (SigningKeyRecord & SigningKeyState)[]);
}

/** Wraps a new signing key for the store. */
export async function newSigningKeyRecord(keyring: Keyring, now: number): Promise<SigningKeyRecord> {
  const k = await generateSigningKey(now);
  return {
    kid: k.kid,
    publicJwk: { ...k.publicJwk, kid: k.kid },
    wrappedPrivateJwk: keyring.wrap(`signing-key:${k.kid}`, new TextEncoder().encode(JSON.stringify(k.privateJwk))),
    createdAt: now,
  };
}

/** The store's signing keys as {@link SigningKeys}. */
export function storeSigningKeys(store: AttestdStore, keyring: Keyring, clock: { now(): number }): SigningKeys {
  let cached: { at: number; keys: SigningKeyRecord[] } | undefined;
  const unwrapped = new Map<string, ActiveSigningKey>();
  const noted = new Map<string, number>();

  async function keys(): Promise<SigningKeyRecord[]> {
    const now = clock.now();
    if (cached === undefined || now - cached.at > CACHE_MS || now < cached.at) cached = { at: now, keys: await store.listSigningKeys() };
    return cached.keys;
  }

  function unwrap(r: SigningKeyRecord): ActiveSigningKey {
    const known = unwrapped.get(r.kid);
    if (known) return known;
    const privateJwk = JSON.parse(new TextDecoder().decode(keyring.unwrap(`signing-key:${r.kid}`, r.wrappedPrivateJwk))) as Record<string, unknown>;
    const k: ActiveSigningKey = { kid: r.kid, privateJwk: { ...privateJwk, kid: r.kid }, publicJwk: { ...r.publicJwk, kid: r.kid }, createdAt: r.createdAt };
    unwrapped.set(r.kid, k);
    return k;
  }

  return {
    async active() {
      const r = activeRecord(await keys());
      if (r === undefined) throw new Error("attestd has no active token signing key (the first start creates one)");
      return unwrap(r);
    },
    async jwks() {
      const all = await keys();
      return publishedJwks(all as readonly (SigningKeyRecord & SigningKeyState)[], clock.now()) as { keys: PublicJwk[] };
    },
    async rotate() {
      const now = clock.now();
      return store.withLock("signing-keys", async () => {
        const current = activeRecord(await store.listSigningKeys());
        const next = await newSigningKeyRecord(keyring, now);
        await store.addSigningKey(next);
        if (current) await store.retireSigningKey(current.kid, now);
        await store.purgeSigningKeys(now);
        cached = undefined;
        return { kid: next.kid, ...(current ? { retired: current.kid } : {}) };
      });
    },
    async noteIssued(kid, expiresAt) {
      if (expiresAt <= (noted.get(kid) ?? -Infinity) + NOTE_GRANULARITY_MS) return;
      await store.noteTokenIssued(kid, expiresAt);
      noted.set(kid, Math.max(expiresAt, noted.get(kid) ?? -Infinity));
      // Our cached copy keeps the key published until this token expires, whatever another node does.
      const k = cached?.keys.find((x) => x.kid === kid);
      if (cached && k && (k.lastTokenExpiresAt ?? 0) < expiresAt) {
        cached = { at: cached.at, keys: cached.keys.map((x) => (x.kid === kid ? { ...x, lastTokenExpiresAt: expiresAt } : x)) };
      }
    },
  };
}
