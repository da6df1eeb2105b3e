#!/usr/bin/env node
/**
 * The Tessera demo (the README's main job): starts a fresh swtpm with a manufactured EK certificate,
 * then drives the public interface, `tactl tpm …`, as an administrator would: TPM info, the EK and its
 * certificate (checked against the swtpm CA), an AK bound under the EK, a MakeCredential/ActivateCredential
 * round trip, a quote with a fresh nonce, and its verification, cross-checked with tpm2_checkquote.
 * Exits non-zero if any step fails.
 * @module
 */
import { spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startSwtpm } from "@tessera/swtpm-testing";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const TACTL = path.join(ROOT, "apps/tactl/src/main.ts");

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

function tactl(args: string[], expectExit = 0): string {
  process.stdout.write(`$ tactl ${args.join(" ")}\n`);
  const r = spawnSync(process.execPath, [TACTL, ...args], { encoding: "utf8" });
  process.stdout.write(r.stdout);
  if (r.stderr) process.stdout.write(r.stderr);
  if (r.status !== expectExit) throw new Error(`tactl ${args[0]} ${args[1]} exited ${r.status}, expected ${expectExit}`);
  return r.stdout;
}

function tool(cmd: string, args: string[]): string {
  process.stdout.write(`$ ${cmd} ${args.join(" ")}\n`);
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  process.stdout.write(r.stdout + r.stderr);
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}`);
  return r.stdout;
}

const work = await mkdtemp(path.join(os.tmpdir(), "tessera-demo-"));
step("Start a fresh swtpm with a manufactured EK and EK certificate");
const sw = await startSwtpm();
try {
  process.stdout.write(`swtpm at ${sw.tcti} (state in ${sw.stateDir})\n`);
  const T = ["--tcti", sw.tcti];

  step("What the TPM says about itself");
  tactl(["tpm", "info", ...T]);

  step("The endorsement key, recreated from the TCG template and matched to its certificate");
  tactl(["tpm", "ek", ...T, "--out-dir", path.join(work, "ek")]);
  const cert = new X509Certificate(await readFile(path.join(work, "ek", "ek-cert.der")));
  const chain = sw.caCertsPem.map((p) => new X509Certificate(p));
  const issuer = chain.find((c) => cert.checkIssued(c));
  if (!issuer || !cert.verify(issuer.publicKey)) throw new Error("the EK certificate is not signed by the swtpm CA");
  process.stdout.write(`EK certificate signed by: ${issuer.subject.replace(/\n/g, ", ")}\n`);

  step("An attestation key under the EK");
  tactl(["tpm", "ak", "create", ...T, "--alg", "rsa", "--out-dir", path.join(work, "ak")]);

  step("Credential activation: only this TPM, holding both EK and AK, recovers the secret");
  const secret = randomBytes(16).toString("hex");
  tactl(["tpm", "make-credential", "--ek", path.join(work, "ek", "ek.pub"), "--name", path.join(work, "ak", "ak.name"), "--secret", secret, "--out", path.join(work, "cred.bin")]);
  const recovered = tactl(["tpm", "activate-credential", ...T, "--ak", path.join(work, "ak"), "--in", path.join(work, "cred.bin")]).trim();
  if (recovered !== secret) throw new Error(`activate-credential recovered ${recovered}, expected ${secret}`);

  step("A quote over PCRs 0-7 with a fresh nonce, verified");
  const nonce = randomBytes(20).toString("hex");
  const q = path.join(work, "quote");
  tactl(["tpm", "quote", ...T, "--ak", path.join(work, "ak"), "--pcrs", "sha256:0,1,2,3,4,5,6,7", "--nonce", nonce, "--out-dir", q]);
  tactl(["tpm", "verify-quote", "--ak", path.join(work, "ak", "ak.pub"), "--msg", path.join(q, "quote.msg"), "--sig", path.join(q, "quote.sig"), "--nonce", nonce, "--pcrs", path.join(q, "pcrs.json")]);

  step("The same quote checked by tpm2-tools");
  tool("tpm2_checkquote", ["-u", path.join(work, "ak", "ak.pub"), "-m", path.join(q, "quote.msg"), "-s", path.join(q, "quote.sig"), "-q", nonce]);

  step("A quote checked against a different nonce is rejected");
  tactl(["tpm", "verify-quote", "--ak", path.join(work, "ak", "ak.pub"), "--msg", path.join(q, "quote.msg"), "--sig", path.join(q, "quote.sig"), "--nonce", "00"], 1);

  process.stdout.write("\nDemo complete: EK certified, AK bound, credential activated, quote verified.\n");
} finally {
  await sw.stop();
  await rm(work, { recursive: true, force: true });
}
