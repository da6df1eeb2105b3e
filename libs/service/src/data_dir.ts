/**
 * A service's data directory: private to its user. Created 0700; one that exists and that group or others
 * may read, write or enter is made 0700, and the change logged (a directory that cannot be changed is refused).
 * @module
 */
import { chmod, mkdir, stat } from "node:fs/promises";
import { errnoText, ServiceError } from "./errors.ts";

/**
 * Creates `dir` (0700) or makes an existing one private.
 * @param log told when an existing directory was open to others and was made private.
 * @throws ServiceError SERVICE_DIR when `dir` is not a directory or cannot be made private.
 */
export async function ensurePrivateDir(dir: string, log: (msg: string, fields?: Record<string, unknown>) => void = () => {}): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // A file in the way: reported below as "not a directory".
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new ServiceError("SERVICE_DIR", `cannot create data directory ${dir}: ${errnoText(e)}`, { cause: e });
  }
  const st = await stat(dir);
  if (!st.isDirectory()) throw new ServiceError("SERVICE_DIR", `data directory ${dir} is not a directory`);
  const mode = st.mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    await chmod(dir, 0o700);
  } catch (e) {
    throw new ServiceError(
      "SERVICE_DIR",
      `data directory ${dir} is open to group or others (mode ${mode.toString(8)}) and cannot be made private: ${errnoText(e)}`,
      { cause: e },
    );
  }
  log("data directory was open to group or others; made it private", { dir, was: mode.toString(8), now: "700" });
}
