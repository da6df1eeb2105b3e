#!/usr/bin/env node
/**
 * The Tessera demo (the README's main job): starts a fresh swtpm with a manufactured EK certificate,
 * then drives the public interface as an administrator would: a measured boot of the swtpm host (`tactl host
 * boot`, the firmware's part), TPM info, the EK and its certificate (checked against the swtpm CA), an AK
 * bound under the EK, a MakeCredential/ActivateCredential round trip, a quote with a fresh nonce verified by
 * Tessera and by tpm2_checkquote, the boot's event log verified against the quoted PCRs and appraised offline;
 * then the Trust Authority for real: attestd on its embedded defaults, administered with `tactl ta` (the swtpm's
 * EK CA trusted, the booted image accepted), the swtpm host attesting through PROTOCOL.md with nothing but
 * tpm2-tools, curl and jq (apps/attestd's host_protocol.sh), its EAR token checked against the JWKS, the host
 * green, and the same host refused (red) once its kernel is no longer accepted; and finally a key kept by kmipd
 * (the embedded KMIP server) created and used through `tactl kmip`.
 * Exits non-zero if any step does not give the expected result.
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { mkdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { kmipdClientArgs, spawnKmipd } from "@tessera/kmipd";
import { startSwtpm } from "@tessera/swtpm-testing";
import { startAttestd, startKmxd, verifyEarToken, type Service } from "./_services.ts";
import { openJweInTpm } from "./_host_keys.ts";
import { ROOT, step, tactl, tool } from "./_cli.ts";
import { runFleetDemo } from "./fleet.ts";
import { runDevVmDemo } from "./dev_vm.ts";

/** A host's whole side of PROTOCOL.md with nothing but tpm2-tools, curl and jq, as a third party would write it. */
const HOST_SCRIPT = path.join(ROOT, "apps/attestd/src/testdata/host_protocol.sh");

const work = await mkdtemp(path.join(os.tmpdir(), "tessera-demo-"));
// tactl keeps its attestd session under TESSERA_HOME: the demo's own, never the user's ~/.config/tessera.
process.env.TESSERA_HOME = path.join(work, "tactl-home");
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
  const kmipTls = path.join(work, "kmipd", "tls");
  const K = kmipdClientArgs(path.join(work, "kmipd"), kmipd.port);
  try {
    const id = JSON.parse(tactl(["kmip", "create", ...K, "--alg", "AES", "--length", "256", "--name", "vtpm-state-key", "--json"])).id as string;
    tactl(["kmip", "activate", id, ...K]);
    await writeFile(path.join(work, "secret.txt"), "vTPM state for an attested host");
    tactl(["kmip", "encrypt", id, ...K, "--in", path.join(work, "secret.txt"), "--out", path.join(work, "secret.enc")]);
    tactl(["kmip", "decrypt", id, ...K, "--in", path.join(work, "secret.enc"), "--out", path.join(work, "secret.out")]);
    if ((await readFile(path.join(work, "secret.out"), "utf8")) !== "vTPM state for an attested host")
      throw new Error("kmip decrypt did not give back the plaintext");
  } catch (err) {
    kmipd.proc.kill("SIGTERM");
    throw err;
  }

  step("The Trust Authority: attestd on its embedded defaults (SQLite, its own TLS CA, a first administrator)");
  const attestd = await startAttestd(path.join(work, "attestd"), path.join(work, "attestd.log"));
  let kmxd: Service | undefined;
  try {
    process.stdout.write(`${attestd.banner}\n`);
    const host = "swtpm-host.demo.test";
    /** The host's line in `tactl ta host list`. */
    const hostLine = (list: string): string => list.split("\n").find((l) => l.startsWith(`${host} `)) ?? "";

    step("The administrator signs in, trusts the swtpm's EK CA and accepts the booted image (attestd's defaults ask for the boot PCRs)");
    tactl(["ta", "login", "--server", attestd.url, "--ca", attestd.caFile, "--user", "admin", "--password-file", attestd.passwordFile]);
    await writeFile(path.join(work, "swtpm-ek-ca.pem"), sw.caCertsPem.join("\n"));
    tactl(["ta", "tpm-ca", "add", path.join(work, "swtpm-ek-ca.pem")]);
    tactl(["ta", "image", "add", "--from-log", path.join(work, "boot.log"), "--name", "demo-host", "--version", "1"]);

    /** The host's side (host_protocol.sh against the demo's swtpm): its answer, or the problem attestd sent. */
    const attestHost = (attempt: string, expectExit: number): Record<string, unknown> => {
      const dir = path.join(work, `host-${attempt}`);
      const env = { TPM2TOOLS_TCTI: sw.tcti, URL: attestd.url, CA: attestd.caFile, HOST: host, EK_ALG: "rsa", EK_NV: "0x01c00002" };
      const more = { AK_ALG: "rsa", AK_SCHEME: "rsassa", EVENT_LOG: path.join(work, "boot.log"), BINDING_KEY: "1" };
      process.stdout.write(
        `$ ${Object.entries({ ...env, ...more })
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")} \\\n    bash ${path.relative(ROOT, HOST_SCRIPT)}\n`,
      );
      mkdirSync(dir, { recursive: true });
      const r = spawnSync("bash", [HOST_SCRIPT], { cwd: dir, env: { ...process.env, ...env, ...more }, encoding: "utf8" });
      if (r.status !== expectExit) throw new Error(`host_protocol.sh exited ${r.status}, expected ${expectExit}:\n${r.stderr}${r.stdout}`);
      // A refusal is printed on stderr after the request that was refused ("POST … refused:").
      return JSON.parse(expectExit === 0 ? r.stdout : r.stderr.slice(r.stderr.indexOf("{"))) as Record<string, unknown>;
    };

    step("The swtpm host attests through PROTOCOL.md with only tpm2-tools, curl and jq: enroll, activate, challenge, quote");
    const answer = attestHost("green", 0) as { status?: string; token?: string };
    if (answer.status !== "affirming" || typeof answer.token !== "string") throw new Error(`attestd answered ${JSON.stringify(answer)}`);
    const claims = await verifyEarToken(answer.token, attestd);
    const tpmClaims = (claims["submods"] as Record<string, Record<string, unknown>> | undefined)?.["tpm"];
    const t = claims["tessera"] as { image?: { name: string; version: string }; secureBoot?: unknown } | undefined;
    const cnf = claims["cnf"] as { jwk?: { kid?: string } } | undefined;
    if (claims.sub !== host || tpmClaims?.["ear.status"] !== "affirming") throw new Error(`unexpected token claims ${JSON.stringify(claims)}`);
    process.stdout.write(
      `EAR token verified with jose against ${attestd.url}/.well-known/jwks.json:\n` +
        `  sub ${claims.sub}; ear.status ${String(tpmClaims["ear.status"])}; image ${t?.image ? `${t.image.name} ${t.image.version}` : "?"}; ` +
        `secureBoot ${JSON.stringify(t?.secureBoot)}; exp ${new Date((claims.exp ?? 0) * 1000).toISOString()}; cnf.jwk ${cnf?.jwk?.kid ?? "none"}\n`,
    );
    if (!/ green /.test(hostLine(tactl(["ta", "host", "list"])))) throw new Error(`${host} is not green`);

    step("The Key Provider Service: kmxd on its embedded defaults; a trusted key provider whose primary key stays in kmipd");
    tactl(["ta", "account", "add", "kmxd", "--group", "TrustedReaders", "--password-out", path.join(work, "kmxd.password")]);
    kmxd = await startKmxd(path.join(work, "kmxd"), path.join(work, "kmxd.log"), attestd, "kmxd", path.join(work, "kmxd.password"));
    process.stdout.write(`${kmxd.banner}\n`);
    const KP = ["--server", kmxd.url, "--ca", kmxd.caFile];
    const primary = JSON.parse(tactl(["kmip", "create", ...K, "--alg", "AES", "--length", "256", "--name", "demo-kp-primary", "--json"])).id as string;
    tactl(["kmip", "activate", primary, ...K]);
    tactl([
      "kp",
      "create",
      "demo-kp",
      "--kmip-server",
      `127.0.0.1:${kmipd.port}`,
      "--key-id",
      primary,
      "--cert",
      path.join(kmipTls, "client.pem"),
      "--key",
      path.join(kmipTls, "client-key.pem"),
      "--server-ca",
      path.join(kmipTls, "ca.pem"),
      ...KP,
    ]);
    tactl(["kp", "grant", "demo-kp", "--cluster", "default", ...KP]);

    step("The host asks kmxd for a data key with its token; the key comes back as a JWE that only its TPM can open");
    const hostKeys = (op: string, body: unknown, token: string): { status: number; body: Record<string, unknown> } => {
      const url = `${kmxd!.url}/api/v1/providers/demo-kp/${op}`;
      process.stdout.write(
        `$ curl --cacert ${path.relative(work, kmxd!.caFile)} -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '${JSON.stringify(body).slice(0, 60)}${JSON.stringify(body).length > 60 ? "…" : ""}' ${url}\n`,
      );
      const r = spawnSync(
        "curl",
        [
          "-sS",
          "--cacert",
          kmxd!.caFile,
          "-H",
          `Authorization: Bearer ${token}`,
          "-H",
          "Content-Type: application/json",
          "-w",
          "\n%{http_code}",
          "-d",
          JSON.stringify(body),
          url,
        ],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`curl exited ${r.status}: ${r.stderr}`);
      const cut = r.stdout.lastIndexOf("\n");
      return { status: Number(r.stdout.slice(cut + 1)), body: JSON.parse(r.stdout.slice(0, cut)) as Record<string, unknown> };
    };
    const created = hostKeys("data-keys", { bytes: 32 }, answer.token);
    if (created.status !== 201) throw new Error(`kmxd answered ${created.status} ${JSON.stringify(created.body)}`);
    const jwe = String(created.body["key"]);
    process.stdout.write(
      `kmxd: 201, wrapped (by kmipd, names provider and key version) ${String(created.body["wrapped"]).slice(0, 40)}…, key: a JWE of ${jwe.length} characters\n`,
    );
    const dataKey = await openJweInTpm(jwe, sw.tcti, path.join(work, "host-green", "bk.ctx"), work, (line) => process.stdout.write(line));
    const fingerprint = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex").slice(0, 16);
    process.stdout.write(`the host's TPM opened it: a ${dataKey.length}-byte data key (SHA-256 ${fingerprint(dataKey)}…; the key itself is never printed)\n`);
    const unwrapped = hostKeys("unwrap", { wrapped: created.body["wrapped"] }, answer.token);
    if (unwrapped.status !== 200) throw new Error(`kmxd answered ${unwrapped.status} ${JSON.stringify(unwrapped.body)}`);
    const again = await openJweInTpm(String(unwrapped.body["key"]), sw.tcti, path.join(work, "host-green", "bk.ctx"), work, (line) =>
      process.stdout.write(line),
    );
    if (fingerprint(again) !== fingerprint(dataKey)) throw new Error("the unwrapped key is not the data key");
    process.stdout.write(`unwrapped later from its wrapped form: the same key (SHA-256 ${fingerprint(again)}…)\n`);

    step("Tampered: the administrator accepts only a build with another kernel; the same host is refused and turns red");
    tactl(["ta", "image", "remove", "demo-host"]);
    tactl(["ta", "image", "add", "--manifest", path.join(work, "other-image.json"), "--name", "demo-host", "--version", "2"]);
    const refused = attestHost("red", 1) as { type?: string; status?: number; failures?: { check: string; detail: string }[] };
    const failures = refused.failures ?? [];
    process.stdout.write(`attestd refused: ${refused.status} ${String(refused.type).replace("urn:tessera:problem:", "")}\n`);
    for (const f of failures) process.stdout.write(`  ${f.check}: ${f.detail}\n`);
    if (refused.type !== "urn:tessera:problem:attestation-failed" || !failures.some((f) => f.check === "image-unknown"))
      throw new Error(`expected attestation-failed with image-unknown, got ${JSON.stringify(refused)}`);
    if (!/ red .*image-unknown/.test(hostLine(tactl(["ta", "host", "list"])))) throw new Error(`${host} is not red with image-unknown`);

    step("kmxd refuses the red host at once, although its earlier token has not expired");
    let denied = hostKeys("unwrap", { wrapped: created.body["wrapped"] }, answer.token);
    // attestd pushes the change to kmxd as an event; allow it a moment to arrive.
    for (let i = 0; i < 50 && denied.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      denied = hostKeys("unwrap", { wrapped: created.body["wrapped"] }, answer.token);
    }
    process.stdout.write(
      `kmxd refused: ${denied.status} ${String(denied.body["type"]).replace("urn:tessera:problem:", "")}: ${String(denied.body["detail"])}\n`,
    );
    if (denied.status !== 403 || denied.body["type"] !== "urn:tessera:problem:host-untrusted")
      throw new Error(`expected 403 host-untrusted, got ${denied.status} ${JSON.stringify(denied.body)}`);
    tactl(["kp", "audit", "--provider", "demo-kp", "--limit", "5", ...KP]);
  } catch (err) {
    process.stdout.write(`attestd's log:\n${await attestd.log()}`);
    if (kmxd) process.stdout.write(`kmxd's log:\n${await kmxd.log()}`);
    throw err;
  } finally {
    await kmxd?.stop();
    await attestd.stop();
    kmipd.proc.kill("SIGTERM");
  }

  await runFleetDemo(work);
  await runDevVmDemo(work);

  process.stdout.write(
    "\nDemo complete: host booted and measured, EK certified, AK bound, credential activated, quote and event log verified, host attested by attestd (green, then red when tampered), key kept and used through KMIP, a data key released by kmxd to the green host and opened in its TPM, refused once it was red; then a fleet of three hosts set up with the seven steps: two green with their keys, one red with the reason and no key until it rebooted with the accepted image; and a developer's Trust Authority from tactl dev up with a VM whose vTPM state, encrypted under a trusted provider's key, keeps the guest's secret.\n",
  );
} finally {
  await sw.stop();
  await rm(work, { recursive: true, force: true });
}
