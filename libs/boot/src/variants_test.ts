/**
 * Variants booted on a real swtpm (restarted between boots, so PCRs start from reset): another kernel,
 * Secure Boot off, an extra boot application, and a log tampered with after the boot.
 */
import test from "ava";
import { checkEventDigests, comparePcrs, EV, parseEventLog, replay, secureBootState } from "@tessera/eventlog";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { pcrSelection, toHex, TPM_ALG, type PcrBanks } from "@tessera/tpm2";
import { Tpm } from "@tessera/tss";
import { bootHost, type BootHostOptions, type BootHostResult } from "./boot_host.ts";
import { defaultHostImage } from "./default_host_image.ts";
import { BootError } from "./errors.ts";
import { expectedPcrs } from "./expected_pcrs.ts";
import type { HostImage } from "./host_image.ts";
import { makeTestSecureBootPki } from "./make_test_secure_boot_pki.ts";
import { BOOT_PCRS } from "./measure.ts";
import { tamperLog } from "./variants.ts";

const BANKS = [TPM_ALG.SHA1, TPM_ALG.SHA256];
const OTHER = "5eed".repeat(16);

let sw: SwtpmInstance;
let tpm: Tpm | undefined;
let manifest: HostImage;
/** What the default manifest boots to: the golden values a verifier holds. */
let golden: PcrBanks;
let defaultBoot: { result: BootHostResult; pcrs: PcrBanks };

test.before(async () => {
  const [instance, pki] = await Promise.all([startSwtpm({ pcrBanks: ["sha1", "sha256"], eccP256Ek: false }), makeTestSecureBootPki()]);
  sw = instance;
  manifest = defaultHostImage({ pki });
  golden = expectedPcrs(manifest, BANKS);
  defaultBoot = await freshBoot();
});

test.after.always(async () => {
  await tpm?.close();
  await sw?.stop();
});

/** Restarts the swtpm (PCRs back to reset) and boots on it. */
async function freshBoot(options?: BootHostOptions): Promise<{ result: BootHostResult; pcrs: PcrBanks }> {
  if (tpm !== undefined) {
    await tpm.close();
    await sw.restart();
  }
  tpm = Tpm.open(sw.tcti);
  const result = await bootHost(tpm, manifest, options);
  const pcrs = await tpm.pcrRead(BANKS.map((b) => pcrSelection(b, [...BOOT_PCRS])));
  return { result, pcrs };
}

/** The PCRs (SHA-256 bank) whose values differ. */
function differing(a: PcrBanks, b: PcrBanks): number[] {
  const hex = (p: PcrBanks, pcr: number): string => toHex(p.get(TPM_ALG.SHA256)?.get(pcr) ?? new Uint8Array());
  return BOOT_PCRS.filter((pcr) => hex(a, pcr) !== hex(b, pcr));
}

/** Only some PCRs of a bank set. */
function only(p: PcrBanks, pcrs: number[]): PcrBanks {
  return new Map([...p].map(([bank, values]) => [bank, new Map([...values].filter(([pcr]) => pcrs.includes(pcr)))]));
}

test.serial("the default boot matches the golden PCRs", (t) => {
  t.true(comparePcrs(golden, defaultBoot.pcrs).ok);
  t.true(comparePcrs(replay(parseEventLog(defaultBoot.result.log)), defaultBoot.pcrs).ok);
});

test.serial("another kernel: PCRs 4 and 9 differ, and the comparison with the golden values names them", async (t) => {
  const { result, pcrs } = await freshBoot({ variant: { kind: "kernel", sha256: OTHER } });
  t.true(comparePcrs(replay(parseEventLog(result.log)), pcrs).ok, "its own log still replays");
  t.deepEqual(checkEventDigests(parseEventLog(result.log)), []);
  t.deepEqual(differing(golden, pcrs), [4, 9]);
  const all = comparePcrs(golden, pcrs);
  t.false(all.ok);
  t.is(all.firstMismatch?.pcr, 4, "the image event (PCR 4) comes first");
  const grub = comparePcrs(golden, only(pcrs, [8, 9]));
  t.is(grub.firstMismatch?.pcr, 9, "grub's read of the kernel file");
  const images = parseEventLog(result.log).events.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
  t.is(toHex(images[images.length - 1].digests.get(TPM_ALG.SHA256) ?? new Uint8Array()), OTHER);
});

test.serial("Secure Boot off: secureBootState says so, no authorities, and only PCR 7 differs", async (t) => {
  const { result, pcrs } = await freshBoot({ variant: { kind: "secure-boot-off" } });
  const log = parseEventLog(result.log);
  t.true(comparePcrs(replay(log), pcrs).ok);
  const sb = secureBootState(log);
  t.false(sb.enabled);
  t.is(sb.authorities.length, 0);
  t.deepEqual(differing(golden, pcrs), [7]);
  t.is(comparePcrs(golden, pcrs).firstMismatch?.pcr, 7);
});

test.serial("an extra boot application: one more EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4", async (t) => {
  const path = "\\EFI\\tools\\shellx64.efi";
  const { result, pcrs } = await freshBoot({ variant: { kind: "extra-application", path, sha256: OTHER } });
  const log = parseEventLog(result.log);
  t.true(comparePcrs(replay(log), pcrs).ok);
  const count = (l: typeof log): number => l.events.filter((e) => e.pcr === 4 && e.type === EV.EFI_BOOT_SERVICES_APPLICATION).length;
  t.is(count(log), count(parseEventLog(defaultBoot.result.log)) + 1);
  const extra = log.events.find((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION && toHex(e.digests.get(TPM_ALG.SHA256) ?? new Uint8Array()) === OTHER);
  t.is(extra?.pcr, 4);
  t.deepEqual(differing(golden, pcrs), [4]);
  t.is(comparePcrs(golden, pcrs).firstMismatch?.pcr, 4);
});

test.serial("a log edited after the boot, digests kept: the PCRs still replay, checkEventDigests reports the event", async (t) => {
  const clean = parseEventLog(defaultBoot.result.log);
  const secureBootVar = clean.events.find((e) => e.type === EV.EFI_VARIABLE_DRIVER_CONFIG);
  t.truthy(secureBootVar);
  const index = secureBootVar?.index ?? -1;
  const { result, pcrs } = await freshBoot({ variant: { kind: "tamper-log", eventIndex: index } });
  const log = parseEventLog(result.log);
  // The classic lie: the TPM measured SecureBoot=1, the log now says 0.
  t.false(secureBootState(log).enabled);
  t.true(comparePcrs(replay(log), pcrs).ok, "replay alone does not catch it: the digests were kept");
  const problems = checkEventDigests(log);
  t.deepEqual(
    problems.map((p) => `${p.index}/${p.pcr}/${p.type}/${p.bank}`),
    [`${index}/7/EV_EFI_VARIABLE_DRIVER_CONFIG/sha1`, `${index}/7/EV_EFI_VARIABLE_DRIVER_CONFIG/sha256`],
  );
  t.deepEqual(pcrs, defaultBoot.pcrs, "the TPM saw the true boot");
});

test.serial("a log edited and re-hashed: the digests check, but comparePcrs names the PCR", (t) => {
  const clean = parseEventLog(defaultBoot.result.log);
  const cmdline = clean.events.find((e) => e.pcr === 8 && new TextDecoder().decode(e.data).startsWith("kernel_cmdline: "));
  t.truthy(cmdline);
  const lie = new TextEncoder().encode(`kernel_cmdline: /vmlinuz-6.1.0-28-amd64 root=/dev/sda1 init=/bin/sh\0`);
  const tampered = parseEventLog(tamperLog(defaultBoot.result.log, cmdline?.index ?? -1, { data: lie, rehash: true }));
  t.deepEqual(checkEventDigests(tampered), [], "the new digests are hashes of the new data");
  const r = comparePcrs(replay(tampered), defaultBoot.pcrs);
  t.false(r.ok);
  t.is(r.firstMismatch?.pcr, 8);
  t.is(r.firstMismatch?.lastEvent, tampered.events.filter((e) => e.pcr === 8).at(-1)?.index);
});

test.serial("tamperLog refuses an event that does not exist", (t) => {
  const e = t.throws(() => tamperLog(defaultBoot.result.log, 10_000), { instanceOf: BootError });
  t.is(e?.code, "BOOT_LOG");
});
