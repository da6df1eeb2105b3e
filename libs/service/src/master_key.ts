/**
 * The master key that wraps every key at rest (AES-256-GCM, the object's id as associated data). By
 * default it lives in a file, mode 0600, created on first start; or it is sealed to a TPM. It is never
 * logged and never stored beside the objects it protects.
 * @module
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { chmod, open, readFile, stat } from "node:fs/promises";
import { seal, Tpm, unseal } from "@tessera/tss";
import { randomBytesFromPool } from "./random_bytes_from_pool.ts";
import { ServiceError } from "./errors.ts";

/** Wraps and unwraps key material, bound to the id of the object it belongs to. */
export interface Keyring {
  /** Encrypts `plaintext` for object `id`. */
  wrap(id: string, plaintext: Uint8Array): Uint8Array;
  /** Decrypts what {@link Keyring.wrap} made for the same `id`; throws when it was altered or is another object's. */
  unwrap(id: string, wrapped: Uint8Array): Uint8Array;
}

const VERSION = 1;

/**
 * An AES-256-GCM keyring over a 32-byte master key: output = version(1) || nonce(12) || ciphertext || tag(16).
 * @throws ServiceError SERVICE_MASTER_KEY when the key is not 32 bytes, or (unwrap) the format is unknown.
 */
export function aesGcmKeyring(masterKey: Uint8Array): Keyring {
  if (masterKey.length !== 32) throw new ServiceError("SERVICE_MASTER_KEY", "the master key must be 32 bytes");
  // One KeyObject for the process: importing the raw key on every wrap/unwrap costs more than the AES-GCM itself.
  const key = createSecretKey(Buffer.from(masterKey));
  return {
    wrap(id, plaintext) {
      const nonce = randomBytesFromPool(12);
      const c = createCipheriv("aes-256-gcm", key, nonce);
      c.setAAD(Buffer.from(id, "utf8"));
      // GCM is a stream mode: update() returns every ciphertext byte and final() none.
      const body = c.update(plaintext);
      c.final();
      const out = new Uint8Array(13 + body.length + 16);
      out[0] = VERSION;
      out.set(nonce, 1);
      out.set(body, 13);
      out.set(c.getAuthTag(), 13 + body.length);
      return out;
    },
    unwrap(id, wrapped) {
      if (wrapped.length < 29 || wrapped[0] !== VERSION) {
        throw new ServiceError("SERVICE_MASTER_KEY", `wrapped key material of object ${id} has an unknown format`);
      }
      const d = createDecipheriv("aes-256-gcm", key, wrapped.subarray(1, 13));
      d.setAAD(Buffer.from(id, "utf8"));
      d.setAuthTag(wrapped.subarray(wrapped.length - 16));
      return new Uint8Array(Buffer.concat([d.update(wrapped.subarray(13, wrapped.length - 16)), d.final()]));
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

/**
 * Loads the master key sealed to a TPM (`file` holds the sealed blob, 0600), or creates one and seals it. The
 * key itself never touches the disk; a copy of the data directory is useless without that TPM.
 * @param tcti the TPM to use, as @tessera/tss `Tpm.open` takes it.
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
      const key = await unseal(tpm, blob);
      if (key.length !== 32) throw new ServiceError("SERVICE_MASTER_KEY", `sealed master key ${file} unsealed to ${key.length} bytes, expected 32`);
      return { key, created: false };
    }
    const key = new Uint8Array(randomBytes(32));
    const sealed = await seal(tpm, key);
    const fh = await open(file, "wx", 0o600);
    try {
      await fh.chmod(0o600);
      await fh.writeFile(sealed);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return { key, created: true };
  } finally {
    await tpm.close();
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
