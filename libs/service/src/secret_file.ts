/**
 * Writing files atomically with a fixed mode: readers see the old content or the new, never a part.
 * @module
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { errnoText, ServiceError } from "./errors.ts";

/** Options of {@link writeSecretFile}. */
export interface WriteSecretFileOptions {
  /** File mode (default 0o600). Applied with fchmod, so the umask does not matter. */
  readonly mode?: number;
}

/**
 * Writes `data` to `file` atomically: a temporary file beside it (created exclusively, mode set with fchmod
 * whatever the umask, written and fsynced), renamed over `file`, then the directory fsynced so the rename
 * survives a crash. On any failure the temporary file is removed and `file` keeps its previous content.
 *
 * @example
 * ```ts
 * await writeSecretFile(path.join(dataDir, "admin.password"), password + "\n");
 * ```
 * @throws ServiceError SERVICE_FILE naming the file and the system error.
 */
export async function writeSecretFile(file: string, data: string | Uint8Array, options: WriteSecretFileOptions = {}): Promise<void> {
  const mode = options.mode ?? 0o600;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      // open()'s mode is filtered by the umask; fchmod is not.
      await fh.chmod(mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new ServiceError("SERVICE_FILE", `cannot write ${file}: ${errnoText(e)}`, { cause: e });
  }
  // The rename is durable only once the directory entry is on disk; some filesystems refuse to sync a directory.
  const dir = await open(path.dirname(file), "r").catch(() => undefined);
  if (dir) {
    await dir.sync().catch(() => {});
    await dir.close();
  }
}

/**
 * Reads a PEM (or any text) file, naming it and what it holds in the error.
 * @param what e.g. "TLS certificate".
 * @throws ServiceError SERVICE_FILE `cannot read TLS certificate /etc/x.pem: ENOENT`.
 */
export async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new ServiceError("SERVICE_FILE", `cannot read ${what} ${file}: ${errnoText(e)}`, { cause: e });
  }
}
