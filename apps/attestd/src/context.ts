/**
 * Builds {@link AttestdDeps} from a store, a keyring and the configuration: the settings over their defaults,
 * the appraisal policy (every accepted image and the settings), the signing keys.
 * @module
 */
import type { AppraisalPolicy } from "@tessera/appraisal";
import type { Keyring } from "@tessera/service";
import { algName, parsePcrSelection, selectedPcrs } from "@tessera/tpm2";
import type { Logger } from "pino";
import type { AttestdConfig } from "./config.ts";
import { mergeSettings, type AttestdDeps, type StatusEvents } from "./deps.ts";
import { storeSigningKeys } from "./signing.ts";
import type { AttestdStore } from "./store/store.ts";

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

/** The routes' dependencies over one store. */
export function createDeps(o: CreateDepsOptions): AttestdDeps {
  const clock = o.clock ?? { now: () => Date.now() };
  const settings = async () => mergeSettings(await o.store.getSettings());
  return {
    store: o.store,
    keyring: o.keyring,
    logger: o.logger,
    clock,
    config: o.config,
    events: o.events,
    signing: storeSigningKeys(o.store, o.keyring, clock),
    settings,
    async policy(): Promise<AppraisalPolicy> {
      const [s, images] = await Promise.all([settings(), o.store.listImages()]);
      return {
        images: images.map((i) => i.image),
        pcrs: selectionPcrs(s.pcrSelection),
        secureBootRequired: s.secureBootRequired,
        ...(s.hashAlgorithms ? { hashAlgorithms: s.hashAlgorithms } : {}),
      };
    },
  };
}
