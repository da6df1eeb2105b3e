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
 * Whether the bundle whose manifest is `manifestFile` was built from the files under `root` as they are now.
 * False, never an error, when the manifest is missing or unreadable or any input changed or is gone.
 */
export function bundleIsFresh(root: string, manifestFile: string): boolean {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as BundleManifest;
  } catch {
    return false;
  }
  const entries = Object.entries(manifest?.inputs ?? {});
  if (entries.length === 0) return false;
  for (const [file, [mtimeMs, size]] of entries) {
    const s = statSync(path.join(root, file), { throwIfNoEntry: false });
    if (!s || s.mtimeMs !== mtimeMs || s.size !== size) return false;
  }
  return true;
}
