/**
 * tactl's built bundle (`build_bundle.ts`): it behaves as the sources do, and its manifest tells when it is stale.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fixturePath } from "@tessera/fixtures";
import { buildBundle } from "./build_bundle.ts";
import { type BundleManifest, bundleIsFresh, manifestOf } from "./bundle_manifest.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const APP = path.resolve(import.meta.dirname, "..");
let outdir: string;

test.before(async () => {
  // Inside the app (dist/ is ignored by git), as `npm run build` puts it.
  await mkdir(path.join(APP, "dist"), { recursive: true });
  outdir = await mkdtemp(path.join(APP, "dist", "bundle-test-"));
  await buildBundle(outdir);
});

test.after.always(async () => {
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

function both(argv: string[]) {
  // A Tessera home with no session: `tactl ta` commands answer "not logged in" the same way from both.
  const env = { ...process.env, NODE_DISABLE_COMPILE_CACHE: "1", TESSERA_HOME: path.join(outdir, "no-tessera-home") };
  const opts = { encoding: "utf8" as const, timeout: 60_000, env };
  return {
    bundle: spawnSync(process.execPath, [path.join(outdir, "main.js"), ...argv], opts),
    source: spawnSync(process.execPath, [path.join(APP, "src/main.ts"), ...argv], opts),
  };
}

test("the bundle answers as the sources do: help, eventlog show, a TPM that is not there, a key that is not a key, ta without a session or server", async (t) => {
  const notKey = path.join(outdir, "not-a-key.txt");
  await writeFile(notKey, "not a key\n");
  const cases = [
    ["--help"],
    ["kmip", "encrypt", "--help"],
    ["eventlog", "show", fixturePath("eventlogs/go-tpm-tools_gdc-host.bin")],
    ["eventlog", "show", "--json", fixturePath("eventlogs/tpm2-tools_event-uefivar.bin")],
    ["tpm", "info", "--tcti", "swtpm:host=127.0.0.1,port=1"],
    ["kmip", "discover", "--server", "127.0.0.1:1", "--cert", notKey, "--key", notKey, "--ca", notKey],
    ["ta", "--help"],
    ["ta", "host", "list"],
    ["ta", "settings", "--set", "bogus=1"],
    ["ta", "login", "--server", "https://127.0.0.1:1", "--user", "u", "--password-file", notKey],
  ];
  for (const argv of cases) {
    const { bundle, source } = both(argv);
    t.is(bundle.status, source.status, `${argv.join(" ")}: ${bundle.stderr}`);
    t.is(bundle.stdout, source.stdout, argv.join(" "));
    t.is(bundle.stderr, source.stderr, argv.join(" "));
  }
  t.is(both(["tpm", "info", "--tcti", "swtpm:host=127.0.0.1,port=1"]).bundle.status, 3);
  t.is(both(["ta", "host", "list"]).bundle.status, 1);
  t.is(both(["ta", "login", "--server", "https://127.0.0.1:1", "--user", "u", "--password-file", notKey]).bundle.status, 3);
});

test("the bundle's manifest names the sources it was built from, and those each command group loads", async (t) => {
  const file = path.join(outdir, "manifest.json");
  t.true(bundleIsFresh(ROOT, file));
  const m = JSON.parse(await readFile(file, "utf8")) as BundleManifest;
  t.deepEqual(Object.keys(m.groups ?? {}).sort(), ["", "cluster", "dev", "eventlog", "host", "kmip", "kp", "status", "ta", "tpm", "vm"]);
  t.true(m.groups?.vm.includes("libs/vtpm/src/envelope.ts"), "tactl vm loads the envelope");
  t.deepEqual(m.groups?.[""], ["apps/tactl/src/cli.ts", "apps/tactl/src/command_index.ts", "apps/tactl/src/errors.ts", "apps/tactl/src/main.ts"]);
  t.true(m.groups?.eventlog.includes("libs/eventlog/src/parse_event_log.ts"));
  t.false(m.groups?.eventlog.some((f) => f.startsWith("libs/kmip")));
  t.true(m.groups?.kmip.includes("libs/kmip-client/src/client.ts"));
  t.true(m.groups?.ta.includes("libs/appraisal/src/appraise.ts"));
  t.false(m.groups?.ta.some((f) => f.startsWith("libs/kmip") || f.startsWith("libs/boot") || f.startsWith("libs/tss")));
  t.true(m.groups?.ta.includes("apps/tactl/src/ta_client.ts"));
  for (const g of ["host", "ta", "cluster", "status"]) t.true(m.groups?.[g].includes("apps/tactl/src/commands/workflow.ts"), `${g} loads workflow.ts`);
  t.true(m.groups?.kp.includes("apps/tactl/src/kp_client.ts") && m.groups?.kp.includes("apps/tactl/src/ta_client.ts"));
  t.false(
    m.groups?.kp.some((f) => f.startsWith("libs/")),
    "tactl kp loads no library",
  );
  for (const files of Object.values(m.groups ?? {})) for (const f of files) t.truthy(m.inputs[f], f);
});

test("a manifest is stale once an input changes its time or size or is gone, or when it is missing or not JSON", async (t) => {
  const d = await mkdtemp(path.join(os.tmpdir(), "tactl-manifest-"));
  try {
    await writeFile(path.join(d, "a.ts"), "a");
    await writeFile(path.join(d, "b.ts"), "b");
    const manifest = path.join(d, "manifest.json");
    await writeFile(manifest, JSON.stringify(manifestOf(d, ["a.ts", "b.ts"])));
    t.true(bundleIsFresh(d, manifest));
    // Per command group: a change outside the group's files leaves it fresh; an unknown word means the core ("").
    await writeFile(manifest, JSON.stringify({ ...manifestOf(d, ["a.ts", "b.ts"]), groups: { "": ["a.ts"], g: ["a.ts", "b.ts"] } }));
    await writeFile(path.join(d, "b.ts"), "b2");
    t.true(bundleIsFresh(d, manifest, "--help"));
    t.true(bundleIsFresh(d, manifest, "toString"), "only the manifest's own groups");
    t.false(bundleIsFresh(d, manifest, "g"));
    t.false(bundleIsFresh(d, manifest));
    await writeFile(manifest, JSON.stringify(manifestOf(d, ["a.ts", "b.ts"])));
    t.false(bundleIsFresh(d, manifest, "g"), "a manifest without groups is fresh for none");
    await utimes(path.join(d, "a.ts"), new Date(), new Date(Date.now() + 5000));
    t.false(bundleIsFresh(d, manifest), "a newer input");
    await writeFile(manifest, JSON.stringify(manifestOf(d, ["a.ts", "b.ts"])));
    t.true(bundleIsFresh(d, manifest));
    await writeFile(path.join(d, "b.ts"), "bb");
    t.false(bundleIsFresh(d, manifest), "an input of another size");
    await writeFile(manifest, JSON.stringify(manifestOf(d, ["a.ts", "b.ts"])));
    await rm(path.join(d, "b.ts"));
    t.false(bundleIsFresh(d, manifest), "an input gone");
    await writeFile(manifest, "{ not json");
    t.false(bundleIsFresh(d, manifest));
    await writeFile(manifest, JSON.stringify({ inputs: {} }));
    t.false(bundleIsFresh(d, manifest), "an empty manifest");
    t.false(bundleIsFresh(d, path.join(d, "missing.json")));
  } finally {
    await rm(d, { recursive: true, force: true });
  }
});

test.serial("the launcher runs the bundle that `npm run build` writes while it is fresh, and the sources with TACTL_FROM_SOURCE=1", async (t) => {
  await buildBundle(path.join(APP, "dist/bundle"));
  const hook = `data:text/javascript,import{registerHooks}from"node:module";registerHooks({load(u,c,n){if(u.startsWith("file:"))process.stderr.write("LOADED "+u+"\\n");return n(u,c)}})`;
  const loads = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ["--import", hook, path.join(APP, "src/launch.ts"), "--help"], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    t.is(r.status, 0, r.stderr);
    return [...r.stderr.matchAll(/^LOADED file:\/\/(.*)$/gm)].map((m) => path.relative(APP, m[1]));
  };
  const fromBundle = loads({});
  t.true(fromBundle.includes("dist/bundle/main.js"), fromBundle.join(" "));
  t.false(fromBundle.includes("src/main.ts"));
  const fromSource = loads({ TACTL_FROM_SOURCE: "1" });
  t.true(fromSource.includes("src/main.ts"), fromSource.join(" "));
  t.false(fromSource.some((f) => f.startsWith("dist/")));
});
