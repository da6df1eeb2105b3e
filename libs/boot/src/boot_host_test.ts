/**
 * bootHost on a fresh swtpm (SHA-1 and SHA-256 banks): the log replays to exactly what the TPM holds, its
 * digests match its data, it records Secure Boot, tpm2-tools reads it to the same PCRs, and a second boot
 * without a TPM restart is refused.
 */
import test from "ava";
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { checkEventDigests, comparePcrs, EV, parseEventLog, replay, secureBootState } from "@tessera/eventlog";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { algName, pcrSelection, toHex, TPM_ALG, type PcrBanks } from "@tessera/tpm2";
import { Tpm } from "@tessera/tss";
import { bootHost, type BootHostResult } from "./boot_host.ts";
import { defaultHostImage } from "./default_host_image.ts";
import { BootError } from "./errors.ts";
import { expectedPcrs } from "./expected_pcrs.ts";
import type { HostImage } from "./host_image.ts";
import { makeTestSecureBootPki } from "./make_test_secure_boot_pki.ts";
import { BOOT_PCRS, measuredBootEvents } from "./measure.ts";

let sw: SwtpmInstance;
let tpm: Tpm;
let manifest: HostImage;
let boot: BootHostResult;
let tpmPcrs: PcrBanks;

const BANKS = [TPM_ALG.SHA1, TPM_ALG.SHA256];

test.before(async () => {
  const [instance, pki] = await Promise.all([startSwtpm({ pcrBanks: ["sha1", "sha256"], eccP256Ek: false }), makeTestSecureBootPki()]);
  sw = instance;
  tpm = Tpm.open(sw.tcti);
  manifest = defaultHostImage({ pki });
  boot = await bootHost(tpm, manifest);
  tpmPcrs = await tpm.pcrRead(BANKS.map((b) => pcrSelection(b, [...BOOT_PCRS])));
});

test.after.always(async () => {
  await tpm?.close();
  await sw?.stop();
});

test.serial("the log is crypto-agile with the TPM's active banks and every measured event", (t) => {
  t.deepEqual(boot.banks, BANKS);
  const log = parseEventLog(boot.log);
  t.is(log.format, "crypto-agile");
  t.deepEqual(
    log.specId?.algorithms.map((a) => a.alg),
    BANKS,
  );
  t.is(log.events.length, boot.events);
  t.is(boot.events, measuredBootEvents(manifest).length);
  for (const e of log.events) t.deepEqual([...e.digests.keys()], BANKS);
});

test.serial("the log replays to exactly the TPM's PCRs 0–9 and 14 in every bank", (t) => {
  const replayed = replay(parseEventLog(boot.log));
  const r = comparePcrs(replayed, tpmPcrs);
  t.true(r.ok, r.firstMismatch && `PCR ${algName(r.firstMismatch.bank)}:${r.firstMismatch.pcr}`);
  for (const bank of BANKS) {
    for (const pcr of BOOT_PCRS) {
      const v = tpmPcrs.get(bank)?.get(pcr);
      t.truthy(v);
      t.true(
        v?.some((b) => b !== 0),
        `${algName(bank)}:${pcr} was extended`,
      );
      t.deepEqual(replayed.get(bank)?.get(pcr), v);
    }
  }
  t.deepEqual(expectedPcrs(manifest, BANKS), tpmPcrs, "expectedPcrs predicts the TPM");
});

test.serial("every checked digest matches its data, and Secure Boot is recorded", (t) => {
  const log = parseEventLog(boot.log);
  t.deepEqual(checkEventDigests(log), []);
  const sb = secureBootState(log);
  t.true(sb.enabled);
  t.true(sb.pk);
  t.true(sb.kek);
  t.true(sb.db);
  t.true(sb.dbx);
  t.deepEqual(
    sb.dbCertificates.map((c) => c.sha256),
    manifest.secureBoot.db.map((pem) => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex")),
  );
  t.regex(sb.dbCertificates[0].subject ?? "", /CN=Tessera Test UEFI CA/);
  t.regex(sb.dbCertificates[1].subject ?? "", /CN=Tessera Test OS Signing CA/);
  t.is(sb.dbCertificates.length, 2);
  t.is(sb.authorities.length, 2);
  t.deepEqual(
    sb.authorities.map((a) => a.certificateSha256),
    sb.dbCertificates.map((c) => c.sha256),
  );
  t.is(log.events.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION).length, manifest.bootChain.length);
});

test.serial("tpm2_eventlog (tpm2-tools) parses the log and computes the TPM's PCR values", (t) => {
  const which = spawnSync("tpm2_eventlog", ["--version"], { encoding: "utf8" });
  if (which.error) {
    t.fail(`tpm2_eventlog is missing (install the Debian package tpm2-tools): ${which.error.message}`);
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "tessera-boot-"));
  try {
    const file = path.join(dir, "binary_bios_measurements");
    writeFileSync(file, boot.log);
    const r = spawnSync("tpm2_eventlog", [file], { encoding: "utf8", timeout: 20000 });
    t.is(r.status, 0, r.stderr);
    const out = r.stdout;
    t.regex(out, /EV_EFI_BOOT_SERVICES_APPLICATION/);
    t.regex(out, /UnicodeName: SecureBoot/);
    t.regex(out, /kernel_cmdline: /);
    // The pcrs: section: "  sha256:\n    0  : 0x…".
    const pcrs = out.slice(out.lastIndexOf("pcrs:"));
    for (const bank of BANKS) {
      const section = new RegExp(`^  ${algName(bank)}:\\n((?:    .*\\n?)+)`, "m").exec(pcrs);
      t.truthy(section, `no ${algName(bank)} section in:\n${pcrs}`);
      const values = new Map<number, string>();
      for (const m of (section?.[1] ?? "").matchAll(/^\s+(\d+)\s*:\s*0x([0-9a-fA-F]+)/gm)) values.set(Number(m[1]), m[2].toLowerCase());
      t.deepEqual(
        [...values.keys()].sort((a, b) => a - b),
        [...BOOT_PCRS],
      );
      for (const pcr of BOOT_PCRS) t.is(values.get(pcr), toHex(tpmPcrs.get(bank)?.get(pcr) ?? new Uint8Array()), `${algName(bank)}:${pcr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial("a second boot without a TPM restart is refused, unless forced (then the log no longer replays)", async (t) => {
  const e = await t.throwsAsync(bootHost(tpm, manifest), { instanceOf: BootError });
  t.is(e?.code, "BOOT_PCRS_NOT_RESET");
  t.regex(e?.message ?? "", /PCR sha1:0 is [0-9a-f]{40}, not its reset value/);
  t.deepEqual(await tpm.pcrRead(BANKS.map((b) => pcrSelection(b, [...BOOT_PCRS]))), tpmPcrs, "nothing was extended");

  const again = await bootHost(tpm, manifest, { allowNonResetPcrs: true });
  const now = await tpm.pcrRead(BANKS.map((b) => pcrSelection(b, [...BOOT_PCRS])));
  const r = comparePcrs(replay(parseEventLog(again.log)), now);
  t.false(r.ok);
  t.is(r.firstMismatch?.pcr, 0);
});

test.serial("a TPM with only the SHA-256 bank active gets a SHA-256-only log", async (t) => {
  const only256 = await startSwtpm({ eccP256Ek: false });
  const tpm256 = Tpm.open(only256.tcti);
  try {
    const r = await bootHost(tpm256, manifest);
    t.deepEqual(r.banks, [TPM_ALG.SHA256]);
    const log = parseEventLog(r.log);
    t.deepEqual(
      log.specId?.algorithms.map((a) => a.alg),
      [TPM_ALG.SHA256],
    );
    const pcrs = await tpm256.pcrRead([pcrSelection(TPM_ALG.SHA256, [...BOOT_PCRS])]);
    t.true(comparePcrs(replay(log), pcrs).ok);
    t.deepEqual(pcrs.get(TPM_ALG.SHA256), tpmPcrs.get(TPM_ALG.SHA256), "the SHA-256 bank does not depend on the other banks");
  } finally {
    await tpm256.close();
    await only256.stop();
  }
});
