import test from "ava";
import fc from "fast-check";
import { TPM_ALG } from "@tessera/tpm2";
import { fixture, fixtureNames } from "./_fixtures_test.ts";
import { type DecodedEvent, decodeEvent } from "./decode_event.ts";
import { devicePathToText } from "./device_path_to_text.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { encodeEfiImageLoadEvent } from "./encode_efi_image_load_event.ts";
import { encodeEfiSignatureList } from "./encode_efi_signature_list.ts";
import { encodeEfiVariableData } from "./encode_efi_variable_data.ts";
import { encodeFilePathDevicePath } from "./encode_file_path_device_path.ts";
import { EV, eventTypeName } from "./event_type.ts";
import { parseEventLog } from "./parse_event_log.ts";
import type { EventLog, LogEvent } from "./types.ts";

const STRUCTURED: ReadonlyMap<number, DecodedEvent["kind"]> = new Map([
  [EV.EFI_VARIABLE_DRIVER_CONFIG, "efi-variable"],
  [EV.EFI_VARIABLE_BOOT, "efi-variable"],
  [EV.EFI_VARIABLE_AUTHORITY, "efi-variable"],
  [EV.EFI_BOOT_SERVICES_APPLICATION, "efi-image"],
  [EV.EFI_BOOT_SERVICES_DRIVER, "efi-image"],
  [EV.EFI_GPT_EVENT, "efi-gpt"],
  [EV.SEPARATOR, "separator"],
  [EV.EFI_ACTION, "text"],
  [EV.EFI_PLATFORM_FIRMWARE_BLOB, "firmware-blob"],
  [EV.EFI_HANDOFF_TABLES, "handoff-tables"],
]);

for (const name of fixtureNames()) {
  test(`decodeEvent never throws on ${name}, and structured events decode as their type says`, (t) => {
    const log = parseEventLog(fixture(name));
    for (const e of [log.header, ...log.events]) {
      const d = t.notThrows(() => decodeEvent(e, log)) as unknown as DecodedEvent;
      const want = STRUCTURED.get(e.type);
      if (want) t.is(decodeEvent(e, log).kind, want, `event ${e.index} (${eventTypeName(e.type)}): ${JSON.stringify((d as { reason?: string }).reason)}`);
    }
    if (log.format === "crypto-agile") t.like(decodeEvent(log.header, log), { kind: "spec-id", specId: log.specId });
  });
}

function find(log: EventLog, pred: (e: LogEvent, d: DecodedEvent) => boolean): [LogEvent, DecodedEvent] {
  for (const e of log.events) {
    const d = decodeEvent(e, log);
    if (pred(e, d)) return [e, d];
  }
  throw new Error("no such event");
}

test("spot checks: SecureBoot, PK/db signature lists, separators, boot application device path", (t) => {
  const log = parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin"));
  const [, sb] = find(log, (_, d) => d.kind === "efi-variable" && d.name === "SecureBoot");
  t.like(sb, { kind: "efi-variable", guid: EFI_GUID.GLOBAL_VARIABLE, name: "SecureBoot", bool: true, data: new Uint8Array([1]) });
  const [, db] = find(log, (_, d) => d.kind === "efi-variable" && d.name === "db");
  if (db.kind !== "efi-variable") return t.fail();
  t.is(db.guid, EFI_GUID.IMAGE_SECURITY_DATABASE);
  t.true(db.signatureLists!.length >= 2);
  t.true(db.signatureLists!.every((l) => l.typeName === "x509" && l.signatures[0].data[0] === 0x30));
  const [, dbx] = find(log, (_, d) => d.kind === "efi-variable" && d.name === "dbx");
  t.like(dbx, { kind: "efi-variable", signatureLists: [{ signatureType: EFI_GUID.CERT_SHA256, typeName: "sha256" }] });
  const [sepEvent, sep] = find(log, (e) => e.type === EV.SEPARATOR);
  t.is(sepEvent.pcr, 7);
  t.deepEqual(sep, { kind: "separator", value: 0, error: false });
  const [, app] = find(log, (e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
  t.like(app, {
    kind: "efi-image",
    devicePath: "PciRoot(0x0)/Pci(0x3,0x0)/Scsi(0x1,0x0)/HD(15,GPT,27872a8b-87fc-49c2-bf27-3afc4cf84586,0x2800,0x35000)/\\EFI\\BOOT\\BOOTX64.EFI",
  });
});

test("spot checks: GRUB command lines and shim's MokList strings (Ubuntu 21.04, Fedora CoreOS 36, RHEL 8)", (t) => {
  const ubuntu = parseEventLog(fixture("go-attestation_ubuntu_2104_shielded_vm_no_secure_boot_eventlog.bin"));
  const texts = (log: EventLog, pcr: number) =>
    log.events.filter((e) => e.type === EV.IPL && e.pcr === pcr).map((e) => (decodeEvent(e, log) as { text?: string }).text);
  t.true(
    texts(ubuntu, 8).includes("grub_cmd: linux /boot/vmlinuz-5.11.0-1006-gcp root=PARTUUID=6443a6ae-e5e9-4df7-9a06-d1329e50f33c ro console=ttyS0 panic=-1"),
  );
  t.deepEqual(find(ubuntu, (e) => e.type === EV.EFI_ACTION)[1], { kind: "text", text: "Calling EFI Application from Boot Option" });
  t.true(texts(ubuntu, 8).some((s) => s?.startsWith("kernel_cmdline: /boot/vmlinuz-5.11.0-1006-gcp root=PARTUUID=")));
  t.true(texts(ubuntu, 9).includes("(hd0,gpt15)/EFI/ubuntu/grub.cfg"));
  const coreos = parseEventLog(fixture("go-attestation_coreos_36_shielded_vm_no_secure_boot_eventlog.bin"));
  t.deepEqual(texts(coreos, 14), ["MokList", "MokListX", "MokListTrusted"]);
  t.true(texts(coreos, 9).includes("(hd0,gpt2)/EFI/fedora/grub.cfg"));
  const [, shim] = find(coreos, (e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
  t.regex(
    (shim as { devicePath: string }).devicePath,
    /NVMe\(0x1,00-00-00-00-00-00-00-00\)\/HD\(2,GPT,22b9d9d7-140b-473b-82e0-26ded9d03d28,0x1000,0x3F800\)\/\\EFI\\fedora\\shimx64\.efi$/,
  );
  const [, gpt] = find(coreos, (e) => e.type === EV.EFI_GPT_EVENT);
  t.like(gpt, { kind: "efi-gpt", diskGuid: "00000000-0000-4000-a000-000000000001" });
  t.deepEqual(
    (gpt as { partitions: { name: string; startingLba: bigint }[] }).partitions.map((p) => [p.name, p.startingLba]),
    [
      ["BIOS-BOOT", 2048n],
      ["EFI-SYSTEM", 4096n],
      ["boot", 264192n],
      ["root", 1050624n],
    ],
  );
  const [, order] = find(coreos, (_, d) => d.kind === "efi-variable" && d.name === "BootOrder");
  t.deepEqual((order as { bootOrder: number[] }).bootOrder, [2, 0, 1]);
  const [, boot2] = find(coreos, (_, d) => d.kind === "efi-variable" && d.name === "Boot0002");
  t.like(boot2, {
    loadOption: {
      attributes: 1,
      description: "Fedora",
      devicePath: "HD(2,GPT,22b9d9d7-140b-473b-82e0-26ded9d03d28,0x1000,0x3F800)/\\EFI\\fedora\\shimx64.efi",
    },
  });
  const [, ver] = find(coreos, (e) => e.type === EV.S_CRTM_VERSION);
  t.deepEqual(ver, { kind: "text", text: "GCE Virtual Firmware v1" });
  const [, sbat] = find(coreos, (_, d) => d.kind === "efi-variable" && d.name === "SbatLevel");
  t.is((sbat as { signature?: unknown }).signature, undefined);

  const rhel = parseEventLog(fixture("go-tpm-tools_rhel8-uefi.bin"));
  t.true(texts(rhel, 8).includes("grub_cmd set pager=1")); // Red Hat's grub writes no colon
  const [, shimCert] = find(rhel, (_, d) => d.kind === "efi-variable" && d.name === "Shim");
  t.like(shimCert, { guid: EFI_GUID.SHIM_LOCK, signature: undefined }); // a bare certificate, as shim < 15.3 logs it
});

test("spot checks: firmware blobs, handoff tables, StartupLocality, SP800-155 and tagged events", (t) => {
  const ebs = parseEventLog(fixture("go-attestation_ebs_event_missing_eventlog.bin"));
  t.deepEqual(decodeEvent(ebs.events[0]), { kind: "firmware-blob", base: 0xff6a1000n, length: 0x5ff000n });
  t.deepEqual(find(ebs, (e) => e.type === EV.POST_CODE)[1], { kind: "text", text: "ACPI DATA" });
  const gdc = parseEventLog(fixture("go-tpm-tools_gdc-host.bin"));
  t.like(find(gdc, (e) => e.type === EV.EFI_HANDOFF_TABLES)[1], { kind: "handoff-tables", tables: [{ guid: "f2fd1544-9794-4a2c-992e-e5bbcf20e394" }] });
  t.deepEqual(find(gdc, (e) => e.type === EV.NO_ACTION)[1], { kind: "startup-locality", locality: 3 });
  t.like(find(gdc, (e) => e.type === EV.EVENT_TAG)[1], { kind: "tagged" });
  const sp = parseEventLog(fixture("go-tpm-tools_eventlogwithsp800155.bin"));
  t.like(find(sp, (e) => e.type === EV.NO_ACTION)[1], { kind: "no-action", signature: "SP800-155 Event3" });
  const agile = parseEventLog(fixture("go-attestation_crypto_agile_eventlog.bin"));
  t.deepEqual(find(agile, (e) => e.type === EV.S_CRTM_CONTENTS)[1], { kind: "text", text: "Boot Guard Measured S-CRTM" });
  t.deepEqual(find(agile, (e) => e.type === EV.POST_CODE)[1], { kind: "firmware-blob", base: 0xffa20000n, length: 0x4e0000n });
});

test("data that does not decode as its type says is raw, with the reason", (t) => {
  const ev = (type: number, data: Uint8Array): LogEvent => ({
    index: 1,
    offset: 0,
    pcr: 7,
    type,
    digests: new Map([[TPM_ALG.SHA1, new Uint8Array(20)]]),
    data,
  });
  const v = encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([1]));
  const r = decodeEvent(ev(EV.EFI_VARIABLE_DRIVER_CONFIG, v.subarray(0, v.length - 1)));
  t.is(r.kind, "raw");
  t.regex((r as { reason: string }).reason, /^variableData: variableData needs 1 bytes, 0 remaining at byte 52 of the event data$/);
  t.deepEqual(decodeEvent(ev(EV.SEPARATOR, new Uint8Array(3))), { kind: "raw", reason: "a separator has 3 bytes, not 4" });
  t.deepEqual(decodeEvent(ev(EV.SEPARATOR, new Uint8Array([0xff, 0xff, 0xff, 0xff]))), { kind: "separator", value: 0xffffffff, error: true });
  t.like(decodeEvent(ev(EV.EFI_GPT_EVENT, new Uint8Array(10))), { kind: "raw" });
  t.deepEqual(decodeEvent(ev(EV.IPL, new Uint8Array([0xff, 0xfe, 0x00, 0x01]))), { kind: "raw", reason: "not text" });
});

test("the encoders produce what the decoder reads back", (t) => {
  const cert = fixtureCertificate();
  const db = encodeEfiSignatureList("x509", EFI_GUID.MICROSOFT, [cert]);
  const data = encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", db);
  const e: LogEvent = { index: 1, offset: 0, pcr: 7, type: EV.EFI_VARIABLE_DRIVER_CONFIG, digests: new Map(), data };
  t.like(decodeEvent(e), { kind: "efi-variable", name: "db", signatureLists: [{ typeName: "x509", signatures: [{ owner: EFI_GUID.MICROSOFT, data: cert }] }] });

  const path = encodeFilePathDevicePath("/EFI/BOOT/BOOTX64.EFI");
  t.is(devicePathToText(path), "\\EFI\\BOOT\\BOOTX64.EFI");
  t.is(Buffer.from(path.subarray(0, 4)).toString("hex"), "0404" + (4 + 2 * 21 + 2).toString(16).padStart(2, "0") + "00");
  t.is(Buffer.from(path.subarray(-4)).toString("hex"), "7fff0400");
  const img = encodeEfiImageLoadEvent({ location: 0x7000n, length: 0x1000n, devicePath: path });
  t.deepEqual(decodeEvent({ ...e, type: EV.EFI_BOOT_SERVICES_APPLICATION, data: img }), {
    kind: "efi-image",
    imageLocation: 0x7000n,
    imageLength: 0x1000n,
    linkTimeAddress: 0n,
    devicePath: "\\EFI\\BOOT\\BOOTX64.EFI",
    devicePathRaw: path,
  });
  const sha = encodeEfiSignatureList("sha256", EFI_GUID.MICROSOFT, [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]);
  t.is(sha.length, 28 + 2 * 48);
  t.throws(() => encodeEfiSignatureList("sha256", EFI_GUID.MICROSOFT, [new Uint8Array(31)]), { code: "EVENTLOG_ENCODE" } as never);
  t.throws(() => encodeEfiSignatureList("x509", EFI_GUID.MICROSOFT, [cert, cert.subarray(1)]), { message: /same size/ });
});

test("device paths that do not decode end with the reason, never throw (property)", (t) => {
  t.is(devicePathToText(new Uint8Array([4, 1, 3, 0])), "?(data has an invalid length -1 at byte 4)");
  t.is(devicePathToText(new Uint8Array([1, 1, 6, 0, 1, 2, 0x7f, 0xff, 4, 0])), "Pci(0x2,0x1)");
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => typeof devicePathToText(b) === "string"));
});

test("decodeEvent never throws on random data of any event type (property)", (t) => {
  const types = fc.constantFrom(...Object.values(EV), 0x12345678);
  fc.assert(
    fc.property(types, fc.uint8Array({ maxLength: 400 }), (type, data) => {
      decodeEvent({ index: 1, offset: 0, pcr: 0, type, digests: new Map(), data });
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

/** A real certificate: the first db entry of the sb_cert log. */
function fixtureCertificate(): Uint8Array {
  const log = parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin"));
  const [, db] = find(log, (_, d) => d.kind === "efi-variable" && d.name === "db");
  return (db as { signatureLists: { signatures: { data: Uint8Array }[] }[] }).signatureLists[0].signatures[0].data;
}
