/**
 * tactl eventlog show/verify on real machines' logs, and the whole swtpm flow: tactl host boot (measured boot),
 * then a quote, then the log verified against the quoted PCR values; edited logs and other PCRs are refused.
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki, withKernel } from "@tessera/boot";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { fixturesRoot } from "@tessera/fixtures";
import { tactl } from "./_test_support.ts";

const FIXTURES = fixturesRoot();

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-eventlog-"));
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("eventlog show --json: pcrs by bank with decimal indexes and lower-case hex, events, Secure Boot", async (t) => {
  const r = await tactl("eventlog", "show", path.join(FIXTURES, "eventlogs/go-attestation_sb_cert_eventlog.bin"), "--json");
  t.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  t.regex(Object.keys(j.pcrs.sha256)[0], /^\d+$/);
  t.regex(j.pcrs.sha256["7"], /^[0-9a-f]{64}$/);
  t.true(j.events.length > 10);
  t.is(j.secureBoot.enabled, true);
  const table = await tactl("eventlog", "show", path.join(FIXTURES, "eventlogs/tpm2-tools_event-arch-linux.bin"));
  t.regex(table.out, /EV_EFI_VARIABLE_DRIVER_CONFIG/);
  t.regex(table.out, /sha256:7 /);
});

test("eventlog verify: the Windows GCP log against its own PCRs (exit 0), and a changed PCR is named (exit 1)", async (t) => {
  const d = JSON.parse(readFileSync(path.join(FIXTURES, "attestations/go-attestation_windows_gcp_shielded_vm.json"), "utf8"));
  await writeFile(path.join(dir, "win.log"), Buffer.from(d.Log.Raw, "base64"));
  const pcrs: Record<string, Record<string, string>> = {};
  for (const p of d.Log.PCRs as { Index: number; Digest: string; DigestAlg: number }[]) {
    const bank = p.DigestAlg === 3 ? "sha1" : "sha256";
    (pcrs[bank] ??= {})[String(p.Index)] = Buffer.from(p.Digest, "base64").toString("hex");
  }
  await writeFile(path.join(dir, "win-pcrs.json"), JSON.stringify(pcrs));
  const ok = await tactl("eventlog", "verify", path.join(dir, "win.log"), "--pcrs", path.join(dir, "win-pcrs.json"));
  t.is(ok.code, 0, ok.err + ok.out);
  const bank = Object.keys(pcrs)[0];
  pcrs[bank]["4"] = "00".repeat(bank === "sha1" ? 20 : 32);
  await writeFile(path.join(dir, "win-bad.json"), JSON.stringify(pcrs));
  const bad = await tactl("eventlog", "verify", path.join(dir, "win.log"), "--pcrs", path.join(dir, "win-bad.json"));
  t.is(bad.code, 1);
  t.regex(bad.err, new RegExp(`PCR ${bank}:4 `));
  const garbage = await tactl("eventlog", "show", path.join(dir, "win-pcrs.json"));
  t.is(garbage.code, 2);
  t.regex(garbage.err, /win-pcrs\.json/);
});

test.serial("host boot on a swtpm, then quote, then eventlog verify against the quote; another kernel's log is refused", async (t) => {
  let sw: SwtpmInstance | undefined;
  try {
    sw = await startSwtpm();
    const pki = await makeTestSecureBootPki();
    const image = defaultHostImage({ pki });
    await writeFile(path.join(dir, "image.json"), JSON.stringify(image));
    const boot = await tactl("host", "boot", "--tcti", sw.tcti, "--image", path.join(dir, "image.json"), "--log-out", path.join(dir, "boot.log"));
    t.is(boot.code, 0, boot.err);
    const again = await tactl("host", "boot", "--tcti", sw.tcti, "--image", path.join(dir, "image.json"), "--log-out", path.join(dir, "boot2.log"));
    t.not(again.code, 0, "a second boot without a TPM reset is refused");
    t.is((await tactl("tpm", "ak", "create", "--tcti", sw.tcti, "--out-dir", path.join(dir, "ak"))).code, 0);
    const q = await tactl(
      "tpm",
      "quote",
      "--tcti",
      sw.tcti,
      "--ak",
      path.join(dir, "ak"),
      "--pcrs",
      "sha256:0,1,2,3,4,5,6,7,8,9",
      "--nonce",
      "c0ffee",
      "--out-dir",
      path.join(dir, "q"),
    );
    t.is(q.code, 0, q.err);
    const v = await tactl("eventlog", "verify", path.join(dir, "boot.log"), "--pcrs", path.join(dir, "q", "pcrs.json"));
    t.is(v.code, 0, v.err + v.out);
    const shown = JSON.parse((await tactl("eventlog", "show", path.join(dir, "boot.log"), "--json")).out);
    t.is(shown.secureBoot.enabled, true);
    t.deepEqual(shown.digestProblems, []);
    // The log of another kernel's boot does not match what this TPM quoted.
    const other = withKernel(image, "ab".repeat(32));
    await writeFile(path.join(dir, "other.json"), JSON.stringify(other));
    const sw2 = await startSwtpm();
    try {
      t.is((await tactl("host", "boot", "--tcti", sw2.tcti, "--image", path.join(dir, "other.json"), "--log-out", path.join(dir, "other.log"))).code, 0);
    } finally {
      await sw2.stop();
    }
    const mismatch = await tactl("eventlog", "verify", path.join(dir, "other.log"), "--pcrs", path.join(dir, "q", "pcrs.json"));
    t.is(mismatch.code, 1);
    t.regex(mismatch.err, /PCR sha256:\d+ replays to/);
    t.truthy(await readFile(path.join(dir, "boot.log")));
  } finally {
    await sw?.stop();
  }
});
