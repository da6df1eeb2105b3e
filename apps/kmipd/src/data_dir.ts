/**
 * The data directory: private to kmipd's user. Created 0700; one that exists and that group or others may
 * read, write or enter is made 0700, and the change logged (a directory kmipd cannot change is refused).
 * @module
 */
import { chmod, mkdir, stat } from "node:fs/promises";

/** Creates `dir` (0700) or makes an existing one private. Throws when it is not a directory or cannot be made private. */
export async function ensurePrivateDir(dir: string, log: (msg: string, fields?: Record<string, unknown>) => void): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new Error(`data directory ${dir} is not a directory`);
  const mode = st.mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    await chmod(dir, 0o700);
  } catch (e) {
    throw new Error(
      `data directory ${dir} is open to group or others (mode ${mode.toString(8)}) and cannot be made private: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  log("data directory was open to group or others; made it private", { dir, was: mode.toString(8), now: "700" });
}
