// Tests of the private little-endian schema engine (_codec.ts) and the structures declared with it.
import test from "ava";
import fc from "fast-check";
import { bytesOf, counted, countOf, DecodeFault, decode, encode, guid, guidBytes, lengthInt, listToEnd, struct, u16, u32, u64, u8, ucs2Of } from "./_codec.ts";
import { EFI_LOAD_OPTION, EFI_SIGNATURE_LIST, TCG_EfiSpecIdEvent, UEFI_GPT_DATA, UEFI_VARIABLE_DATA } from "./_structures.ts";
import { EventLogEncodeError } from "./errors.ts";

const SAMPLE = struct("SAMPLE", {
  a: u8,
  b: u16,
  c: u32,
  d: u64,
  id: guid,
  nameLength: countOf("name", lengthInt(64)),
  name: ucs2Of("name", "nameLength", 100),
  items: counted("items", u32, u16, 10),
  tailLength: countOf("tail", u8),
  tail: bytesOf("tail", "tailLength", 255),
});

/** The DecodeFault `f` throws (it is internal and deliberately not an Error, so t.throws does not apply). */
function fault(f: () => unknown): DecodeFault {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeFault) return e;
    throw e;
  }
  throw new Error("no DecodeFault was thrown");
}

test("integers are little-endian and GUIDs use the mixed-endian EFI layout", (t) => {
  const bytes = encode(SAMPLE, {
    a: 1,
    b: 0x0203,
    c: 0x04050607,
    d: 0x08090a0b0c0d0e0fn,
    id: "8be4df61-93ca-11d2-aa0d-00e098032b8c",
    name: "db",
    items: [0x1122],
    tail: new Uint8Array([9]),
  });
  t.is(
    Buffer.from(bytes).toString("hex"),
    "01" + "0302" + "07060504" + "0f0e0d0c0b0a0908" + "61dfe48bca93d211aa0d00e098032b8c" + "0200000000000000" + "64006200" + "01000000" + "2211" + "01" + "09",
  );
  const back = decode(SAMPLE, bytes);
  t.is(back.nameLength, 2);
  t.is(back.name, "db");
  t.is(back.id, "8be4df61-93ca-11d2-aa0d-00e098032b8c");
  t.is(back.d, 0x08090a0b0c0d0e0fn);
});

test("value → bytes → value and bytes → value → bytes (property)", (t) => {
  const value = fc.record({
    a: fc.integer({ min: 0, max: 255 }),
    b: fc.integer({ min: 0, max: 0xffff }),
    c: fc.integer({ min: 0, max: 0xffffffff }),
    d: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    id: fc.uuid(),
    name: fc.string({ maxLength: 20 }),
    items: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 }),
    tail: fc.uint8Array({ maxLength: 40 }),
  });
  fc.assert(
    fc.property(value, (v) => {
      const bytes = encode(SAMPLE, v);
      const back = decode(SAMPLE, bytes);
      return back.id === v.id.toLowerCase() && back.name === v.name && back.d === v.d && Buffer.from(encode(SAMPLE, back)).equals(Buffer.from(bytes));
    }),
  );
  t.pass();
});

test("decode faults name the field path, the offset and a code", (t) => {
  const bytes = encode(SAMPLE, { a: 1, b: 2, c: 3, d: 4n, id: "00000000-0000-0000-0000-000000000000", name: "x", items: [1, 2], tail: new Uint8Array(2) });
  const cut = bytes.subarray(0, 1 + 2 + 4 + 8 + 16 + 8 + 2 + 4 + 2);
  const e = fault(() => decode(SAMPLE, cut));
  t.true(e instanceof DecodeFault);
  t.is(e.field, "items[1]");
  t.is(e.code, "EVENTLOG_TRUNCATED");
  t.is(e.offset, cut.length);
  const tooMany = new Uint8Array(bytes);
  new DataView(tooMany.buffer).setUint32(1 + 2 + 4 + 8 + 16 + 8 + 2, 11, true);
  const o = fault(() => decode(SAMPLE, tooMany));
  t.is(o.code, "EVENTLOG_OVERSIZED");
  t.is(o.field, "items");
  t.regex(o.reason, /count 11 exceeds the maximum of 10/);
});

test("encode errors name the structure and field", (t) => {
  const e = t.throws(() => encode(SAMPLE, { a: 256, b: 0, c: 0, d: 0n, id: "x", name: "", items: [], tail: new Uint8Array() }), {
    instanceOf: EventLogEncodeError,
  });
  t.is(e?.path, "SAMPLE.a");
  t.throws(() => guidBytes("not-a-guid"), { instanceOf: EventLogEncodeError, message: /not a GUID/ });
});

test("listToEnd stops at the bound and at its maximum", (t) => {
  const L = listToEnd("L", u16, 3);
  t.deepEqual(decode(L, new Uint8Array([1, 0, 2, 0])), [1, 2]);
  t.is(fault(() => decode(L, new Uint8Array(8))).code, "EVENTLOG_OVERSIZED");
});

test("TCG_EfiSpecIdEvent matches the PFP layout (minor before major)", (t) => {
  const bytes = encode(TCG_EfiSpecIdEvent, {
    signature: "Spec ID Event03\0",
    platformClass: 0,
    specVersionMinor: 0,
    specVersionMajor: 2,
    specErrata: 0,
    uintnSize: 2,
    digestSizes: [
      { algorithmId: 4, digestSize: 20 },
      { algorithmId: 11, digestSize: 32 },
    ],
    vendorInfo: new Uint8Array(),
  });
  t.is(
    Buffer.from(bytes).toString("hex"),
    Buffer.from("Spec ID Event03\0").toString("hex") + "00000000" + "00020002" + "02000000" + "04001400" + "0b002000" + "00",
  );
});

test("UEFI_VARIABLE_DATA, EFI_LOAD_OPTION, EFI_SIGNATURE_LIST and UEFI_GPT_DATA code both ways", (t) => {
  const v = { variableName: "8be4df61-93ca-11d2-aa0d-00e098032b8c", unicodeName: "SecureBoot", variableData: new Uint8Array([1]) };
  const vb = encode(UEFI_VARIABLE_DATA, v);
  t.is(vb.length, 16 + 8 + 8 + 20 + 1);
  t.like(decode(UEFI_VARIABLE_DATA, vb), { unicodeNameLength: 10, variableDataLength: 1, unicodeName: "SecureBoot" });

  const lo = encode(EFI_LOAD_OPTION, {
    attributes: 1,
    description: "ubuntu",
    filePathList: new Uint8Array([0x7f, 0xff, 4, 0]),
    optionalData: new Uint8Array(),
  });
  t.like(decode(EFI_LOAD_OPTION, lo), { attributes: 1, description: "ubuntu", filePathListLength: 4 });

  const sl = {
    signatureType: "c1c41626-504c-4092-aca9-41f936934328",
    signatureListSize: 28 + 2 * 48,
    signatureHeaderSize: 0,
    signatureSize: 48,
    signatureHeader: new Uint8Array(),
    signatures: [
      { signatureOwner: "77fa9abd-0359-4d32-bd60-28f4e78f784b", signatureData: new Uint8Array(32).fill(1) },
      { signatureOwner: "77fa9abd-0359-4d32-bd60-28f4e78f784b", signatureData: new Uint8Array(32).fill(2) },
    ],
  };
  const slb = encode(EFI_SIGNATURE_LIST, sl);
  t.is(slb.length, 124);
  t.deepEqual(decode(EFI_SIGNATURE_LIST, slb).signatures[1].signatureData, new Uint8Array(32).fill(2));
  const bad = new Uint8Array(slb);
  new DataView(bad.buffer).setUint32(24, 47, true); // SignatureSize no longer divides the list
  t.regex(fault(() => decode(EFI_SIGNATURE_LIST, bad)).reason, /not a multiple of SignatureSize 47/);

  const header = {
    signature: "EFI PART",
    revision: 0x10000,
    headerSize: 92,
    headerCrc32: 0,
    reserved: 0,
    myLba: 1n,
    alternateLba: 2n,
    firstUsableLba: 34n,
    lastUsableLba: 100n,
    diskGuid: "11111111-2222-3333-4444-555555555555",
    partitionEntryLba: 2n,
    numberOfPartitionEntries: 128,
    sizeOfPartitionEntry: 128,
    partitionEntryArrayCrc32: 0,
  };
  const part = {
    partitionTypeGuid: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
    uniquePartitionGuid: "66666666-7777-8888-9999-aaaaaaaaaaaa",
    startingLba: 2048n,
    endingLba: 4095n,
    attributes: 0n,
    partitionName: "EFI System".padEnd(36, "\0"),
    reserved: new Uint8Array(),
  };
  const gpt = encode(UEFI_GPT_DATA, { uefiPartitionHeader: header, partitions: [part] });
  t.is(gpt.length, 92 + 8 + 128);
  t.is(decode(UEFI_GPT_DATA, gpt).partitions[0].startingLba, 2048n);
});
