/**
 * Persistent objects (TPM2_EvictControl): keys that survive reboots at handles 0x81000000–0x81FFFFFF,
 * as the AK and the binding key live on real hosts. Objects are found again by their Name, which the
 * TPM reports with ReadPublic and which is checked against the public area.
 * @module
 */
import { equalBytes, objectName, TPM_HT, TPM_RH, TpmResponseError, type TpmtPublic } from "@tessera/tpm2";
import { TssError } from "./errors.ts";
import type { ExecuteOptions, HandleArg, LoadedObject, Tpm } from "./tpm.ts";

/** First persistent handle. */
export const PERSISTENT_FIRST = 0x81000000;
/** Last persistent handle (0x81800000 and up belong to the platform hierarchy). */
export const PERSISTENT_LAST = 0x81ffffff;
/**
 * Where {@link makePersistent} looks for a free handle by default: 0x81000010–0x8100FFFF, the owner's
 * storage range minus 0x81000000–0x8100000F, which the TCG handle registry gives to SRKs.
 */
export const DEFAULT_PERSISTENT_RANGE: readonly [number, number] = [0x81000010, 0x8100ffff];

/** A persistent object: its handle, public area and Name. */
export type PersistentObject = LoadedObject;

/** Options of {@link makePersistent} and {@link evictPersistent}. */
export interface PersistentOptions extends ExecuteOptions {
  /** The owner hierarchy's authorization: an authValue, or a full handle argument (e.g. with an HMAC session). Default: empty authValue. */
  ownerAuth?: Uint8Array | HandleArg;
  /** The handles {@link makePersistent} picks from when none is given (default {@link DEFAULT_PERSISTENT_RANGE}). */
  range?: readonly [number, number];
}

const hex = (h: number): string => `0x${h.toString(16).padStart(8, "0")}`;

function ownerArg(auth: PersistentOptions["ownerAuth"]): HandleArg {
  if (auth === undefined) return TPM_RH.OWNER;
  if (auth instanceof Uint8Array) return { handle: TPM_RH.OWNER, authValue: auth };
  return auth;
}

function checkPersistent(handle: number, what: string): void {
  if (!Number.isInteger(handle) || handle < PERSISTENT_FIRST || handle > PERSISTENT_LAST) {
    throw new TssError(
      "TSS_PERSISTENT",
      `${what}: ${Number.isInteger(handle) ? hex(handle >>> 0) : String(handle)} is not a persistent handle (0x81000000–0x81ffffff)`,
    );
  }
}

/** The persistent handles in use, ascending (TPM_CAP_HANDLES from 0x81000000). */
export async function listPersistent(tpm: Tpm, options: ExecuteOptions = {}): Promise<number[]> {
  return (await tpm.handles(TPM_HT.PERSISTENT, options)).sort((a, b) => a - b);
}

/**
 * Finds a persistent object by Name, or by public area (whose Name is computed), reading each persistent
 * handle back with ReadPublic. Resolves undefined when none matches.
 *
 * @example
 * const ak = await findPersistent(tpm, { public: akBlobs.public });
 * if (ak) await tpm.quote(ak.handle, nonce, pcrs);
 */
export async function findPersistent(
  tpm: Tpm,
  by: { name: Uint8Array } | { public: TpmtPublic },
  options: ExecuteOptions = {},
): Promise<PersistentObject | undefined> {
  const name = "name" in by ? by.name : objectName(by.public);
  for (const h of await listPersistent(tpm, options)) {
    const obj = await tpm.readPublic(h, options);
    if (equalBytes(obj.name, name)) return { handle: h, public: obj.public, publicBytes: obj.publicBytes, name: obj.name };
  }
  return undefined;
}

/**
 * Makes a loaded (transient) object persistent with TPM2_EvictControl under the owner hierarchy, at
 * `handle` or, when none is given, at the lowest free handle of `options.range`. A taken handle is
 * refused with TSS_PERSISTENT naming the object that holds it. The transient handle stays loaded (flush
 * it as before). Returns the persistent object, read back and checked to have the same Name.
 *
 * @example
 * const ak = await makePersistent(tpm, loadedAk, 0x81000010);
 */
export async function makePersistent(tpm: Tpm, object: LoadedObject, handle?: number, options: PersistentOptions = {}): Promise<PersistentObject> {
  const auth = ownerArg(options.ownerAuth);
  if (handle !== undefined) checkPersistent(handle, "makePersistent");
  const [first, last] = options.range ?? DEFAULT_PERSISTENT_RANGE;
  if (handle === undefined) {
    checkPersistent(first, "makePersistent range start");
    checkPersistent(last, "makePersistent range end");
    if (first > last) throw new TssError("TSS_PERSISTENT", `makePersistent: range ${hex(first)}–${hex(last)} is empty`);
  }
  // Concurrent callers may pick the same free handle: the loser sees TPM_RC_NV_DEFINED and picks again.
  for (let attempt = 0; ; attempt++) {
    const taken = new Set(await listPersistent(tpm, options));
    let target = handle;
    if (target === undefined) {
      for (let h = first; h <= last; h++) {
        if (!taken.has(h)) {
          target = h;
          break;
        }
      }
      if (target === undefined) throw new TssError("TSS_PERSISTENT", `makePersistent: no free persistent handle in ${hex(first)}–${hex(last)}`);
    } else if (taken.has(target)) {
      throw await takenError(tpm, target, object, options);
    }
    try {
      await tpm.evictControl(object.handle, target, auth, options);
    } catch (e) {
      if (e instanceof TpmResponseError && e.code === "TPM_RC_NV_DEFINED") {
        if (handle !== undefined) throw await takenError(tpm, target, object, options);
        if (attempt < 8) continue;
      }
      throw e;
    }
    const back = await tpm.readPublic(target, options);
    if (!equalBytes(back.name, object.name)) {
      throw new TssError("TSS_PERSISTENT", `makePersistent: ${hex(target)} reads back with Name ${Buffer.from(back.name).toString("hex")}, not the object's`);
    }
    return { handle: target, public: back.public, publicBytes: back.publicBytes, name: back.name };
  }
}

async function takenError(tpm: Tpm, handle: number, object: LoadedObject, options: ExecuteOptions): Promise<TssError> {
  const holder = await tpm.readPublic(handle, options).catch(() => undefined);
  const same = holder !== undefined && equalBytes(holder.name, object.name);
  return new TssError(
    "TSS_PERSISTENT",
    `makePersistent: persistent handle ${hex(handle)} is taken` +
      (holder ? ` by ${same ? "this very object (already persistent)" : `the object with Name ${Buffer.from(holder.name).toString("hex")}`}` : "") +
      "; evict it first or choose another handle",
  );
}

/** Removes a persistent object (TPM2_EvictControl on its persistent handle). TSS_PERSISTENT when there is none. */
export async function evictPersistent(tpm: Tpm, handle: number, options: PersistentOptions = {}): Promise<void> {
  checkPersistent(handle, "evictPersistent");
  if (!(await listPersistent(tpm, options)).includes(handle)) throw new TssError("TSS_PERSISTENT", `evictPersistent: no persistent object at ${hex(handle)}`);
  await tpm.evictControl(handle, handle, ownerArg(options.ownerAuth), options);
}
