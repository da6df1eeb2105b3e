/**
 * tactl tpm against a real swtpm, cross-checked with tpm2-tools both ways: quotes, credentials, Names.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { readFile, writeFile, mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { toHex } from "@tessera/tpm2";
import { tactl } from "./_test_support.ts";

let sw: SwtpmInstance;
let dir: string;

test.before(async () => {
  sw = await startSwtpm();
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-test-"));
});

test.after.always(async () => {
  await sw?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Runs a tpm2-tools command; fails loudly when it is missing or fails. swtpm has no resource manager, so
 * tpm2-tools leaves its transient objects loaded (they live on in the .ctx files): flush them after each call.
 */
function tools(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000, env: { ...process.env, TPM2TOOLS_TCTI: sw.tcti } });
  if (r.error) throw new Error(`${cmd} could not run (install tpm2-tools): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  if (cmd !== "tpm2_flushcontext" && cmd !== "tpm2_getcap") {
    spawnSync("tpm2_flushcontext", ["-t"], { env: { ...process.env, TPM2TOOLS_TCTI: sw.tcti } });
  }
  return r.stdout;
}

function toolsStatus(cmd: string, ...args: string[]): number {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000, env: { ...process.env, TPM2TOOLS_TCTI: sw.tcti } });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  return r.status ?? -1;
}

const p = (...f: string[]) => path.join(dir, ...f);
const T = () => ["--tcti", sw.tcti];

test.serial("tpm info reports the swtpm's manufacturer and banks", async (t) => {
  const r = await tactl("tpm", "info", ...T());
  t.is(r.code, 0, r.err);
  const info = JSON.parse(r.out);
  t.is(info.manufacturer, "IBM");
  t.deepEqual(info.banks.find((b: { bank: string }) => b.bank === "sha256").pcrs.length, 24);
  const caps = tools("tpm2_getcap", "properties-fixed");
  t.regex(caps, /TPM2_PT_MANUFACTURER:\s*\n\s*raw: 0x49424D00/);
});

for (const alg of ["rsa", "ecc"] as const) {
  test.serial(`tpm ek (${alg}) writes ek.pub/ek.pem/ek-cert.der; the Name equals tpm2_readpublic's`, async (t) => {
    const r = await tactl("tpm", "ek", ...T(), "--alg", alg, "--out-dir", p(`ek-${alg}`));
    t.is(r.code, 0, r.err);
    const summary = JSON.parse(r.out);
    t.truthy(summary.certificate);
    tools("tpm2_createek", "-c", p(`ek-${alg}.ctx`), "-G", alg, "-u", p(`ek-${alg}-tools.pub`));
    tools("tpm2_readpublic", "-c", p(`ek-${alg}.ctx`), "-n", p(`ek-${alg}-tools.name`));
    t.is(toHex(new Uint8Array(await readFile(p(`ek-${alg}-tools.name`)))), summary.name);
    t.deepEqual(await readFile(p(`ek-${alg}`, "ek.pub")), await readFile(p(`ek-${alg}-tools.pub`)));
    // tpm2-tools reads our ek.pub as a TPM2B_PUBLIC and derives the same Name.
    const printed = tools("tpm2_print", "-t", "TPM2B_PUBLIC", p(`ek-${alg}`, "ek.pub"));
    t.regex(printed, /name-alg:\s*\n\s*value: sha256/);
  });
}

for (const alg of ["rsa", "ecc"] as const) {
  test.serial(`tpm ak create + quote (${alg}): our quote passes tpm2_checkquote and ours; tampered fails both`, async (t) => {
    const ak = p(`ak-${alg}`);
    const c = await tactl("tpm", "ak", "create", ...T(), "--alg", alg, "--out-dir", ak);
    t.is(c.code, 0, c.err);
    t.is((await stat(path.join(ak, "ak.priv"))).mode & 0o777, 0o600);
    const nonce = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const qd = p(`quote-${alg}`);
    const q = await tactl("tpm", "quote", ...T(), "--ak", ak, "--pcrs", "sha256:0,1,2,3,4,5,6,7,16", "--nonce", nonce, "--out-dir", qd);
    t.is(q.code, 0, q.err);
    // tactl flushes what it loads (EK, AK, policy sessions), even though swtpm has no resource manager.
    t.is((tools("tpm2_getcap", "handles-transient") + tools("tpm2_getcap", "handles-loaded-session")).trim(), "");
    const args = ["--ak", path.join(ak, "ak.pub"), "--msg", path.join(qd, "quote.msg"), "--sig", path.join(qd, "quote.sig"), "--nonce", nonce];
    const v = await tactl("tpm", "verify-quote", ...args, "--pcrs", path.join(qd, "pcrs.json"));
    t.is(v.code, 0, v.err);
    t.true(JSON.parse(v.out).pcrsChecked);
    tools("tpm2_checkquote", "-u", path.join(ak, "ak.pub"), "-m", path.join(qd, "quote.msg"), "-s", path.join(qd, "quote.sig"), "-q", nonce);

    // Tamper with one byte of the signed message: both verifiers reject it.
    const msg = new Uint8Array(await readFile(path.join(qd, "quote.msg")));
    msg[msg.length - 1] ^= 1;
    await writeFile(p(`tampered-${alg}.msg`), msg);
    const bad = await tactl(
      "tpm",
      "verify-quote",
      "--ak",
      path.join(ak, "ak.pub"),
      "--msg",
      p(`tampered-${alg}.msg`),
      "--sig",
      path.join(qd, "quote.sig"),
      "--nonce",
      nonce,
    );
    t.is(bad.code, 1);
    t.is(JSON.parse(bad.out).check, "TPM2_VERIFY_SIGNATURE");
    t.not(toolsStatus("tpm2_checkquote", "-u", path.join(ak, "ak.pub"), "-m", p(`tampered-${alg}.msg`), "-s", path.join(qd, "quote.sig"), "-q", nonce), 0);

    // Wrong nonce and wrong PCR values fail with the check named.
    const n = await tactl("tpm", "verify-quote", ...args.slice(0, -1), "00");
    t.is(JSON.parse(n.out).check, "TPM2_VERIFY_NONCE");
    const pcrs = JSON.parse(await readFile(path.join(qd, "pcrs.json"), "utf8"));
    pcrs.sha256["16"] = "11".repeat(32);
    await writeFile(p(`pcrs-${alg}-bad.json`), JSON.stringify(pcrs));
    const w = await tactl("tpm", "verify-quote", ...args, "--pcrs", p(`pcrs-${alg}-bad.json`));
    t.is(w.code, 1);
    t.is(JSON.parse(w.out).check, "TPM2_VERIFY_PCR_DIGEST");
  });
}

test.serial("a tpm2-tools quote (tpm2_createak + tpm2_quote) passes our verifier with tpm2_pcrread values; tampered fails", async (t) => {
  tools("tpm2_createek", "-c", p("tek.ctx"), "-G", "rsa", "-u", p("tek.pub"));
  tools(
    "tpm2_createak",
    "-C",
    p("tek.ctx"),
    "-c",
    p("tak.ctx"),
    "-G",
    "ecc",
    "-g",
    "sha256",
    "-s",
    "ecdsa",
    "-u",
    p("tak.pub"),
    "-r",
    p("tak.priv"),
    "-n",
    p("tak.name"),
  );
  const nonce = "0badc0ffee";
  tools("tpm2_quote", "-c", p("tak.ctx"), "-l", "sha256:0,1,2,3", "-q", nonce, "-m", p("tq.msg"), "-s", p("tq.sig"), "-g", "sha256");
  const yaml = tools("tpm2_pcrread", "sha256:0,1,2,3");
  await writeFile(p("tpcrs.yaml"), yaml);
  const ok = await tactl("tpm", "verify-quote", "--ak", p("tak.pub"), "--msg", p("tq.msg"), "--sig", p("tq.sig"), "--nonce", nonce, "--pcrs", p("tpcrs.yaml"));
  t.is(ok.code, 0, ok.err + ok.out);
  const v = JSON.parse(ok.out);
  t.is(v.akName, toHex(new Uint8Array(await readFile(p("tak.name")))));
  const sig = new Uint8Array(await readFile(p("tq.sig")));
  sig[sig.length - 1] ^= 0x55;
  await writeFile(p("tq-bad.sig"), sig);
  const bad = await tactl("tpm", "verify-quote", "--ak", p("tak.pub"), "--msg", p("tq.msg"), "--sig", p("tq-bad.sig"), "--nonce", nonce);
  t.is(bad.code, 1);
});

test.serial("our make-credential is accepted by tpm2_activatecredential; our Names equal tpm2_readpublic's", async (t) => {
  // An AK made by tpm2-tools; the credential made by tactl from tpm2-tools' ek.pub and ak.name.
  tools("tpm2_createek", "-c", p("cek.ctx"), "-G", "rsa", "-u", p("cek.pub"));
  tools("tpm2_createak", "-C", p("cek.ctx"), "-c", p("cak.ctx"), "-G", "rsa", "-u", p("cak.pub"), "-r", p("cak.priv"), "-n", p("cak.name"));
  const secret = "00112233445566778899aabbccddeeff";
  const m = await tactl("tpm", "make-credential", "--ek", p("cek.pub"), "--name", p("cak.name"), "--secret", secret, "--out", p("cred.bin"));
  t.is(m.code, 0, m.err);
  tools("tpm2_startauthsession", "--policy-session", "-S", p("session.ctx"));
  tools("tpm2_policysecret", "-S", p("session.ctx"), "-c", "e");
  tools("tpm2_activatecredential", "-c", p("cak.ctx"), "-C", p("cek.ctx"), "-i", p("cred.bin"), "-o", p("recovered.bin"), "-P", `session:${p("session.ctx")}`);
  tools("tpm2_flushcontext", p("session.ctx"));
  t.is(toHex(new Uint8Array(await readFile(p("recovered.bin")))), secret);

  // Our AK loaded by tpm2-tools under the EK: tpm2_readpublic gives the Name we wrote in ak.name.
  tools("tpm2_startauthsession", "--policy-session", "-S", p("s2.ctx"));
  tools("tpm2_policysecret", "-S", p("s2.ctx"), "-c", "e");
  tools("tpm2_load", "-C", p("cek.ctx"), "-u", p("ak-rsa", "ak.pub"), "-r", p("ak-rsa", "ak.priv"), "-c", p("ours.ctx"), "-P", `session:${p("s2.ctx")}`);
  tools("tpm2_flushcontext", p("s2.ctx"));
  tools("tpm2_readpublic", "-c", p("ours.ctx"), "-n", p("ours.name"));
  t.deepEqual(await readFile(p("ours.name")), await readFile(p("ak-rsa", "ak.name")));
});

for (const alg of ["rsa", "ecc"] as const) {
  test.serial(`tpm2_makecredential's file (${alg} EK) is accepted by our activate-credential`, async (t) => {
    const ak = p(`ak2-${alg}`);
    t.is((await tactl("tpm", "ak", "create", ...T(), "--alg", "rsa", "--ek-alg", alg, "--out-dir", ak)).code, 0);
    t.is((await tactl("tpm", "ek", ...T(), "--alg", alg, "--out-dir", p(`ek2-${alg}`))).code, 0);
    const secret = "cafebabe" + alg.charCodeAt(0).toString(16);
    await writeFile(p(`secret-${alg}.bin`), Buffer.from(secret, "hex"));
    const name = toHex(new Uint8Array(await readFile(path.join(ak, "ak.name"))));
    const r = spawnSync(
      "tpm2_makecredential",
      ["-T", "none", "-u", p(`ek2-${alg}`, "ek.pem"), "-G", alg, "-s", p(`secret-${alg}.bin`), "-n", name, "-o", p(`tcred-${alg}.bin`)],
      { encoding: "utf8" },
    );
    t.is(r.status, 0, r.stderr);
    const a = await tactl("tpm", "activate-credential", ...T(), "--ak", ak, "--in", p(`tcred-${alg}.bin`));
    t.is(a.code, 0, a.err);
    t.is(a.out.trim(), secret);
    // A credential for another Name does not activate.
    const r2 = spawnSync(
      "tpm2_makecredential",
      [
        "-T",
        "none",
        "-u",
        p(`ek2-${alg}`, "ek.pem"),
        "-G",
        alg,
        "-s",
        p(`secret-${alg}.bin`),
        "-n",
        "000b" + "11".repeat(32),
        "-o",
        p(`tcred-${alg}-other.bin`),
      ],
      { encoding: "utf8" },
    );
    t.is(r2.status, 0, r2.stderr);
    const bad = await tactl("tpm", "activate-credential", ...T(), "--ak", ak, "--in", p(`tcred-${alg}-other.bin`));
    t.is(bad.code, 3);
    t.regex(bad.err, /TPM_RC_INTEGRITY/);
  });
}

test.serial("no transient objects or sessions are left in the TPM after all of the above", async (t) => {
  const handles = tools("tpm2_getcap", "handles-transient") + tools("tpm2_getcap", "handles-loaded-session");
  t.is(handles.trim(), "");
});
