#!/usr/bin/env node
/**
 * The Tessera demo (the README's main job): starts a fresh swtpm with a manufactured EK certificate,
 * then drives the public interface as an administrator would: a measured boot of the swtpm host (`tactl host
 * boot`, the firmware's part), TPM info, the EK and its certificate (checked against the swtpm CA), an AK
 * bound under the EK, a MakeCredential/ActivateCredential round trip, a quote with a fresh nonce verified by
 * Tessera and by tpm2_checkquote, the boot's event log verified against the quoted PCRs, and finally a key
 * kept by kmipd (the embedded KMIP server) created and used through `tactl kmip`.
 * Exits non-zero if any step fails.
 * @module
 */
import { spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { spawnKmipd } from "@tessera/kmipd";
import { startSwtpm } from "@tessera/swtpm-testing";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const TACTL = path.join(ROOT, "apps/tactl/src/main.ts");

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

function tactl(args: string[], expectExit = 0, quiet = false): string {
  process.stdout.write(`$ tactl ${args.join(" ")}\n`);
  const r = spawnSync(process.execPath, [TACTL, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (!quiet) process.stdout.write(r.stdout);
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

  step("Measured boot of the swtpm host: firmware, shim, grub and kernel measured into PCRs 0-9 and 14");
  const pki = await makeTestSecureBootPki();
  await writeFile(path.join(work, "host-image.json"), JSON.stringify(defaultHostImage({ pki }), null, 2));
  tactl(["host", "boot", ...T, "--image", path.join(work, "host-image.json"), "--log-out", path.join(work, "boot.log")]);

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
  tactl([
    "tpm",
    "make-credential",
    "--ek",
    path.join(work, "ek", "ek.pub"),
    "--name",
    path.join(work, "ak", "ak.name"),
    "--secret",
    secret,
    "--out",
    path.join(work, "cred.bin"),
  ]);
  const recovered = tactl(["tpm", "activate-credential", ...T, "--ak", path.join(work, "ak"), "--in", path.join(work, "cred.bin")]).trim();
  if (recovered !== secret) throw new Error(`activate-credential recovered ${recovered}, expected ${secret}`);

  step("A quote over the boot PCRs with a fresh nonce, verified");
  const nonce = randomBytes(20).toString("hex");
  const q = path.join(work, "quote");
  tactl(["tpm", "quote", ...T, "--ak", path.join(work, "ak"), "--pcrs", "sha256:0,1,2,3,4,5,6,7,8,9,14", "--nonce", nonce, "--out-dir", q]);
  tactl([
    "tpm",
    "verify-quote",
    "--ak",
    path.join(work, "ak", "ak.pub"),
    "--msg",
    path.join(q, "quote.msg"),
    "--sig",
    path.join(q, "quote.sig"),
    "--nonce",
    nonce,
    "--pcrs",
    path.join(q, "pcrs.json"),
  ]);

  step("The same quote checked by tpm2-tools");
  tool("tpm2_checkquote", ["-u", path.join(work, "ak", "ak.pub"), "-m", path.join(q, "quote.msg"), "-s", path.join(q, "quote.sig"), "-q", nonce]);

  step("A quote checked against a different nonce is rejected");
  tactl(
    ["tpm", "verify-quote", "--ak", path.join(work, "ak", "ak.pub"), "--msg", path.join(q, "quote.msg"), "--sig", path.join(q, "quote.sig"), "--nonce", "00"],
    1,
  );

  step("The boot's event log replays to exactly the quoted PCRs (why the PCRs hold what they hold)");
  const shown = JSON.parse(tactl(["eventlog", "show", path.join(work, "boot.log"), "--json"], 0, true));
  process.stdout.write(
    `${shown.events.length} events; Secure Boot ${shown.secureBoot.enabled ? "enabled" : "disabled"}; db certificates: ${shown.secureBoot.dbCertificates.map((c: { subject?: string }) => c.subject ?? "?").join("; ")}\n`,
  );
  tactl(["eventlog", "verify", path.join(work, "boot.log"), "--pcrs", path.join(q, "pcrs.json")]);

  step("The appraisal: quote, nonce, PCRs, log replay, Secure Boot and the accepted host image, all at once");
  const evidence = ["--ak", path.join(work, "ak", "ak.pub"), "--quote", path.join(q, "quote.msg"), "--sig", path.join(q, "quote.sig")];
  const rest = ["--log", path.join(work, "boot.log"), "--pcrs", path.join(q, "pcrs.json"), "--nonce", nonce, "--select", "sha256:0,1,2,3,4,5,6,7,8,9,14"];
  tactl(["ta", "appraise", ...evidence, ...rest, "--image", path.join(work, "host-image.json")]);

  step("The same evidence against an image with another kernel is refused, naming the component");
  const other = defaultHostImage({ pki, kernelRelease: "6.1.0-99-amd64" });
  await writeFile(path.join(work, "other-image.json"), JSON.stringify(other, null, 2));
  tactl(["ta", "appraise", ...evidence, ...rest, "--image", path.join(work, "other-image.json")], 1);

  step("A key kept by kmipd, the embedded KMIP server (mutual TLS, SQLite, keys wrapped at rest)");
  const kmipd = await spawnKmipd(["--listen", "127.0.0.1:0", "--data-dir", path.join(work, "kmipd"), "--log-level", "warn"]);
  try {
    const port = kmipd.port;
    const tls = path.join(work, "kmipd", "tls");
    const K = [
      "--server",
      `127.0.0.1:${port}`,
      "--cert",
      path.join(tls, "client.pem"),
      "--key",
      path.join(tls, "client-key.pem"),
      "--ca",
      path.join(tls, "ca.pem"),
    ];
    const id = JSON.parse(tactl(["kmip", "create", ...K, "--alg", "AES", "--length", "256", "--name", "vtpm-state-key", "--json"])).id as string;
    tactl(["kmip", "activate", id, ...K]);
    await writeFile(path.join(work, "secret.txt"), "vTPM state for an attested host");
    tactl(["kmip", "encrypt", id, ...K, "--in", path.join(work, "secret.txt"), "--out", path.join(work, "secret.enc")]);
    tactl(["kmip", "decrypt", id, ...K, "--in", path.join(work, "secret.enc"), "--out", path.join(work, "secret.out")]);
    if ((await readFile(path.join(work, "secret.out"), "utf8")) !== "vTPM state for an attested host")
      throw new Error("kmip decrypt did not give back the plaintext");
  } finally {
    kmipd.proc.kill("SIGTERM");
  }

  process.stdout.write(
    "\nDemo complete: host booted and measured, EK certified, AK bound, credential activated, quote and event log verified, key kept and used through KMIP.\n",
  );
} finally {
  await sw.stop();
  await rm(work, { recursive: true, force: true });
}
