/**
 * The simulator and the host-image model agree: the image made from a manifest matches the image made from the
 * log that booting the manifest writes, and each variant differs at the component it changes.
 */
import test from "ava";
import { appendEvent, EV, newCryptoAgileLog, writeEventLog } from "@tessera/eventlog";
import { imageFromEventLog, imageFromManifest, matchImages } from "@tessera/host-image";
import { TPM_ALG } from "@tessera/tpm2";
import { defaultHostImage } from "./default_host_image.ts";
import type { HostImage } from "./host_image.ts";
import { makeTestSecureBootPki } from "./make_test_secure_boot_pki.ts";
import { bootEventDigest, measuredBootEvents } from "./measure.ts";
import { withExtraApplication, withKernel, withSecureBootOff } from "./variants.ts";

/** The log bootHost writes for `manifest` (same events and digests), without a TPM. */
function logOf(manifest: HostImage): Uint8Array {
  const banks = [TPM_ALG.SHA1, TPM_ALG.SHA256];
  const log = newCryptoAgileLog(banks);
  for (const e of measuredBootEvents(manifest)) {
    if (e.type === EV.NO_ACTION) continue;
    appendEvent(log, e.pcr, e.type, e.data, new Map(banks.map((alg) => [alg, bootEventDigest(e, alg)])));
  }
  return writeEventLog(log);
}

let manifest: HostImage;
test.before(async () => {
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
});

test("the manifest's image matches the log its boot writes", (t) => {
  const measured = imageFromEventLog(logOf(manifest), { name: "host", version: "?" });
  const image = imageFromManifest(manifest, { name: "debian" });
  t.is(image.version, manifest.version);
  const m = matchImages(measured, [image]);
  t.true(m.matched, JSON.stringify(m.matched ? "" : m.closest?.differences));
  t.is(measured.softwareVersion, manifest.softwareVersion);
  t.is(measured.bootChain.length, manifest.bootChain.length);
});

test("another kernel differs at the kernel image and grub's read of it", (t) => {
  const other = "5eed".repeat(16);
  const measured = imageFromEventLog(logOf(withKernel(manifest, other)), { name: "host", version: "?" });
  const m = matchImages(measured, [imageFromManifest(manifest)]);
  t.false(m.matched);
  if (m.matched) return;
  const kernel = manifest.bootChain[manifest.bootChain.length - 1];
  t.deepEqual(
    m.closest?.differences.map((d) => [d.component, d.expected, d.measured]),
    [
      [`bootChain[3] (kernel ${kernel.path})`, kernel.sha256, other],
      [`kernel (${kernel.path.replaceAll("\\", "/")})`, kernel.sha256, other],
    ],
  );
});

test("Secure Boot off and an extra boot application are differences too", (t) => {
  const off = matchImages(imageFromEventLog(logOf(withSecureBootOff(manifest)), { name: "h", version: "?" }), [imageFromManifest(manifest)]);
  t.false(off.matched);
  if (!off.matched) t.true(off.closest?.differences.some((d) => d.component === "secureBoot.enabled"));
  const extra = withExtraApplication(manifest, "\\EFI\\tools\\shellx64.efi", "ab".repeat(32));
  const m = matchImages(imageFromEventLog(logOf(extra), { name: "h", version: "?" }), [imageFromManifest(manifest)]);
  t.false(m.matched);
  if (!m.matched) t.is(m.closest?.differences[0].component, "bootChain[3] (\\EFI\\tools\\shellx64.efi)");
});
