/**
 * Builds tactl's bundle: `node src/build_bundle.ts [OUTDIR]` (default `dist/bundle`, run by `npm run build`).
 * esbuild bundles `main.ts`, the workspace libraries and the packages it uses into ES modules, one chunk per
 * command group (the groups stay loaded on demand), types stripped and unused code dropped. (Leaving the
 * node_modules packages out as imports broke the order in which they must load: tsyringe before its
 * reflect-metadata.) Beside them, `manifest.json` lists the sources that went in (see `bundle_manifest.ts`).
 * Measured (BENCHMARKS.md, "Start-up"): the bundle starts `tactl eventlog show` about 25 ms sooner than the
 * sources do, both with the compile cache.
 * @module
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { build, type Metafile } from "esbuild";
import { manifestOf } from "./bundle_manifest.ts";

const APP = path.resolve(import.meta.dirname, "..");
const ROOT = path.resolve(APP, "../..");

// The CommonJS packages bundled in (the @peculiar ASN.1 and X.509 stack) call require() for Node's built-in
// modules; an ES module has no require of its own.
const BANNER = 'import { createRequire as __tactlCreateRequire } from "node:module"; const require = __tactlCreateRequire(import.meta.url);';

/** Command modules that are not one group's but serve several (the first words of their commands), as cli.ts loads them. */
const SHARED_MODULES: Record<string, string[]> = { workflow: ["host", "ta", "cluster", "status"] };

/**
 * For each command group, the source files of the chunks that running one of its commands loads: the entry, the
 * CLI core, the group's module and everything they import statically; under "" those of the core alone (help,
 * unknown commands). A change elsewhere leaves that group's bundle fresh.
 */
function groupInputs(metafile: Metafile): Record<string, string[]> {
  const outputs = Object.entries(metafile.outputs);
  const byEntry = (entry: string) => outputs.find(([, o]) => o.entryPoint === entry)?.[0];
  const closure = (start: string | undefined, into: Set<string>) => {
    if (start === undefined || into.has(start)) return;
    into.add(start);
    for (const i of metafile.outputs[start].imports) if (i.kind === "import-statement" && !i.external && metafile.outputs[i.path]) closure(i.path, into);
  };
  const files = (chunks: Set<string>) => [...new Set([...chunks].flatMap((c) => Object.keys(metafile.outputs[c].inputs)))].sort();
  const core = new Set<string>();
  closure(byEntry("apps/tactl/src/main.ts"), core);
  closure(byEntry("apps/tactl/src/cli.ts"), core);
  const groups: Record<string, string[]> = { "": files(core) };
  for (const [, o] of outputs) {
    const m = /^apps\/tactl\/src\/commands\/([a-z]+)\.ts$/.exec(o.entryPoint ?? "");
    if (!m) continue;
    const chunks = new Set(core);
    closure(byEntry(o.entryPoint!), chunks);
    groups[m[1]] = files(chunks);
  }
  // A module whose commands several groups load (cli.ts GROUPS): its files count for each of them.
  for (const [module, words] of Object.entries(SHARED_MODULES)) {
    const own = groups[module];
    if (own === undefined) continue;
    delete groups[module];
    for (const w of words) groups[w] = [...new Set([...(groups[w] ?? []), ...own])].sort();
  }
  return groups;
}

/** Bundles tactl into `outdir`; resolves with the manifest's input files (relative to the repository root). */
export async function buildBundle(outdir: string): Promise<string[]> {
  // Chunks are named by their content: clear the previous build's, and its manifest first of all.
  for (const old of ["manifest.json", "main.js", "chunks"]) rmSync(path.join(outdir, old), { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [path.join(APP, "src/main.ts")],
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    outdir,
    chunkNames: "chunks/[name]-[hash]",
    metafile: true,
    logLevel: "warning",
    banner: { js: BANNER },
    mainFields: ["module", "main"],
  });
  const inputs = Object.keys(result.metafile.inputs).sort();
  writeFileSync(path.join(outdir, "manifest.json"), JSON.stringify({ ...manifestOf(ROOT, inputs), groups: groupInputs(result.metafile) }) + "\n");
  return inputs;
}

if (import.meta.main) {
  const outdir = path.resolve(process.argv[2] ?? path.join(APP, "dist/bundle"));
  const inputs = await buildBundle(outdir);
  process.stdout.write(`tactl bundle: ${path.relative(process.cwd(), outdir)} from ${inputs.length} source files\n`);
}
