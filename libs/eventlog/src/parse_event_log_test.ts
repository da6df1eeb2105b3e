import test from "ava";
import fc from "fast-check";
import { TPM_ALG } from "@tessera/tpm2";
import { xorshift32 } from "@tessera/fixtures";
import { fixture, fixtureNames } from "./_fixtures_test.ts";
import { appendEvent } from "./append_event.ts";
import { checkEventDigests } from "./check_event_digests.ts";
import { decodeEvent } from "./decode_event.ts";
import { EventLogError } from "./errors.ts";
import { EV } from "./event_type.ts";
import { newCryptoAgileLog } from "./new_crypto_agile_log.ts";
import { parseEventLog } from "./parse_event_log.ts";
import { replay } from "./replay.ts";
import { secureBootState } from "./secure_boot_state.ts";
import { writeEventLog } from "./write_event_log.ts";

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

test("the fixture set is there", (t) => {
  t.true(fixtureNames().length >= 30, `only ${fixtureNames().length} logs in the fixture directory`);
});

for (const name of fixtureNames()) {
  test(`parses ${name} and writes it back byte for byte`, (t) => {
    const bytes = fixture(name);
    const log = parseEventLog(bytes);
    t.true(same(writeEventLog(log), bytes));
    const all = [log.header, ...log.events];
    all.forEach((e, i) => t.is(e.index, i));
    t.is(log.header.offset, 0);
    if (log.format === "crypto-agile") {
      t.is(log.header.type, EV.NO_ACTION);
      t.truthy(log.specId);
      for (const e of log.events) for (const [alg, d] of e.digests) t.is(d.length, log.specId!.algorithms.find((a) => a.alg === alg)!.digestSize);
    } else {
      t.is(log.specId, undefined);
      for (const e of log.events) t.deepEqual([...e.digests.keys()], [TPM_ALG.SHA1]);
    }
  });
}

test("formats and known shapes of particular fixtures", (t) => {
  const short = parseEventLog(fixture("go-attestation_short_no_action_eventlog.bin"));
  t.is(short.format, "sha1");
  t.is(short.events.length, 0);
  t.is(short.header.type, EV.NO_ACTION);
  t.like(decodeEvent(short.header), { kind: "startup-locality", locality: 3 });

  const rom = parseEventLog(fixture("go-attestation_option_rom_eventlog.bin"));
  t.is(rom.format, "sha1");
  t.true(rom.events.some((e) => e.type === EV.EFI_BOOT_SERVICES_DRIVER));

  const agile = parseEventLog(fixture("tpm2-tools_event-uefivar.bin"));
  t.is(agile.format, "crypto-agile");
  t.deepEqual(agile.specId, {
    platformClass: 0,
    specVersion: { major: 2, minor: 0, errata: 0 },
    uintnSize: 2,
    algorithms: [
      { alg: TPM_ALG.SHA1, digestSize: 20 },
      { alg: TPM_ALG.SHA256, digestSize: 32 },
      { alg: TPM_ALG.SHA384, digestSize: 48 },
      { alg: TPM_ALG.SHA512, digestSize: 64 },
    ],
    vendorInfo: new Uint8Array(),
  });
  // The header declares four banks but the event carries two digests: that is allowed.
  t.deepEqual([...agile.events[0].digests.keys()], [TPM_ALG.SHA1, TPM_ALG.SHA256]);
  t.is(agile.events[0].offset, 32 + 45);
});

function agileLog(): Uint8Array {
  const log = newCryptoAgileLog([TPM_ALG.SHA1, TPM_ALG.SHA256]);
  appendEvent(log, 4, EV.EFI_ACTION, new TextEncoder().encode("Calling EFI Application from Boot Option"));
  appendEvent(log, 7, EV.SEPARATOR, new Uint8Array(4));
  return writeEventLog(log);
}

function expectError(
  t: { throws: (fn: () => unknown, exp: { instanceOf: typeof EventLogError }) => EventLogError | undefined },
  fn: () => unknown,
): EventLogError {
  return t.throws(fn, { instanceOf: EventLogError })!;
}

test("errors: empty, truncated, oversized and malformed logs say what, where and in which event", (t) => {
  const empty = expectError(t, () => parseEventLog(new Uint8Array()));
  t.like(empty, { code: "EVENTLOG_TRUNCATED", offset: 0, eventIndex: 0 });

  const good = agileLog();
  const e1 = 32 + 37; // the first event after a two-bank Spec ID event
  const cut = expectError(t, () => parseEventLog(good.subarray(0, e1 + 8 + 4 + 2 + 10)));
  t.like(cut, { code: "EVENTLOG_TRUNCATED", eventIndex: 1, structure: "TCG_PCR_EVENT2", field: "digests[0].digest", offset: e1 + 14 });
  t.is(cut.message, `Cannot decode TCG_PCR_EVENT2.digests[0].digest at byte ${e1 + 14} (event 1): BYTE[20] needs 20 bytes, 10 remaining`);

  const big = new Uint8Array(good);
  const sizeAt = e1 + 8 + 4 + 22 + 34;
  new DataView(big.buffer).setUint32(sizeAt, 0xfffffff0, true);
  t.like(
    expectError(t, () => parseEventLog(big)),
    { code: "EVENTLOG_OVERSIZED", eventIndex: 1, field: "event", offset: sizeAt },
  );
  t.like(
    expectError(t, () => parseEventLog(good, { maxEventSize: 38 })),
    { code: "EVENTLOG_OVERSIZED", eventIndex: 1 },
  );
  t.like(
    expectError(t, () => parseEventLog(good, { maxEvents: 2 })),
    { code: "EVENTLOG_OVERSIZED", eventIndex: 2 },
  );
  new DataView(big.buffer).setUint32(sizeAt, 1000, true);
  t.like(
    expectError(t, () => parseEventLog(big)),
    { code: "EVENTLOG_TRUNCATED", eventIndex: 1, field: "event" },
  );

  const unknownAlg = new Uint8Array(good);
  new DataView(unknownAlg.buffer).setUint16(e1 + 12, 0x0099, true);
  const u = expectError(t, () => parseEventLog(unknownAlg));
  t.like(u, { code: "EVENTLOG_MALFORMED", eventIndex: 1, field: "digests[0].digest" });
  t.regex(u.message, /algorithm 0x0099 is not in the Spec ID event/);

  const dup = new Uint8Array(e1 + 12 + 44 + 4);
  dup.set(good.subarray(0, e1));
  const dv = new DataView(dup.buffer);
  dv.setUint32(e1 + 4, EV.SEPARATOR, true);
  dv.setUint32(e1 + 8, 2, true);
  dv.setUint16(e1 + 12, TPM_ALG.SHA1, true);
  dv.setUint16(e1 + 34, TPM_ALG.SHA1, true);
  const d = expectError(t, () => parseEventLog(dup));
  t.like(d, { code: "EVENTLOG_MALFORMED", eventIndex: 1, field: "digests", offset: e1 + 8 });
  t.regex(d.message, /algorithm 0x0004 appears twice/);

  const count = new Uint8Array(good);
  new DataView(count.buffer).setUint32(e1 + 8, 3, true);
  t.like(
    expectError(t, () => parseEventLog(count)),
    { code: "EVENTLOG_MALFORMED", eventIndex: 1, field: "digests" },
  );

  const badSize = new Uint8Array(good);
  new DataView(badSize.buffer).setUint16(32 + 28 + 4 + 2, 33, true); // SHA-256 declared as 33 bytes
  const s = expectError(t, () => parseEventLog(badSize));
  t.like(s, { code: "EVENTLOG_MALFORMED", eventIndex: 0, structure: "TCG_EfiSpecIdEvent", offset: 32 + 32 });
  t.regex(s.message, /digest size 33, not 32/);

  const shortSpec = new Uint8Array(32 + 20);
  shortSpec.set(good.subarray(0, 32 + 20));
  new DataView(shortSpec.buffer).setUint32(28, 20, true); // a complete header event whose Spec ID data stops early
  t.like(
    expectError(t, () => parseEventLog(shortSpec)),
    { code: "EVENTLOG_MALFORMED", eventIndex: 0, structure: "TCG_EfiSpecIdEvent", field: "specVersionMinor", offset: 32 + 20 },
  );
});

test("digests of algorithms the library does not know are skipped by the size the header gives", (t) => {
  const log = newCryptoAgileLog([TPM_ALG.SHA256]);
  log.specId!.algorithms.push({ alg: 0x0099, digestSize: 7 });
  // Rebuild the header data for the extended Spec ID (as a firmware with a vendor hash would write it).
  const fresh = newCryptoAgileLog([TPM_ALG.SHA256, TPM_ALG.SHA1]);
  const data = new Uint8Array(fresh.header.data);
  new DataView(data.buffer).setUint16(28 + 4, 0x0099, true);
  new DataView(data.buffer).setUint16(28 + 6, 7, true);
  log.header.data = data;
  appendEvent(
    log,
    7,
    EV.SEPARATOR,
    new Uint8Array(4),
    new Map([
      [TPM_ALG.SHA256, new Uint8Array(32).fill(5)],
      [0x0099, new Uint8Array(7).fill(9)],
    ]),
  );
  const bytes = writeEventLog(log);
  const back = parseEventLog(bytes);
  t.deepEqual(back.specId!.algorithms, [
    { alg: TPM_ALG.SHA256, digestSize: 32 },
    { alg: 0x0099, digestSize: 7 },
  ]);
  t.deepEqual(back.events[0].digests.get(0x0099), new Uint8Array(7).fill(9));
  t.deepEqual([...replay(back).keys()], [TPM_ALG.SHA256]);
  t.true(same(writeEventLog(back), bytes));
});

function mustBeEventLogError(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof EventLogError) return true;
    throw e;
  }
}

const REAL = [
  "tpm2-tools_event-uefi-sha1-log.bin",
  "go-attestation_sb_cert_eventlog.bin",
  "tpm2-tools_event-sd-boot-fedora37.bin",
  "go-tpm-tools_arch-linux-workstation.bin",
].map(fixture);

test("random bytes parse or throw EventLogError, never anything else (property)", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => mustBeEventLogError(() => parseEventLog(b))),
    { numRuns: 500 },
  );
  const header = agileLog().subarray(0, 69);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
      const x = new Uint8Array(header.length + b.length);
      x.set(header);
      x.set(b, header.length);
      return mustBeEventLogError(() => parseEventLog(x));
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test("truncations and byte flips of real logs parse (and write back) or throw EventLogError (property)", (t) => {
  const logs = fc.constantFrom(...REAL);
  fc.assert(
    fc.property(logs, fc.nat(), (b, n) => {
      const cut = b.subarray(0, n % (b.length + 1));
      try {
        const log = parseEventLog(cut);
        return same(writeEventLog(log), cut);
      } catch (e) {
        return e instanceof EventLogError && (cut.length === 0 || e.code === "EVENTLOG_TRUNCATED");
      }
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(logs, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (b, flips) => {
      const x = new Uint8Array(b);
      for (const [at, v] of flips) x[at % x.length] = v;
      try {
        const log = parseEventLog(x);
        return same(writeEventLog(log), x);
      } catch (e) {
        return e instanceof EventLogError;
      }
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test("bounded fuzz: 20 000 mutations of real logs, with decoding of what parses", (t) => {
  const next = xorshift32(0x7e55e2a);
  const interesting = [0, 1, 3, 4, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff];
  let parsed = 0;
  let rejected = 0;
  const codes = new Map<string, number>();
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const base = REAL[next() % REAL.length];
    let x: Uint8Array;
    switch (next() % 5) {
      case 0: // byte flips
        x = new Uint8Array(base);
        for (let k = 1 + (next() % 4); k > 0; k--) x[next() % x.length] = next() & 0xff;
        break;
      case 1: // an interesting 32-bit value at a random place (sizes, counts, types)
        x = new Uint8Array(base);
        new DataView(x.buffer).setUint32(next() % (x.length - 4), interesting[next() % interesting.length], true);
        break;
      case 2: // truncation
        x = base.subarray(0, next() % (base.length + 1));
        break;
      case 3: {
        // a slice removed or duplicated
        const a = next() % base.length;
        const b = Math.min(base.length, a + (next() % 64));
        x = next() % 2 ? new Uint8Array([...base.subarray(0, a), ...base.subarray(b)]) : new Uint8Array([...base.subarray(0, b), ...base.subarray(a)]);
        break;
      }
      default: // random garbage appended
        x = new Uint8Array(base.length + 1 + (next() % 40));
        x.set(base);
        for (let k = base.length; k < x.length; k++) x[k] = next() & 0xff;
    }
    try {
      const log = parseEventLog(x);
      parsed++;
      if (!same(writeEventLog(log), x)) t.fail(`mutation ${i} parsed but did not write back`);
      if (i % 16 === 0) {
        for (const e of log.events) decodeEvent(e, log);
        replay(log);
        secureBootState(log);
        checkEventDigests(log);
      }
    } catch (e) {
      if (!(e instanceof EventLogError)) throw e;
      rejected++;
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
  }
  t.log(`${N} mutations: ${parsed} parsed, ${rejected} rejected ${JSON.stringify(Object.fromEntries(codes))}`);
  t.true(parsed > 0 && rejected > 0);
});
