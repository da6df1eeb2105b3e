import test from "ava";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { run } from "./cli.ts";

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
