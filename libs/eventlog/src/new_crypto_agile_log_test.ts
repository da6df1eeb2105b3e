import test from "ava";
import fc from "fast-check";
import { hash, TPM_ALG } from "@tessera/tpm2";
import { appendEvent } from "./append_event.ts";
import { decodeEvent } from "./decode_event.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { encodeEfiImageLoadEvent } from "./encode_efi_image_load_event.ts";
import { encodeEfiVariableData } from "./encode_efi_variable_data.ts";
import { encodeFilePathDevicePath } from "./encode_file_path_device_path.ts";
import { EventLogEncodeError } from "./errors.ts";
import { EV } from "./event_type.ts";
import { newCryptoAgileLog } from "./new_crypto_agile_log.ts";
import { parseEventLog } from "./parse_event_log.ts";
import { writeEventLog } from "./write_event_log.ts";

test("a new log is a Spec ID Event03 header: platform class 0, spec 2.0.0, uintnSize 2", (t) => {
  const log = newCryptoAgileLog([TPM_ALG.SHA1, TPM_ALG.SHA256]);
  const bytes = writeEventLog(log);
  t.is(
    Buffer.from(bytes).toString("hex"),
    "00000000" +
      "03000000" +
      "00".repeat(20) +
      "25000000" +
      Buffer.from("Spec ID Event03\0").toString("hex") +
      "00000000" +
      "00020002" +
      "02000000" +
      "04001400" +
      "0b002000" +
      "00",
  );
  const back = parseEventLog(bytes);
  t.deepEqual(back, log);
  t.like(decodeEvent(back.header, back), { kind: "spec-id", specId: { specVersion: { major: 2, minor: 0, errata: 0 }, uintnSize: 2 } });
  t.throws(() => newCryptoAgileLog([]), { instanceOf: EventLogEncodeError });
  t.throws(() => newCryptoAgileLog([TPM_ALG.SHA256, TPM_ALG.SHA256]), { instanceOf: EventLogEncodeError });
  t.throws(() => newCryptoAgileLog([TPM_ALG.RSA]), { instanceOf: EventLogEncodeError, message: /not a known hash algorithm/ });
});

test("newCryptoAgileLog + appendEvent + writeEventLog + parseEventLog round trip, with the offsets parse gives", (t) => {
  const log = newCryptoAgileLog([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384]);
  const action = new TextEncoder().encode("Calling EFI Application from Boot Option");
  const e1 = appendEvent(log, 4, EV.EFI_ACTION, action);
  t.deepEqual(e1.digests, new Map([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384].map((a) => [a, hash(a, action)])));
  appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([1])));
  const path = encodeFilePathDevicePath("\\EFI\\BOOT\\BOOTX64.EFI");
  const authenticode = new Map([[TPM_ALG.SHA256, new Uint8Array(32).fill(7)]]);
  appendEvent(log, 4, EV.EFI_BOOT_SERVICES_APPLICATION, encodeEfiImageLoadEvent({ location: 0x1000n, length: 0x2000n, devicePath: path }), authenticode);
  const nothing = appendEvent(log, 0, EV.NO_ACTION, new Uint8Array(5));
  t.deepEqual(
    [...nothing.digests.values()].map((d) => d.every((b) => b === 0)),
    [true, true, true],
  );
  const bytes = writeEventLog(log);
  const back = parseEventLog(bytes);
  t.deepEqual(back, log);
  t.deepEqual(writeEventLog(back), bytes);
  t.like(decodeEvent(back.events[2], back), { kind: "efi-image", devicePath: "\\EFI\\BOOT\\BOOTX64.EFI", imageLength: 0x2000n });
});

test("appendEvent refuses digests the log cannot hold", (t) => {
  const log = newCryptoAgileLog([TPM_ALG.SHA256]);
  t.throws(() => appendEvent(log, 4, EV.IPL, new Uint8Array(), new Map([[TPM_ALG.SHA1, new Uint8Array(20)]])), {
    instanceOf: EventLogEncodeError,
    message: /no bank 0x0004/,
  });
  t.throws(() => appendEvent(log, 4, EV.IPL, new Uint8Array(), new Map([[TPM_ALG.SHA256, new Uint8Array(20)]])), {
    instanceOf: EventLogEncodeError,
    message: /must be 32 bytes/,
  });
  t.throws(() => appendEvent(log, -1, EV.IPL, new Uint8Array()), { instanceOf: EventLogEncodeError });
  t.is(log.events.length, 0);
  // writeEventLog checks what was put in by hand, too.
  log.events.push({ index: 1, offset: 69, pcr: 0, type: EV.IPL, digests: new Map([[TPM_ALG.SHA256, new Uint8Array(31)]]), data: new Uint8Array() });
  const e = t.throws(() => writeEventLog(log), { instanceOf: EventLogEncodeError });
  t.is(e?.path, "events[1].digests[0].digest");
});

test("any sequence of appended events round-trips (property)", (t) => {
  const banks = fc.subarray([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512], { minLength: 1 });
  const event = fc.record({ pcr: fc.integer({ min: 0, max: 23 }), type: fc.constantFrom(...Object.values(EV)), data: fc.uint8Array({ maxLength: 64 }) });
  fc.assert(
    fc.property(banks, fc.array(event, { maxLength: 20 }), (algs, events) => {
      const log = newCryptoAgileLog(algs);
      for (const e of events) appendEvent(log, e.pcr, e.type, e.data);
      const bytes = writeEventLog(log);
      const back = parseEventLog(bytes);
      return Buffer.from(writeEventLog(back)).equals(Buffer.from(bytes)) && back.events.every((e, i) => e.offset === log.events[i].offset && e.index === i + 1);
    }),
    { numRuns: 200 },
  );
  t.pass();
});
