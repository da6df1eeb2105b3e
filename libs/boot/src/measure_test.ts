/**
 * The events a boot measures, without a TPM: order and content as firmware, shim and grub make them, digest
 * conventions, and which PCRs each manifest change moves.
 */
import test from "ava";
import { createHash, X509Certificate } from "node:crypto";
import {
  appendEvent,
  checkEventDigests,
  decodeEvent,
  EFI_GUID,
  EV,
  explainEventDigests,
  newCryptoAgileLog,
  parseEventLog,
  replay,
  secureBootState,
  writeEventLog,
  type EventLog,
} from "@tessera/eventlog";
import { toHex, TPM_ALG, type PcrBanks } from "@tessera/tpm2";
import { defaultHostImage } from "./default_host_image.ts";
import { expectedPcrs } from "./expected_pcrs.ts";
import type { HostImage } from "./host_image.ts";
import { makeTestSecureBootPki } from "./make_test_secure_boot_pki.ts";
import { BOOT_PCRS, bootEventDigest, measuredBootEvents, SOFTWARE_VERSION_PCR, SOFTWARE_VERSION_PREFIX, type BootEvent } from "./measure.ts";
import { withExtraApplication, withKernel, withSecureBootOff } from "./variants.ts";

const BANKS = [TPM_ALG.SHA1, TPM_ALG.SHA256];
let manifest: HostImage;

test.before(async () => {
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
});

function sha256(b: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(b).digest());
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** The log bootHost would write for these events, parsed back. */
function logOf(events: BootEvent[]): EventLog {
  const log = newCryptoAgileLog(BANKS);
  for (const e of events) appendEvent(log, e.pcr, e.type, e.data, new Map(BANKS.map((b) => [b, bootEventDigest(e, b)])));
  return parseEventLog(writeEventLog(log));
}

/** The PCRs whose values differ between two sets of expected PCRs (SHA-256 bank). */
function differing(a: PcrBanks, b: PcrBanks): number[] {
  const x = a.get(TPM_ALG.SHA256);
  const y = b.get(TPM_ALG.SHA256);
  return BOOT_PCRS.filter((pcr) => toHex(x?.get(pcr) ?? new Uint8Array()) !== toHex(y?.get(pcr) ?? new Uint8Array()));
}

test("PCR 0 and PCR 7 hold what UEFI firmware measures, in the specification's order", (t) => {
  const events = measuredBootEvents(manifest);
  const log = logOf(events);
  const pcr0 = log.events.filter((e) => e.pcr === 0);
  t.deepEqual(
    pcr0.map((e) => e.type),
    [EV.S_CRTM_VERSION, EV.EFI_PLATFORM_FIRMWARE_BLOB2, EV.EFI_PLATFORM_FIRMWARE_BLOB2, EV.EFI_PLATFORM_FIRMWARE_BLOB2, EV.SEPARATOR],
  );
  t.is(Buffer.from(pcr0[0].data).toString("utf16le"), `${manifest.firmware.version}\0`);
  // The blob given by content is measured by its content.
  const content = Buffer.from(manifest.firmware.blobs[2].contentBase64 ?? "", "base64");
  t.deepEqual(pcr0[3].digests.get(TPM_ALG.SHA256), sha256(content));
  t.is(toHex(pcr0[1].digests.get(TPM_ALG.SHA256) ?? new Uint8Array()), manifest.firmware.blobs[0].sha256 ?? "");

  const config = log.events.filter((e) => e.type === EV.EFI_VARIABLE_DRIVER_CONFIG).map((e) => decodeEvent(e, log));
  t.deepEqual(
    config.map((d) => (d.kind === "efi-variable" ? `${d.guid}/${d.name}` : d.kind)),
    [
      `${EFI_GUID.GLOBAL_VARIABLE}/SecureBoot`,
      `${EFI_GUID.GLOBAL_VARIABLE}/PK`,
      `${EFI_GUID.GLOBAL_VARIABLE}/KEK`,
      `${EFI_GUID.IMAGE_SECURITY_DATABASE}/db`,
      `${EFI_GUID.IMAGE_SECURITY_DATABASE}/dbx`,
    ],
  );
  const pcr7 = log.events.filter((e) => e.pcr === 7).map((e) => e.type);
  t.deepEqual(pcr7.slice(0, 6), [...Array(5).fill(EV.EFI_VARIABLE_DRIVER_CONFIG), EV.SEPARATOR]);
  // One separator on each of PCRs 0–7, with the value 0.
  const seps = log.events.filter((e) => e.type === EV.SEPARATOR);
  t.deepEqual(seps.map((e) => e.pcr).sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  for (const s of seps) t.deepEqual([...s.data], [0, 0, 0, 0]);
});

test("Secure Boot state, db certificates and one authority per distinct signer", (t) => {
  const log = logOf(measuredBootEvents(manifest));
  const state = secureBootState(log);
  t.true(state.enabled);
  t.true(state.pk && state.kek && state.db && state.dbx);
  t.deepEqual(
    state.dbCertificates.map((c) => c.sha256),
    manifest.secureBoot.db.map((pem) => toHex(sha256(new X509Certificate(pem).raw))),
  );
  t.regex(state.dbCertificates[0].subject ?? "", /Tessera Test UEFI CA/);
  // boot manager and shim by the UEFI CA, grub and kernel by the OS CA: two authorities, before their first image.
  t.is(state.authorities.length, 2);
  t.deepEqual(
    state.authorities.map((a) => a.variable),
    ["db", "db"],
  );
  t.regex(state.authorities[0].subject ?? "", /Tessera Test UEFI CA/);
  t.regex(state.authorities[1].subject ?? "", /Tessera Test OS Signing CA/);
  const images = log.events.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
  t.is(state.authorities[0].forImage, images[0].index);
  t.is(state.authorities[1].forImage, images[2].index);

  const off = secureBootState(logOf(measuredBootEvents(withSecureBootOff(manifest))));
  t.false(off.enabled);
  t.is(off.authorities.length, 0);
});

test("PCR 1 and PCR 4: boot variables, the boot-option action and one image event per boot-chain image", (t) => {
  const log = logOf(measuredBootEvents(manifest));
  const boot = log.events.filter((e) => e.pcr === 1 && e.type === EV.EFI_VARIABLE_BOOT).map((e) => decodeEvent(e, log));
  t.deepEqual(
    boot.map((d) => (d.kind === "efi-variable" ? d.name : d.kind)),
    ["BootOrder", "Boot0001"],
  );
  const pcr4 = log.events.filter((e) => e.pcr === 4);
  t.is(pcr4[0].type, EV.EFI_ACTION);
  t.is(text(pcr4[0].data), "Calling EFI Application from Boot Option");
  t.is(pcr4[1].type, EV.SEPARATOR);
  const images = pcr4.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
  t.deepEqual(
    images.map((e) => toHex(e.digests.get(TPM_ALG.SHA256) ?? new Uint8Array())),
    manifest.bootChain.map((b) => b.sha256),
  );
  // SHA-1 bank: the manifest has SHA-256 digests only; SHA-1 measures SHA-1(sha256) in their place.
  t.deepEqual(images[0].digests.get(TPM_ALG.SHA1), new Uint8Array(createHash("sha1").update(Buffer.from(manifest.bootChain[0].sha256, "hex")).digest()));
  const paths = images.map((e) => {
    const d = decodeEvent(e, log);
    return d.kind === "efi-image" ? d.devicePath : d.kind;
  });
  t.deepEqual(
    paths,
    manifest.bootChain.map((b) => b.path),
  );
  const pcr5 = log.events.filter((e) => e.pcr === 5 && e.type === EV.EFI_ACTION).map((e) => text(e.data));
  t.deepEqual(pcr5, ["Exit Boot Services Invocation", "Exit Boot Services Returned with Success"]);
});

test("grub's PCR 8 strings and PCR 9 files follow grub's digest conventions", (t) => {
  const events = measuredBootEvents(manifest);
  const pcr8 = events.filter((e) => e.pcr === 8);
  const strings = pcr8.map((e) => text(e.data));
  const kernel = manifest.bootChain[3].path.replaceAll("\\", "/");
  const linux = `${kernel} ${manifest.kernelCommandLine}`;
  t.true(strings.includes(`grub_cmd: linux ${linux}\0`), strings.join("|"));
  t.true(strings.includes(`kernel_cmdline: ${linux}\0`));
  const cmd = pcr8.find((e) => text(e.data) === `grub_cmd: linux ${linux}\0`);
  t.deepEqual(cmd && bootEventDigest(cmd, TPM_ALG.SHA256), sha256(`linux ${linux}`), "grub hashes the command without prefix and NUL");
  const pcr9 = events.filter((e) => e.pcr === 9);
  t.deepEqual(
    pcr9.map((e) => text(e.data)),
    ["(hd0,gpt1)/EFI/tessera/grub.cfg\0", `${kernel}\0`, `${kernel.replace("vmlinuz", "initrd.img")}\0`],
  );
  t.is(toHex(bootEventDigest(pcr9[1], TPM_ALG.SHA256)), manifest.bootChain[3].sha256);
  t.is(toHex(bootEventDigest(pcr9[2], TPM_ALG.SHA256)), manifest.initrdSha256);
  // checkEventDigests knows grub's convention: every checked event passes, grub's commands as "grub-command".
  const log = logOf(events);
  t.deepEqual(checkEventDigests(log), []);
  const grub = explainEventDigests(log).filter((c) => c.pcr === 8);
  t.true(grub.length > 0 && grub.every((c) => c.ok && c.measured === "grub-command"));
});

test("the software version is a self-verifying EV_IPL string on PCR 14", (t) => {
  const events = measuredBootEvents(manifest).filter((e) => e.pcr === SOFTWARE_VERSION_PCR);
  t.is(events.length, 1);
  t.is(events[0].type, EV.IPL);
  t.is(text(events[0].data), `${SOFTWARE_VERSION_PREFIX}${manifest.softwareVersion}`);
  t.deepEqual(bootEventDigest(events[0], TPM_ALG.SHA256), sha256(events[0].data));
});

test("StartupLocality is optional and does not move PCR 0", (t) => {
  const events = measuredBootEvents(manifest, { logStartupLocality: true });
  t.is(events[0].type, EV.NO_ACTION);
  t.deepEqual(bootEventDigest(events[0], TPM_ALG.SHA256), new Uint8Array(32));
  const log = logOf(events);
  t.deepEqual(replay(log).get(TPM_ALG.SHA256)?.get(0), expectedPcrs(manifest).get(TPM_ALG.SHA256)?.get(0));
  t.deepEqual(expectedPcrs(manifest, BANKS, { logStartupLocality: true }), expectedPcrs(manifest, BANKS));
});

test("expectedPcrs is the replay of the log", (t) => {
  const log = logOf(measuredBootEvents(manifest));
  const replayed = replay(log);
  const expected = expectedPcrs(manifest, BANKS);
  for (const bank of BANKS) {
    for (const pcr of BOOT_PCRS) {
      t.deepEqual(replayed.get(bank)?.get(pcr) ?? new Uint8Array(bank === TPM_ALG.SHA1 ? 20 : 32), expected.get(bank)?.get(pcr), `${bank}:${pcr}`);
    }
  }
});

test("each manifest change moves the PCRs that measure it, and only those", (t) => {
  const base = expectedPcrs(manifest);
  const other = "ab".repeat(32);
  t.deepEqual(differing(base, expectedPcrs(withKernel(manifest, other))), [4, 9]);
  t.deepEqual(differing(base, expectedPcrs(withSecureBootOff(manifest))), [7]);
  t.deepEqual(differing(base, expectedPcrs(withExtraApplication(manifest, "\\EFI\\tools\\shellx64.efi", other))), [4]);
  t.deepEqual(differing(base, expectedPcrs(withExtraApplication(manifest, "\\EFI\\tools\\shellx64.efi", other, "Tessera Test OS Signing CA"))), [4]);
  t.deepEqual(differing(base, expectedPcrs({ ...manifest, softwareVersion: "tessera 1.0.1" })), [SOFTWARE_VERSION_PCR]);
  t.deepEqual(differing(base, expectedPcrs({ ...manifest, kernelCommandLine: "root=/dev/sda1 ro" })), [8, 9], "grub.cfg (PCR 9) holds the command line too");
  t.deepEqual(differing(base, expectedPcrs({ ...manifest, initrdSha256: other })), [9]);
  t.deepEqual(differing(base, expectedPcrs({ ...manifest, firmware: { ...manifest.firmware, version: "2.0" } })), [0]);
  t.deepEqual(differing(base, expectedPcrs({ ...manifest, secureBoot: { ...manifest.secureBoot, dbx: [] } })), [7]);
});
