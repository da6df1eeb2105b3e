/**
 * Builds {@link AttestdDeps} from a store, a keyring and the configuration: the settings over their defaults,
 * the appraisal policy (every accepted image and the settings), the signing keys.
 * @module
 */
import type { AppraisalPolicy } from "@tessera/appraisal";
import type { ImageModel } from "@tessera/host-image";
import type { Keyring } from "@tessera/service";
import { algName, parsePcrSelection, selectedPcrs } from "@tessera/tpm2";
import type { Logger } from "pino";
import type { AttestdConfig } from "./config.ts";
import { mergeSettings, type AttestdDeps, type AttestdSettings, type StatusEvents } from "./deps.ts";
import { storeSigningKeys } from "./signing.ts";
import type { AttestdStore, PolicyStamp } from "./store/store.ts";

/** What {@link createDeps} needs. */
export interface CreateDepsOptions {
  readonly store: AttestdStore;
  readonly keyring: Keyring;
  readonly logger: Logger;
  readonly config: AttestdConfig;
  readonly events: StatusEvents;
  /** Default: Date.now. */
  readonly clock?: { now(): number };
}

/** A selection in tpm2-tools syntax as libs/appraisal's `pcrs` (`{ sha256: [0, 1, …] }`). */
export function selectionPcrs(selection: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of parsePcrSelection(selection)) out[algName(s.hash)] = selectedPcrs(s);
  return out;
}

/** What a node keeps of the policy between requests: valid while the store's stamp is the same. */
interface PolicyCache {
  /** The stored settings as JSON and the images' stamp this was built from. */
  readonly settingsJson: string;
  readonly imagesStamp: string;
  readonly settings: AttestdSettings;
  readonly images: readonly ImageModel[];
  /** Policies by PCR selection (a challenge's), built once each. */
  readonly policies: Map<string, AppraisalPolicy>;
}

/** How many distinct selections a cache keeps policies for (challenges carry the settings' selection; a bound). */
const MAX_CACHED_SELECTIONS = 16;

/** The routes' dependencies over one store. */
export function createDeps(o: CreateDepsOptions): AttestdDeps {
  const clock = o.clock ?? { now: () => Date.now() };
  let cache: PolicyCache | undefined;

  /**
   * One small read per call (the settings and the images' stamp) instead of the settings and every image: the images
   * are listed and parsed again only when their stamp moved, so a change on any node is seen by the next request.
   */
  async function current(read?: PolicyStamp): Promise<PolicyCache> {
    const stamp = read ?? (await o.store.getPolicyStamp());
    const settingsJson = JSON.stringify(stamp.settings ?? null);
    const c = cache;
    if (c !== undefined && c.settingsJson === settingsJson && c.imagesStamp === stamp.images) return c;
    // Listed after the stamp was read: at least as new as the stamp (a later change moves the stamp again).
    const images = c !== undefined && c.imagesStamp === stamp.images ? c.images : Object.freeze((await o.store.listImages()).map((i) => i.image));
    const next: PolicyCache = { settingsJson, imagesStamp: stamp.images, settings: mergeSettings(stamp.settings), images, policies: new Map() };
    cache = next;
    return next;
  }

  function policyOf(c: PolicyCache, selection: string): AppraisalPolicy {
    let p = c.policies.get(selection);
    if (p === undefined) {
      const s = c.settings;
      p = Object.freeze({
        images: c.images,
        pcrs: selectionPcrs(selection),
        secureBootRequired: s.secureBootRequired,
        ...(s.hashAlgorithms ? { hashAlgorithms: s.hashAlgorithms } : {}),
      });
      if (c.policies.size >= MAX_CACHED_SELECTIONS) c.policies.clear();
      c.policies.set(selection, p);
    }
    return p;
  }

  return {
    store: o.store,
    keyring: o.keyring,
    logger: o.logger,
    clock,
    config: o.config,
    events: o.events,
    signing: storeSigningKeys(o.store, o.keyring, clock),
    async settings() {
      return (await current()).settings;
    },
    async challengeSettings(stamp) {
      const c = stamp === undefined && cache !== undefined ? cache : await current(stamp);
      return { settings: c.settings, settingsJson: c.settingsJson };
    },
    async policyFor(selection, stamp) {
      const c = await current(stamp);
      return { settings: c.settings, policy: policyOf(c, selection ?? c.settings.pcrSelection) };
    },
  };
}
