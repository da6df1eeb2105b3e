/**
 * tactl's entry for its launcher (`bin/tactl`): turns on Node's compile cache, then runs the built bundle
 * (`dist/bundle/main.js`, from `npm run build`) if it was built from the sources as they are now, else the
 * sources (`main.ts`): a fresh clone, or an edited one, runs without any build. `TACTL_FROM_SOURCE=1` runs the
 * sources whatever the bundle.
 * @module
 */
import module from "node:module";
import path from "node:path";
import { bundleIsFresh } from "./bundle_manifest.ts";

module.enableCompileCache?.();
const app = path.resolve(import.meta.dirname, "..");
const bundle = path.join(app, "dist/bundle");
// Only the chunks this command loads need be up to date: its group's (the first word names it), or the core's.
const fresh = process.env.TACTL_FROM_SOURCE !== "1" && bundleIsFresh(path.resolve(app, "../.."), path.join(bundle, "manifest.json"), process.argv[2] ?? "");
await import(fresh ? path.join(bundle, "main.js") : "./main.ts");
