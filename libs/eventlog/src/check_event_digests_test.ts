import test from "ava";
import { hash, TPM_ALG } from "@tessera/tpm2";
import { fixture, fixtureNames, windowsGcp } from "./_fixtures_test.ts";
import { appendEvent } from "./append_event.ts";
import { checkEventDigests, explainEventDigests } from "./check_event_digests.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { encodeEfiVariableData } from "./encode_efi_variable_data.ts";
import { EV } from "./event_type.ts";
import { newCryptoAgileLog } from "./new_crypto_agile_log.ts";
import { parseEventLog } from "./parse_event_log.ts";

test("no real log has an event whose digest does not match its data", (t) => {
  const forms = new Map<string, number>();
  for (const name of fixtureNames()) {
    const log = parseEventLog(fixture(name));
    t.deepEqual(checkEventDigests(log), [], name);
    for (const c of explainEventDigests(log)) forms.set(`${c.type} ${c.measured}`, (forms.get(`${c.type} ${c.measured}`) ?? 0) + 1);
  }
  t.deepEqual(checkEventDigests(parseEventLog(windowsGcp().raw)), []);
  // The forms the fixtures use, with the firmware and loader quirks they show.
  for (const f of [
    "EV_SEPARATOR event-data",
    "EV_EFI_VARIABLE_DRIVER_CONFIG event-data",
    "EV_EFI_VARIABLE_BOOT event-data",
    "EV_EFI_VARIABLE_BOOT variable-data", // OVMF/GCE measure only VariableData
    "EV_EFI_VARIABLE_AUTHORITY event-data",
    "EV_EFI_VARIABLE_AUTHORITY shim-extra-byte", // shim < 15.3 logs one byte more than it measures
    "EV_EFI_ACTION event-data",
    "EV_EFI_GPT_EVENT event-data",
    "EV_IPL grub-command", // upstream grub: the command after "grub_cmd: ", without NUL
    "EV_IPL grub-command-with-nul", // Red Hat's grub: after "grub_cmd ", with NUL
  ]) {
    t.true((forms.get(f) ?? 0) > 0, f);
  }
  t.log(JSON.stringify(Object.fromEntries(forms)));
});

test("an event whose data was changed is flagged in every bank, with the reason", (t) => {
  const log = parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin"));
  const sb = log.events.find((e) => e.type === EV.EFI_VARIABLE_DRIVER_CONFIG)!;
  sb.data = new Uint8Array(sb.data);
  sb.data[sb.data.length - 1] = 0; // SecureBoot = 0 while the digest says 1
  const sep = log.events.find((e) => e.type === EV.SEPARATOR)!;
  sep.data = new Uint8Array([1, 0, 0, 0]);
  t.deepEqual(checkEventDigests(log), [
    ...["sha1", "sha256", "sha384"].map((bank) => ({
      index: sb.index,
      pcr: 7,
      type: "EV_EFI_VARIABLE_DRIVER_CONFIG",
      bank,
      reason: `digest is not the ${bank} hash of the event-data`,
    })),
    ...["sha1", "sha256", "sha384"].map((bank) => ({
      index: sep.index,
      pcr: 7,
      type: "EV_SEPARATOR",
      bank,
      reason: `digest is not the ${bank} hash of the event-data`,
    })),
  ]);
});

test("grub strings: the NUL and the prefix are accepted either way; a changed command is not", (t) => {
  const log = newCryptoAgileLog([TPM_ALG.SHA256]);
  const enc = (s: string) => new TextEncoder().encode(s);
  const sha256 = (b: Uint8Array) => new Map([[TPM_ALG.SHA256, hash(TPM_ALG.SHA256, b)]]);
  appendEvent(log, 8, EV.IPL, enc("grub_cmd: linux /vmlinuz ro\0"), sha256(enc("linux /vmlinuz ro")));
  appendEvent(log, 8, EV.IPL, enc("grub_cmd: set x=1\0"), sha256(enc("grub_cmd: set x=1\0")));
  appendEvent(log, 8, EV.IPL, enc("grub_cmd: set y=1\0"), sha256(enc("grub_cmd: set y=1")));
  appendEvent(log, 8, EV.IPL, enc("grub_cmd set pager=1\0"), sha256(enc("set pager=1\0")));
  appendEvent(log, 8, EV.IPL, enc("kernel_cmdline: /vmlinuz ro\0"), sha256(enc("/vmlinuz ro quiet")));
  appendEvent(log, 9, EV.IPL, enc("(hd0,gpt1)/boot/grub/grub.cfg\0"), sha256(enc("file contents")));
  appendEvent(
    log,
    5,
    EV.EFI_VARIABLE_BOOT,
    encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "BootOrder", new Uint8Array([1, 0])),
    sha256(new Uint8Array([1, 0])),
  );
  t.deepEqual(
    explainEventDigests(log).map((c) => [c.index, c.ok, c.measured]),
    [
      [1, true, "grub-command"],
      [2, true, "event-data"],
      [3, true, "string-without-nul"],
      [4, true, "grub-command-with-nul"],
      [5, false, undefined],
      [7, true, "variable-data"],
    ],
  );
  t.deepEqual(
    checkEventDigests(log).map((p) => p.index),
    [5],
  );
});
