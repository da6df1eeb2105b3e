/** Images from real event logs (go-attestation's Windows Shielded VM, tpm2-tools' GCE Ubuntu), their JSON, and matching. */
import test from "ava";
import { readFileSync } from "node:fs";
import { fixturePath } from "@tessera/fixtures";
import { HostImageError } from "./errors.ts";
import { parseImage, validateImage, type ImageModel } from "./image.ts";
import { imageFromEventLog } from "./image_from_event_log.ts";
import { matchImages } from "./match_images.ts";

const attestation = JSON.parse(readFileSync(fixturePath("attestations", "go-attestation_windows_gcp_shielded_vm.json"), "utf8")) as { Log: { Raw: string } };
const windowsLog = new Uint8Array(Buffer.from(attestation.Log.Raw, "base64"));
const ubuntuLog = new Uint8Array(readFileSync(fixturePath("eventlogs", "tpm2-tools_event-gce-ubuntu-2104-log.bin")));
const windows = imageFromEventLog(windowsLog, { name: "windows", version: "1" });
const ubuntu = imageFromEventLog(ubuntuLog, { name: "ubuntu", version: "21.04" });

test("the Windows Shielded VM log: bootmgfw verified by a db certificate, Secure Boot on with its databases", (t) => {
  t.is(windows.bootChain.length, 1);
  t.is(windows.bootChain[0].path, "\\EFI\\Microsoft\\Boot\\bootmgfw.efi");
  t.is(windows.bootChain[0].digests.sha1, "57a3e40bae6ae5ab1427c6aff22aa4f06e158ef4");
  t.true(windows.secureBoot.enabled);
  t.true(windows.secureBoot.db.includes(windows.bootChain[0].authority ?? "none"));
  t.is(windows.secureBoot.pk.length, 1);
  t.is(windows.secureBoot.dbx.length, 77);
});

test("the GCE Ubuntu log: shim, grub, the kernel grub read and its command line, Secure Boot off", (t) => {
  t.deepEqual(
    ubuntu.bootChain.map((b) => [b.kind, b.path]),
    [
      ["shim", "\\EFI\\ubuntu\\shimx64.efi"],
      ["bootloader", "\\EFI\\ubuntu\\grubx64.efi"],
    ],
  );
  t.is(ubuntu.kernel?.path, "/boot/vmlinuz-5.11.0-1008-gcp");
  t.regex(ubuntu.kernelCommandLine ?? "", /^\/boot\/vmlinuz-5\.11\.0-1008-gcp root=PARTUUID=/);
  t.false(ubuntu.secureBoot.enabled);
});

test("an image survives its JSON: validateImage(JSON) gives it back", (t) => {
  for (const image of [windows, ubuntu, imageFromEventLog(windowsLog, { name: "w", version: "2", firmwareModel: "gcp-shielded" })]) {
    t.deepEqual(parseImage(JSON.stringify(image)), image);
  }
});

test("a host matches the image made from its own log; another image differs at the boot chain; the closest is named", (t) => {
  const m = matchImages(windows, [ubuntu, windows]);
  t.true(m.matched);
  if (m.matched) t.is(m.image.name, "windows");
  const red = matchImages(windows, [ubuntu]);
  t.false(red.matched);
  if (red.matched) return;
  t.is(red.closest?.image.name, "ubuntu");
  const first = red.closest?.differences[0];
  t.is(first?.component, "bootChain[0] (boot-manager \\EFI\\Microsoft\\Boot\\bootmgfw.efi)");
  t.is(first?.detail, "path differs");
  t.true(red.closest?.differences.some((d) => d.component === "secureBoot.enabled"));
});

test("the closest image is the one with the fewest differences", (t) => {
  const otherKernel: ImageModel = { ...ubuntu, name: "ubuntu-next", kernel: { path: ubuntu.kernel?.path, digests: { sha256: "11".repeat(32) } } };
  const m = matchImages(ubuntu, [windows, otherKernel]);
  t.false(m.matched);
  if (m.matched) return;
  t.is(m.closest?.image.name, "ubuntu-next");
  t.deepEqual(m.closest?.differences, [
    {
      component: "kernel (/boot/vmlinuz-5.11.0-1008-gcp)",
      detail: "sha256 digest differs",
      bank: "sha256",
      expected: "11".repeat(32),
      measured: "38c6396eb70b84aef13f06384a37b7e7bfa77a14e3bde632a76c90acb65c1d97",
    },
  ]);
});

test("fail closed: no images, no match and no closest", (t) => {
  const m = matchImages(windows, []);
  t.false(m.matched);
  if (!m.matched) t.is(m.closest, undefined);
});

test("firmware is matched per hardware model only when the image records it", (t) => {
  const withFirmware = imageFromEventLog(windowsLog, { name: "w", version: "1", firmwareModel: "gcp" });
  t.false(matchImages(windows, [withFirmware]).matched);
  t.true(matchImages(withFirmware, [withFirmware]).matched);
  t.true(matchImages(withFirmware, [windows]).matched);
  const otherModel = imageFromEventLog(windowsLog, { name: "w", version: "1", firmwareModel: "azure" });
  const m = matchImages(otherModel, [withFirmware]);
  t.false(m.matched);
  if (!m.matched) t.is(m.closest?.differences[0].component, "firmware");
});

test("a bad image names the field", (t) => {
  const cases: [unknown, string][] = [
    [null, "image"],
    [{ ...windows, name: "" }, "image.name"],
    [{ ...windows, extra: 1 }, "image.extra"],
    [{ ...windows, bootChain: [{ digests: { sha256: "abcd" } }] }, "image.bootChain[0].digests.sha256"],
    [{ ...windows, bootChain: [{ digests: {} }] }, "image.bootChain[0].digests"],
    [{ ...windows, secureBoot: { ...windows.secureBoot, enabled: "yes" } }, "image.secureBoot.enabled"],
    [{ ...windows, secureBoot: { ...windows.secureBoot, db: ["zz"] } }, "image.secureBoot.db[0]"],
  ];
  for (const [value, field] of cases) {
    const e = t.throws(() => validateImage(value), { instanceOf: HostImageError });
    t.is(e?.code, "HOST_IMAGE_INVALID");
    t.is(e?.field, field);
  }
  t.is(t.throws(() => parseImage("{"), { instanceOf: HostImageError })?.field, "image");
});

test("a log that does not parse is HOST_IMAGE_LOG", (t) => {
  const e = t.throws(() => imageFromEventLog(Uint8Array.of(1, 2, 3), { name: "x", version: "1" }), { instanceOf: HostImageError });
  t.is(e?.code, "HOST_IMAGE_LOG");
});
