/**
 * The manifest of tactl's built bundle (`dist/bundle/`, written by `build_bundle.ts`): every source file that
 * went into it, with its size and modification time then. The launcher runs the bundle only while every one of
 * them is unchanged, and the sources otherwise, so that an edited checkout never runs stale code.
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";

/** Source files (relative to the repository root) → [mtimeMs, size] when the bundle was built. */
export interface BundleManifest {
  inputs: Record<string, [number, number]>;
  /** For a command group (e.g. "eventlog"; "" for help), the inputs of the chunks its commands load. */
  groups?: Record<string, string[]>;
}

/** The manifest entry of each of `files` (relative to `root`) as they are now. */
export function manifestOf(root: string, files: string[]): BundleManifest {
  const inputs: BundleManifest["inputs"] = {};
  for (const f of files) {
    const s = statSync(path.join(root, f));
    inputs[f] = [s.mtimeMs, s.size];
  }
  return { inputs };
}

/**
 * Whether the bundle whose manifest is `manifestFile` was built from the files under `root` as they are now:
 * with `firstWord` (of a tactl command line), the files of the chunks that command loads (its group's, see
 * `BundleManifest.groups`, or the core's when it names no group), else all. False, never an error, when the
 * manifest is missing or unreadable or any of those inputs changed or is gone.
 */
export function bundleIsFresh(root: string, manifestFile: string, firstWord?: string): boolean {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as BundleManifest;
  } catch {
    return false;
  }
  const inputs = manifest?.inputs ?? {};
  const groups = manifest?.groups ?? {};
  const files = firstWord === undefined ? Object.keys(inputs) : Object.hasOwn(groups, firstWord) ? groups[firstWord] : groups[""];
  if (!files || files.length === 0) return false;
  for (const file of files) {
    const s = statSync(path.join(root, file), { throwIfNoEntry: false });
    const [mtimeMs, size] = inputs[file] ?? [];
    if (!s || s.mtimeMs !== mtimeMs || s.size !== size) return false;
  }
  return true;
}
