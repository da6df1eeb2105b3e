import test from "ava";
import { hash, TPM_ALG, TPMT_PUBLIC, fromHex, toHex, unmarshal, verifyQuote } from "@tessera/tpm2";
import { fixture, windowsGcp } from "./_fixtures_test.ts";
import { appendEvent } from "./append_event.ts";
import { comparePcrs, pcrResetValue } from "./compare_pcrs.ts";
import { encodeEfiVariableData } from "./encode_efi_variable_data.ts";
import { encodeStartupLocality } from "./encode_startup_locality.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { EV } from "./event_type.ts";
import { newCryptoAgileLog } from "./new_crypto_agile_log.ts";
import { parseEventLog } from "./parse_event_log.ts";
import { replay } from "./replay.ts";
import { writeEventLog } from "./write_event_log.ts";
import type { PcrBanks } from "./types.ts";

/** Go's crypto.Hash numbering, as go-attestation's JSON uses it. */
const GO_HASH: Readonly<Record<number, number>> = { 3: TPM_ALG.SHA1, 5: TPM_ALG.SHA256 };

function quotedPcrs(): PcrBanks {
  const out: PcrBanks = new Map();
  for (const p of windowsGcp().pcrs) {
    const bank = GO_HASH[p.alg];
    if (!out.has(bank)) out.set(bank, new Map());
    out.get(bank)!.set(p.index, p.digest);
  }
  return out;
}

test("the Windows GCP Shielded VM log replays to the PCR values of its quote", (t) => {
  const log = parseEventLog(windowsGcp().raw);
  t.is(log.format, "sha1");
  const quoted = quotedPcrs();
  t.is(quoted.get(TPM_ALG.SHA1)!.size, 24);
  t.deepEqual(comparePcrs(replay(log), quoted), { ok: true });
});

test("the quote of the Windows GCP attestation verifies against the replayed PCRs (signature, magic, PCR digest)", (t) => {
  const w = windowsGcp();
  const replayed = replay(parseEventLog(w.raw));
  const all = new Map<number, Uint8Array>();
  for (let pcr = 0; pcr < 24; pcr++) all.set(pcr, replayed.get(TPM_ALG.SHA1)?.get(pcr) ?? pcrResetValue(pcr, 20));
  const ak = unmarshal(TPMT_PUBLIC, w.akPublic); // go-attestation keeps the TPMT_PUBLIC
  const v = verifyQuote(ak, w.quote, w.signature, { nonce: new Uint8Array(0), pcrs: new Map([[TPM_ALG.SHA1, all]]) });
  t.true(v.pcrsChecked);
});

test("comparePcrs names the first differing PCR, both values and the last event that extended it", (t) => {
  const log = parseEventLog(windowsGcp().raw);
  const replayed = replay(log);
  const quoted = quotedPcrs();
  const changed = new Uint8Array(quoted.get(TPM_ALG.SHA1)!.get(7)!);
  changed[0] ^= 1;
  quoted.get(TPM_ALG.SHA1)!.set(7, changed);
  const r = comparePcrs(replayed, quoted);
  t.false(r.ok);
  const lastOn7 = [log.header, ...log.events].filter((e) => e.pcr === 7).at(-1)!.index;
  t.deepEqual(r.firstMismatch, { bank: TPM_ALG.SHA1, pcr: 7, expected: changed, replayed: replayed.get(TPM_ALG.SHA1)!.get(7)!, lastEvent: lastOn7 });

  // A PCR the log never extends is compared with its reset value: zeros, or all ones for 17–22.
  quoted.get(TPM_ALG.SHA1)!.set(7, replayed.get(TPM_ALG.SHA1)!.get(7)!);
  quoted.get(TPM_ALG.SHA1)!.set(18, new Uint8Array(20));
  t.like(comparePcrs(replayed, quoted).firstMismatch, { pcr: 18, replayed: new Uint8Array(20).fill(0xff), lastEvent: undefined });
  // A bank the log does not have: every quoted PCR is compared with its reset value.
  t.like(comparePcrs(replayed, new Map([[TPM_ALG.SHA256, new Map([[0, new Uint8Array(32).fill(1)]])]])).firstMismatch, {
    bank: TPM_ALG.SHA256,
    pcr: 0,
    replayed: new Uint8Array(32),
  });
});

test("StartupLocality sets PCR 0's starting value: glinux-alex replays to the PCRs go-tpm-tools recorded for that machine", (t) => {
  // google/go-tpm-tools server/eventlog_test.go, GlinuxNoSecureBootLaptop: the PCR values read from the TPM.
  const expected: Record<number, Record<number, string>> = {
    [TPM_ALG.SHA1]: {
      0: "29d236609a5f9cc6912af44ba5f57b13a17c8a84",
      1: "db16852a369b2503d6cc6c0007501c837dbe1170",
      2: "0c8ef58d40b8cd1fe15f6b45fc1b385dd251eec0",
      3: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
      4: "c56cddf3dcf59a473a239efd17b130391e24b0df",
      5: "23606963a2813421f5b6e76e32a337ff8940e413",
      6: "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
      7: "9221b8fc57b60cb7de507dc016f88d4600cde9c5",
    },
    [TPM_ALG.SHA256]: {
      0: "0e5ea849d7647a1ac1becc096fee4df98f00f8015f934afadaab0b8aa20b38a5",
      1: "9750400838980c9419764b9cf19c975c0e159c18ebe21cb897c6e834a8d8d433",
      2: "970096d49105b0404999173e49c3f6b8597b9c4c5ff6a9e364b55ce01037578e",
      3: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
      4: "ddb124ca9013f1e42f98537f7f381e47c5e6caa988cf2b4088f452c5a8dd912d",
      5: "fb58603615cfec59c0428e71913d30d45f38e4280380cc814135a7659c246b13",
      6: "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969",
      7: "9d1be46302bc4f5055c90a0376d9142e397ca8744f387c9824170f1bc855fde5",
    },
  };
  const quoted: PcrBanks = new Map(
    Object.entries(expected).map(([bank, pcrs]) => [Number(bank), new Map(Object.entries(pcrs).map(([i, h]) => [Number(i), fromHex(h)]))]),
  );
  t.deepEqual(comparePcrs(replay(parseEventLog(fixture("go-tpm-tools_glinux-alex.bin"))), quoted), { ok: true });
});

test("EV_NO_ACTION events (SP800-155) are not extended: PCR 0 of a GCE Shielded VM replays to the value its vTPM reports", (t) => {
  // d0c70a93…: PCR 0 (SHA-256) of GCE Shielded VMs as tpm2_pcrread prints it (salrashid123's GCE attestation guides).
  for (const name of ["go-tpm-tools_eventlogwithsp800155.bin", "go-tpm-tools_confidential-gke-debug-251000_eventlog.bin"]) {
    const r = replay(parseEventLog(fixture(name)));
    t.is(toHex(r.get(TPM_ALG.SHA256)!.get(0)!), "d0c70a9310cd0b55767084333022ce53f42befbb69c059ee6c0a32766f160783", name);
  }
});

test("a log of only a StartupLocality event replays to PCR 0 = 0…03", (t) => {
  const r = replay(parseEventLog(fixture("go-attestation_short_no_action_eventlog.bin")));
  t.deepEqual(r, new Map([[TPM_ALG.SHA1, new Map([[0, fromHex("0000000000000000000000000000000000000003")]])]]));
});

test("replay of a hand-built log equals PCRs extended by hand", (t) => {
  const log = newCryptoAgileLog([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384]);
  appendEvent(log, 0, EV.NO_ACTION, encodeStartupLocality(3));
  const crtm = new TextEncoder().encode("firmware v1");
  appendEvent(log, 0, EV.S_CRTM_VERSION, crtm);
  const sb = encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([1]));
  appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, sb);
  const image = new Map([
    [TPM_ALG.SHA1, hash(TPM_ALG.SHA1, crtm)],
    [TPM_ALG.SHA256, hash(TPM_ALG.SHA256, crtm)],
  ]); // only two banks
  appendEvent(log, 4, EV.EFI_BOOT_SERVICES_APPLICATION, new Uint8Array(40), image);
  appendEvent(log, 7, EV.SEPARATOR, new Uint8Array(4));
  appendEvent(log, 16, EV.NO_ACTION, new Uint8Array(20)); // not extended

  const manual = (alg: number) => {
    const size = { [TPM_ALG.SHA1]: 20, [TPM_ALG.SHA256]: 32, [TPM_ALG.SHA384]: 48 }[alg]!;
    const ext = (pcr: Uint8Array, d: Uint8Array) => hash(alg, pcr, d);
    const pcr0 = new Uint8Array(size);
    pcr0[size - 1] = 3;
    const m = new Map<number, Uint8Array>();
    m.set(0, ext(pcr0, hash(alg, crtm)));
    m.set(7, ext(ext(new Uint8Array(size), hash(alg, sb)), hash(alg, new Uint8Array(4))));
    if (alg !== TPM_ALG.SHA384) m.set(4, ext(new Uint8Array(size), hash(alg, crtm)));
    return m;
  };
  const expected = new Map([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384].map((alg) => [alg, manual(alg)]));
  const sortBanks = (b: PcrBanks) => [...b].map(([alg, m]) => [alg, [...m].sort(([x], [y]) => x - y)]);
  t.deepEqual(sortBanks(replay(log)), sortBanks(expected));
  t.deepEqual(sortBanks(replay(parseEventLog(writeEventLog(log)))), sortBanks(expected));
  t.deepEqual(comparePcrs(replay(log), expected), { ok: true });
});
