/**
 * The master key that wraps every key at rest. What it wraps is an envelope of @tessera/vtpm (the codebase's one
 * format for encrypted data), sealed for the object's id; material wrapped before the envelope (version byte 1,
 * AES-256-GCM with the id as associated data) is still read. By default the master key lives in a file, mode 0600,
 * created on first start; or it is sealed to a TPM (in an envelope too). It is never logged and never stored beside
 * the objects it protects.
 * @module
 */
import { createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { chmod, open, readFile, stat } from "node:fs/promises";
import { seal, Tpm, unseal } from "@tessera/tss";
import { EnvelopeError, isEnvelope, openEnvelope, readEnvelopeHeader, sealEnvelope, type EnvelopeKey } from "@tessera/vtpm";
import { ServiceError } from "./errors.ts";

/** Wraps and unwraps key material, bound to the id of the object it belongs to. */
export interface Keyring {
  /** Encrypts `plaintext` for object `id`. */
  wrap(id: string, plaintext: Uint8Array): Uint8Array;
  /** Decrypts what {@link Keyring.wrap} made for the same `id`; throws when it was altered or is another object's. */
  unwrap(id: string, wrapped: Uint8Array): Uint8Array;
}

/** The first byte of material wrapped before the envelope: version(1) || nonce(12) || ciphertext || tag(16). */
const LEGACY_VERSION = 1;

/** How an envelope names the master key: local, used directly as the data key (nothing wraps it). */
const MASTER_KEY: EnvelopeKey = {
  provider: { name: "master-key", kind: "local" },
  key: { id: "master", version: 1 },
  wrappedDataKey: new Uint8Array(),
};

/**
 * A keyring over a 32-byte master key. `wrap` makes an envelope (@tessera/vtpm) with the master key as its data key
 * and the object's id as its context; `unwrap` opens it only for that id. Material of the format before the envelope
 * (version(1) || nonce(12) || ciphertext || tag(16), AES-256-GCM with the id as associated data) is still unwrapped.
 * @throws ServiceError SERVICE_MASTER_KEY when the key is not 32 bytes, or (unwrap) the material is of an unknown
 *   format, altered, another master key's or another object's.
 */
export function aesGcmKeyring(masterKey: Uint8Array): Keyring {
  if (masterKey.length !== 32) throw new ServiceError("SERVICE_MASTER_KEY", "the master key must be 32 bytes");
  const raw = new Uint8Array(masterKey);
  // The older format keeps one KeyObject: importing the raw key on every unwrap costs more than the AES-GCM itself.
  let legacyKey: ReturnType<typeof createSecretKey> | undefined;
  const refused = (id: string, why: string, cause?: unknown) =>
    new ServiceError("SERVICE_MASTER_KEY", `wrapped key material of object ${id} ${why}`, cause === undefined ? undefined : { cause });
  return {
    wrap(id, plaintext) {
      return sealEnvelope(plaintext, raw, MASTER_KEY, { context: id });
    },
    unwrap(id, wrapped) {
      if (isEnvelope(wrapped)) {
        let opened: ReturnType<typeof openEnvelope>;
        try {
          opened = openEnvelope(wrapped, raw);
        } catch (e) {
          if (e instanceof EnvelopeError) throw refused(id, `does not open with this master key (${e.message})`, e);
          throw e;
        }
        // The context is authenticated with the content: another object's material opens, and is refused here.
        if (opened.header.context !== id) {
          opened.plaintext.fill(0);
          throw refused(id, `is object ${JSON.stringify(opened.header.context)}'s, not this object's`);
        }
        return opened.plaintext;
      }
      if (wrapped.length < 29 || wrapped[0] !== LEGACY_VERSION) throw refused(id, "has an unknown format (neither an envelope nor version 1)");
      legacyKey ??= createSecretKey(Buffer.from(raw));
      const d = createDecipheriv("aes-256-gcm", legacyKey, wrapped.subarray(1, 13));
      d.setAAD(Buffer.from(id, "utf8"));
      d.setAuthTag(wrapped.subarray(wrapped.length - 16));
      const body = d.update(wrapped.subarray(13, wrapped.length - 16));
      try {
        d.final();
      } catch (e) {
        body.fill(0);
        throw refused(id, "(version 1) fails authentication: altered, another master key's or another object's", e);
      }
      return new Uint8Array(body.buffer, body.byteOffset, body.length);
    },
  };
}

/**
 * Loads the master key file, creating it (0600, exclusive create) when absent. Refuses a file readable by others.
 * @throws ServiceError SERVICE_MASTER_KEY for a file open to group or others, or not 32 bytes.
 */
export async function loadOrCreateMasterKey(file: string): Promise<{ key: Uint8Array; created: boolean }> {
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) {
      throw new ServiceError("SERVICE_MASTER_KEY", `master key ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    const key = new Uint8Array(await readFile(file));
    if (key.length !== 32) throw new ServiceError("SERVICE_MASTER_KEY", `master key ${file} is ${key.length} bytes, expected 32`);
    return { key, created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const key = new Uint8Array(randomBytes(32));
  // Exclusive create, not writeSecretFile's rename: two processes starting at once must not both win.
  const fh = await open(file, "wx", 0o600);
  try {
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(file, 0o600);
  return { key, created: true };
}

/** How the sealed master key file's envelope names its data key: a fresh key sealed under this TPM's SRK. */
const TPM_SEALED = { provider: { name: "tpm", kind: "local" }, key: { id: "srk", version: 1 } } as const;

/** The sealed master key file's envelope context. */
const SEALED_CONTEXT = "master-key";

/**
 * Loads the master key sealed to a TPM (`file`, 0600), or creates one and seals it. The file is an envelope
 * (@tessera/vtpm) holding the master key, its data key a fresh random key sealed to the TPM (@tessera/tss `seal`,
 * under the SRK) as the envelope's wrapped data key; a file of the format before it (the master key itself sealed,
 * TPM2B_PUBLIC || TPM2B_PRIVATE) is still read. The key never touches the disk in the clear; a copy of the data
 * directory is useless without that TPM.
 * @param tcti the TPM to use, as @tessera/tss `Tpm.open` takes it.
 * @throws ServiceError SERVICE_MASTER_KEY for a file that is not such an envelope or was altered, or a key not 32 bytes;
 *   the TPM's error when another TPM's sealed blob does not load.
 */
export async function loadOrCreateSealedMasterKey(file: string, tcti: string): Promise<{ key: Uint8Array; created: boolean }> {
  const tpm = Tpm.open(tcti);
  try {
    let blob: Uint8Array | undefined;
    try {
      blob = new Uint8Array(await readFile(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    if (blob) {
      const key = isEnvelope(blob) ? await openSealedEnvelope(tpm, blob, file) : await unseal(tpm, blob);
      if (key.length !== 32) throw new ServiceError("SERVICE_MASTER_KEY", `sealed master key ${file} unsealed to ${key.length} bytes, expected 32`);
      return { key, created: false };
    }
    const key = new Uint8Array(randomBytes(32));
    const dataKey = new Uint8Array(randomBytes(32));
    let envelope: Uint8Array;
    try {
      const sealed = await seal(tpm, dataKey);
      envelope = sealEnvelope(key, dataKey, { ...TPM_SEALED, wrappedDataKey: sealed }, { context: SEALED_CONTEXT });
    } finally {
      dataKey.fill(0);
    }
    const fh = await open(file, "wx", 0o600);
    try {
      await fh.chmod(0o600);
      await fh.writeFile(envelope);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return { key, created: true };
  } finally {
    await tpm.close();
  }
}

/** The master key in a sealed master key envelope: its data key unsealed by the TPM, then the envelope opened. */
async function openSealedEnvelope(tpm: Tpm, blob: Uint8Array, file: string): Promise<Uint8Array> {
  const bad = (why: string, cause?: unknown) =>
    new ServiceError("SERVICE_MASTER_KEY", `sealed master key ${file} ${why}`, cause === undefined ? undefined : { cause });
  let header: ReturnType<typeof readEnvelopeHeader>;
  try {
    header = readEnvelopeHeader(blob);
  } catch (e) {
    if (e instanceof EnvelopeError) throw bad(`is not a readable envelope (${e.message})`, e);
    throw e;
  }
  if (header.provider.name !== TPM_SEALED.provider.name || header.key.id !== TPM_SEALED.key.id) {
    throw bad(`is an envelope of ${header.provider.name}'s key ${header.key.id}, not of a TPM's SRK`);
  }
  const dataKey = await unseal(tpm, header.wrappedDataKey);
  try {
    return openEnvelope(blob, dataKey).plaintext;
  } catch (e) {
    if (e instanceof EnvelopeError) throw bad(`does not open (${e.message})`, e);
    throw e;
  } finally {
    dataKey.fill(0);
  }
}

/** Something wrapped by a node's master key and kept in the shared store. */
export interface WrappedAtRest {
  /** The keyring id it was wrapped under. */
  readonly id: string;
  readonly wrapped: Uint8Array;
  /** What it is, for the message (`token signing key K`, `the client key of provider P`). */
  readonly what: string;
}

/**
 * Checks at start that this node's master key unwraps what the store holds: the nodes of one database must share
 * one master key file, and failing here names the cause (later it would be a 500 on the first request using it).
 * @throws ServiceError SERVICE_MASTER_KEY naming the file, the item and the service
 */
export function assertMasterKeyUnwraps(keyring: Keyring, masterKeyFile: string, service: string, items: Iterable<WrappedAtRest>): void {
  for (const item of items) {
    try {
      keyring.unwrap(item.id, item.wrapped);
    } catch (e) {
      throw new ServiceError(
        "SERVICE_MASTER_KEY",
        `the master key ${masterKeyFile} does not unwrap ${item.what} in the database: every ${service} node of a database needs the same master key file`,
        { cause: e },
      );
    }
  }
}
