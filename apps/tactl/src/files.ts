/**
 * File I/O for the CLI: atomic writes (temp file + rename, so a failure never leaves a partial file),
 * private files 0600, and readers that name the file in every error.
 * @module
 */
import { mkdir, open, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { CliError } from "./errors.ts";

/**
 * Writes `data` to `file` atomically. `mode` 0o600 for private material. `data` may be pieces, written one after
 * another with writev (an envelope's header, ciphertext and tag, never joined in memory).
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[], mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", mode);
  try {
    if (Array.isArray(data)) await writevAll(fh, data);
    else await fh.writeFile(data as Uint8Array | string);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await rename(tmp, file);
  // The rename itself is durable only once the folder is synced: a crash right after could otherwise bring back the old file.
  const dir = await open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Every byte of `pieces`, in order: writev, and what a short write left, again. */
async function writevAll(fh: FileHandle, pieces: readonly Uint8Array[]): Promise<void> {
  let rest = pieces.filter((p) => p.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) {
      bytesWritten -= rest[0]!.length;
      rest = rest.slice(1);
    }
    if (rest.length > 0) rest = [rest[0]!.subarray(bytesWritten), ...rest.slice(1)];
  }
}

/** Reads a whole file; a missing or unreadable file is a CliError naming it. */
export async function readBytes(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new CliError("TACTL_FILE", `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** Reads a text file. */
export async function readText(file: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(file, what));
}
