import test from "ava";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fixturePath } from "@tessera/fixtures";
import { loadAllCommands, run } from "./cli.ts";
import { COMMAND_INDEX } from "./command_index.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");

function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  return run(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) }).then((code) => ({ code, out, err }));
}

test("npx tactl --help runs from the repository root on Node 24 and lists the tpm commands", (t) => {
  const r = spawnSync("npx", ["--no-install", "tactl", "--help"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  t.is(r.status, 0, r.stderr);
  for (const c of ["tpm info", "tpm ek", "tpm ak create", "tpm quote", "tpm verify-quote", "tpm make-credential", "tpm activate-credential"]) {
    t.true(r.stdout.includes(`tactl ${c}`), `missing ${c}`);
  }
});

test("unknown commands and options are usage errors (exit 2) that name the problem", async (t) => {
  const a = await capture(["tpm", "frobnicate"]);
  t.is(a.code, 2);
  t.regex(a.err, /unknown command "tpm frobnicate"/);
  const b = await capture(["tpm", "quote", "--tcti", "swtpm", "--bogus", "1"]);
  t.is(b.code, 2);
  t.regex(b.err, /bogus/);
  const c = await capture(["tpm", "verify-quote", "--ak", "x"]);
  t.is(c.code, 2);
  t.regex(c.err, /missing --msg, --sig, --nonce/);
});

test("per-command help", async (t) => {
  const r = await capture(["tpm", "make-credential", "--help"]);
  t.is(r.code, 0);
  t.regex(r.out, /--ek ek\.pub/);
  const g = await capture(["tpm", "--help"]);
  t.is(g.code, 0);
  t.regex(g.out, /tactl tpm quote/);
});

test("missing input files and bad hex are input errors naming the file or option", async (t) => {
  const r = await capture(["tpm", "verify-quote", "--ak", "/nonexistent/ak.pub", "--msg", "m", "--sig", "s", "--nonce", "00"]);
  t.is(r.code, 2);
  t.regex(r.err, /cannot read AK public key \/nonexistent\/ak\.pub: ENOENT/);
  const h = await capture(["tpm", "make-credential", "--ek", "/nonexistent", "--name", "n", "--secret", "zz", "--out", "o"]);
  t.is(h.code, 2);
});

test("a TPM that is not there is a transport error (exit 3) that names the TCTI", async (t) => {
  const r = await capture(["tpm", "info", "--tcti", "swtpm:host=127.0.0.1,port=1"]);
  t.is(r.code, 3);
  t.regex(r.err, /TSS_TPM_ABSENT.*swtpm:host=127\.0\.0\.1,port=1/);
  const d = await capture(["tpm", "info", "--tcti", "device:/nonexistent/tpmrm0"]);
  t.is(d.code, 3);
  t.regex(d.err, /TSS_TPM_ABSENT/);
  const bad = await capture(["tpm", "info", "--tcti", "carrier-pigeon:x"]);
  t.is(bad.code, 3);
  t.regex(bad.err, /TSS_TCTI_CONFIG/);
});

test("the command index lists exactly the command modules' commands and summaries, in order", async (t) => {
  const specs = await loadAllCommands();
  t.deepEqual(
    COMMAND_INDEX.map((c) => ({ path: c.path, summary: c.summary })),
    specs.map((c) => ({ path: c.path, summary: c.summary })),
  );
});

/** The repository files a whole `tactl argv…` process loads (through a module hook), relative to the root. */
function loadedFiles(argv: string[], env: Record<string, string> = {}): { status: number | null; files: string[] } {
  const hook = `data:text/javascript,import{registerHooks}from"node:module";registerHooks({load(u,c,n){if(u.startsWith("file:"))process.stderr.write("LOADED "+u+"\\n");return n(u,c)}})`;
  const r = spawnSync(process.execPath, ["--import", hook, path.join(ROOT, "apps/tactl/src/main.ts"), ...argv], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  const files = [...r.stderr.matchAll(/^LOADED file:\/\/(.*)$/gm)].map((m) => path.relative(ROOT, m[1]));
  return { status: r.status, files };
}

test("tactl --help and tactl <group> --help load no command module nor any library", (t) => {
  for (const argv of [["--help"], ["kmip", "--help"], ["tpm", "ak", "help"], ["nonsense"]]) {
    const { status, files } = loadedFiles(argv);
    t.is(status, argv[0] === "nonsense" ? 2 : 0);
    t.deepEqual(
      files.sort(),
      ["apps/tactl/src/cli.ts", "apps/tactl/src/command_index.ts", "apps/tactl/src/errors.ts", "apps/tactl/src/main.ts"],
      argv.join(" "),
    );
  }
});

test("tactl eventlog show loads neither the TSS nor the KMIP libraries", (t) => {
  const { status, files } = loadedFiles(["eventlog", "show", fixturePath("eventlogs/go-tpm-tools_gdc-host.bin")]);
  t.is(status, 0);
  t.true(files.includes("apps/tactl/src/commands/eventlog.ts"));
  t.deepEqual(
    files.filter((f) => /^libs\/(tss|kmip|kmip-client|boot)\/|commands\/(tpm|kmip|host)\.ts/.test(f)),
    [],
  );
});

test("tactl ta host list loads neither the TSS, KMIP nor boot libraries", (t) => {
  const { status, files } = loadedFiles(["ta", "host", "list"], { TESSERA_HOME: path.join(ROOT, "apps/tactl/no-such-tessera-home") });
  t.is(status, 1, "not logged in");
  t.true(files.includes("apps/tactl/src/commands/ta_admin.ts"));
  t.deepEqual(
    files.filter((f) => /^libs\/(tss|kmip|kmip-client|boot)\/|commands\/(tpm|kmip|host)\.ts/.test(f)),
    [],
  );
});
