// PCR selections in tpm2-tools syntax, the selection bitmap both ways, the quote's PCR digest and PCR extension.
import test from "ava";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { HASH_NAME, TPM_ALG } from "./constants.ts";
import { fromHex, toHex } from "./hex.ts";
import { extendPcr, formatPcrSelection, type PcrBanks, parsePcrSelection, pcrDigest, pcrSelection, selectedPcrs } from "./pcr.ts";
import { marshal, unmarshal } from "./schema.ts";
import { TPMS_ATTEST, TPML_PCR_SELECTION, type TpmsQuoteInfo } from "./structures.ts";
import { fixturesRoot } from "@tessera/fixtures";
const SHARED_FIXTURES = fixturesRoot();

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

// ---------------------------------------------------------------------------------------------
// parsePcrSelection / formatPcrSelection

test("parses a single bank with a list", (t) => {
  t.deepEqual(parsePcrSelection("sha256:0,1,2"), [{ hash: TPM_ALG.SHA256, pcrSelect: fromHex("070000") }]);
  t.deepEqual(parsePcrSelection("sha1:7"), [{ hash: TPM_ALG.SHA1, pcrSelect: fromHex("800000") }]);
  t.deepEqual(parsePcrSelection("sha256:23"), [{ hash: TPM_ALG.SHA256, pcrSelect: fromHex("000080") }]);
});

test("parses ranges, mixed with single indexes", (t) => {
  t.deepEqual(parsePcrSelection("sha1:0-7,16"), [{ hash: TPM_ALG.SHA1, pcrSelect: fromHex("ff0001") }]);
  t.deepEqual(parsePcrSelection("sha256:3-3"), [{ hash: TPM_ALG.SHA256, pcrSelect: fromHex("080000") }]);
  t.deepEqual(parsePcrSelection("sha256:0-2,1-3"), [{ hash: TPM_ALG.SHA256, pcrSelect: fromHex("0f0000") }]);
});

test("parses `all` as PCRs 0..23", (t) => {
  t.deepEqual(parsePcrSelection("sha256:all"), [{ hash: TPM_ALG.SHA256, pcrSelect: fromHex("ffffff") }]);
  t.deepEqual(selectedPcrs(parsePcrSelection("sha384:all")[0]), range(0, 23));
});

test("parses several banks in order, and tolerates case and spaces", (t) => {
  t.deepEqual(parsePcrSelection("sha1:0,1+sha256:16,23"), [
    { hash: TPM_ALG.SHA1, pcrSelect: fromHex("030000") },
    { hash: TPM_ALG.SHA256, pcrSelect: fromHex("000081") },
  ]);
  t.deepEqual(parsePcrSelection(" SHA256:0, 1 + sha512:2 "), [
    { hash: TPM_ALG.SHA256, pcrSelect: fromHex("030000") },
    { hash: TPM_ALG.SHA512, pcrSelect: fromHex("040000") },
  ]);
  t.deepEqual(parsePcrSelection("sha384:all+sha1:0"), [
    { hash: TPM_ALG.SHA384, pcrSelect: fromHex("ffffff") },
    { hash: TPM_ALG.SHA1, pcrSelect: fromHex("010000") },
  ]);
});

test("PCR indexes beyond 23 widen the bitmap", (t) => {
  t.deepEqual(parsePcrSelection("sha256:24"), [{ hash: TPM_ALG.SHA256, pcrSelect: fromHex("00000001") }]);
  const wide = parsePcrSelection("sha256:255")[0];
  t.is(wide.pcrSelect.length, 32);
  t.deepEqual(selectedPcrs(wide), [255]);
  // Such a selection still fits TPMS_PCR_SELECTION (sizeofSelect ≤ 32).
  t.deepEqual(unmarshal(TPML_PCR_SELECTION, marshal(TPML_PCR_SELECTION, [wide])), [wide]);
});

test("bad selections are RangeErrors naming the bad part", (t) => {
  const bad: [string, RegExp][] = [
    ["", /PCR selection "" is not of the form bank:0,1,2/],
    ["sha256", /"sha256" is not of the form/],
    ["sha256:", /"sha256:" is not of the form/],
    ["md5:1", /PCR bank "md5" is not a known hash algorithm/],
    ["sha256:1,,2", /PCR index "" in "sha256:1,,2" is not a number or range/],
    ["sha256:1-", /PCR index "1-" in "sha256:1-" is not a number or range/],
    ["sha256:-1", /PCR index "-1"/],
    ["sha256:3-1", /PCR range "3-1" in "sha256:3-1" is out of order or beyond 255/],
    ["sha256:0-256", /PCR range "0-256" .* beyond 255/],
    ["sha256:256", /beyond 255/],
    ["sha256:x", /is not of the form/],
    ["sha256:1+", /PCR selection "" is not of the form/],
    ["sha256:1+sha1", /PCR selection "sha1" is not of the form/],
    ["sha256:1:2", /is not of the form/],
  ];
  for (const [spec, message] of bad) t.throws(() => parsePcrSelection(spec), { instanceOf: RangeError, message }, JSON.stringify(spec));
});

test("formats selections the way tpm2-tools reads them", (t) => {
  t.is(formatPcrSelection([pcrSelection(TPM_ALG.SHA256, [0, 1, 2]), pcrSelection(TPM_ALG.SHA1, [7])]), "sha256:0,1,2+sha1:7");
  t.is(formatPcrSelection([{ hash: TPM_ALG.SHA1, pcrSelect: fromHex("ffffff") }]), "sha1:" + range(0, 23).join(","));
  t.is(formatPcrSelection([]), "");
});

test("format then parse is the identity for the common banks (property)", (t) => {
  const sel = fc.record({
    bank: fc.constantFrom(TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512),
    pcrs: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 30 }),
  });
  fc.assert(
    fc.property(fc.array(sel, { minLength: 1, maxLength: 4 }), (sels) => {
      const value = sels.map((s) => pcrSelection(s.bank, s.pcrs));
      const text = formatPcrSelection(value);
      return toHex(marshal(TPML_PCR_SELECTION, parsePcrSelection(text))) === toHex(marshal(TPML_PCR_SELECTION, value));
    }),
  );
  t.pass();
});

// formatPcrSelection spells banks with algName (TPM_ALG keys: "sha3_256", "sm3_256", as tpm2-tools does), but
// parsePcrSelection looks names up with hashAlgByName, which only knows the OpenSSL spellings ("sha3-256", "sm3").
test("format then parse is the identity for every bank HASH_NAME lists", (t) => {
  for (const bank of Object.keys(HASH_NAME).map(Number)) {
    const value = [pcrSelection(bank, [0, 5, 17])];
    const text = formatPcrSelection(value);
    t.notThrows(() => parsePcrSelection(text), `"${text}" does not parse back`);
  }
  // tpm2-tools' own spellings of these banks.
  t.notThrows(() => parsePcrSelection("sha3_256:0"));
  t.notThrows(() => parsePcrSelection("sm3_256:0"));
});

// ---------------------------------------------------------------------------------------------
// pcrSelection / selectedPcrs

test("pcrSelection sets bit n%8 of byte n/8, at least sizeofSelect bytes", (t) => {
  t.deepEqual(pcrSelection(TPM_ALG.SHA256, [0, 9, 23]), { hash: TPM_ALG.SHA256, pcrSelect: fromHex("010280") });
  t.deepEqual(pcrSelection(TPM_ALG.SHA256, []), { hash: TPM_ALG.SHA256, pcrSelect: fromHex("000000") });
  t.deepEqual(pcrSelection(TPM_ALG.SHA256, [1], 4), { hash: TPM_ALG.SHA256, pcrSelect: fromHex("02000000") });
  t.deepEqual(pcrSelection(TPM_ALG.SHA256, [1], 1), { hash: TPM_ALG.SHA256, pcrSelect: fromHex("02") });
  t.deepEqual(pcrSelection(TPM_ALG.SHA256, [30], 1), { hash: TPM_ALG.SHA256, pcrSelect: fromHex("00000040") });
  for (const bad of [-1, 256, 1.5, Number.NaN])
    t.throws(() => pcrSelection(TPM_ALG.SHA256, [bad]), { instanceOf: RangeError, message: /out of range/ }, String(bad));
});

test("selectedPcrs lists the set bits ascending", (t) => {
  t.deepEqual(selectedPcrs({ hash: TPM_ALG.SHA1, pcrSelect: fromHex("810001") }), [0, 7, 16]);
  t.deepEqual(selectedPcrs({ hash: TPM_ALG.SHA1, pcrSelect: new Uint8Array() }), []);
  t.deepEqual(selectedPcrs({ hash: TPM_ALG.SHA1, pcrSelect: fromHex("ffffff") }), range(0, 23));
});

test("pcrSelection and selectedPcrs are inverse (property)", (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }), fc.integer({ min: 0, max: 32 }), (pcrs, size) => {
      const sel = pcrSelection(TPM_ALG.SHA256, pcrs, size);
      const back = selectedPcrs(sel);
      return JSON.stringify(back) === JSON.stringify([...pcrs].sort((a, b) => a - b)) && sel.pcrSelect.length >= size;
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 32 }), (bitmap) => {
      const sel = { hash: TPM_ALG.SHA1, pcrSelect: bitmap };
      return toHex(pcrSelection(TPM_ALG.SHA1, selectedPcrs(sel), bitmap.length).pcrSelect) === toHex(bitmap);
    }),
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// pcrDigest

function banks(entries: [number, [number, Uint8Array][]][]): PcrBanks {
  return new Map(entries.map(([bank, values]) => [bank, new Map(values)]));
}

test("pcrDigest is the hash of the selected values concatenated, banks in list order, PCRs ascending", (t) => {
  const v = (s: string): Uint8Array => new Uint8Array(createHash("sha256").update(s).digest());
  const w = (s: string): Uint8Array => new Uint8Array(createHash("sha1").update(s).digest());
  const values = banks([
    [
      TPM_ALG.SHA256,
      [
        [0, v("a")],
        [3, v("b")],
        [7, v("c")],
        [8, v("unused")],
      ],
    ],
    [TPM_ALG.SHA1, [[1, w("d")]]],
  ]);
  const sels = [pcrSelection(TPM_ALG.SHA256, [7, 0, 3]), pcrSelection(TPM_ALG.SHA1, [1])];
  const expected = createHash("sha256").update(v("a")).update(v("b")).update(v("c")).update(w("d")).digest("hex");
  t.is(toHex(pcrDigest(TPM_ALG.SHA256, sels, values)), expected);
  // Bank order matters.
  const reversed = createHash("sha256").update(w("d")).update(v("a")).update(v("b")).update(v("c")).digest("hex");
  t.is(toHex(pcrDigest(TPM_ALG.SHA256, [sels[1], sels[0]], values)), reversed);
  // The quote's hash algorithm, not the bank's, hashes the concatenation.
  t.is(toHex(pcrDigest(TPM_ALG.SHA1, sels, values)), createHash("sha1").update(v("a")).update(v("b")).update(v("c")).update(w("d")).digest("hex"));
  t.is(toHex(pcrDigest(TPM_ALG.SHA256, [], values)), createHash("sha256").digest("hex"));
});

test("pcrDigest equals sha256 of the concatenation (property)", (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { minLength: 1, maxLength: 24 }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 24, maxLength: 24 }),
      (pcrs, vals) => {
        const values = banks([[TPM_ALG.SHA256, vals.map((x, i) => [i, x] as [number, Uint8Array])]]);
        const h = createHash("sha256");
        for (const i of [...pcrs].sort((a, b) => a - b)) h.update(vals[i]);
        return toHex(pcrDigest(TPM_ALG.SHA256, [pcrSelection(TPM_ALG.SHA256, pcrs)], values)) === h.digest("hex");
      },
    ),
  );
  t.pass();
});

test("pcrDigest names the first selected PCR without a value", (t) => {
  const values = banks([[TPM_ALG.SHA256, [[0, new Uint8Array(32)]]]]);
  t.throws(() => pcrDigest(TPM_ALG.SHA256, [pcrSelection(TPM_ALG.SHA256, [0, 7, 9])], values), {
    instanceOf: RangeError,
    message: "PCR sha256:7 is selected but no value was supplied",
  });
  t.throws(() => pcrDigest(TPM_ALG.SHA256, [pcrSelection(TPM_ALG.SHA1, [2])], values), { message: /PCR sha1:2/ });
});

test("pcrDigest reproduces the PCR digest of a real quote", (t) => {
  const fx = JSON.parse(readFileSync(SHARED_FIXTURES + "/attestations/go-attestation_windows_gcp_shielded_vm.json", "utf8")) as {
    Quote: { Quote: string };
    Log: { PCRs: { Index: number; Digest: string; DigestAlg: number }[] };
  };
  const values: PcrBanks = new Map([[TPM_ALG.SHA1, new Map()]]);
  for (const p of fx.Log.PCRs) {
    t.is(p.DigestAlg, 3); // Go's crypto.SHA1
    values.get(TPM_ALG.SHA1)?.set(p.Index, new Uint8Array(Buffer.from(p.Digest, "base64")));
  }
  const quote = unmarshal(TPMS_ATTEST, new Uint8Array(Buffer.from(fx.Quote.Quote, "base64"))).attested as TpmsQuoteInfo;
  t.is(toHex(pcrDigest(TPM_ALG.SHA1, quote.pcrSelect, values)), toHex(quote.pcrDigest));
});

// ---------------------------------------------------------------------------------------------
// extendPcr

test("extendPcr is H(old || digest)", (t) => {
  const zeros = new Uint8Array(32);
  const d = new Uint8Array(createHash("sha256").update("event").digest());
  t.is(toHex(extendPcr(TPM_ALG.SHA256, zeros, d)), createHash("sha256").update(zeros).update(d).digest("hex"));
  // SHA-1: extending PCR 0 (20 zero bytes) with SHA1("abc").
  const abc = fromHex("a9993e364706816aba3e25717850c26c9cd0d89d");
  t.is(toHex(extendPcr(TPM_ALG.SHA1, new Uint8Array(20), abc)), createHash("sha1").update(new Uint8Array(20)).update(abc).digest("hex"));
  // Extension chains: the order of events matters.
  const e1 = new Uint8Array(32).fill(1);
  const e2 = new Uint8Array(32).fill(2);
  const ab = extendPcr(TPM_ALG.SHA256, extendPcr(TPM_ALG.SHA256, zeros, e1), e2);
  const ba = extendPcr(TPM_ALG.SHA256, extendPcr(TPM_ALG.SHA256, zeros, e2), e1);
  t.not(toHex(ab), toHex(ba));
  t.is(toHex(ab), createHash("sha256").update(createHash("sha256").update(zeros).update(e1).digest()).update(e2).digest("hex"));
});
