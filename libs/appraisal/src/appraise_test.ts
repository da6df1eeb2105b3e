/**
 * appraise on the real Windows Shielded VM evidence of go-attestation (AK, a quote over all 24 SHA-1 PCRs, the
 * log, the PCR values, an empty nonce), its mutations, and arbitrary bytes.
 */
import test from "ava";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { fixturePath, xorshift32 } from "@tessera/fixtures";
import { decodeEvent, parseEventLog, writeEventLog } from "@tessera/eventlog";
import { imageFromEventLog } from "@tessera/host-image";
import { TPM_ALG, type PcrBanks } from "@tessera/tpm2";
import { appraise } from "./appraise.ts";
import type { AppraisalPolicy, CheckCode, Evidence, Verdict } from "./types.ts";

const j = JSON.parse(readFileSync(fixturePath("attestations", "go-attestation_windows_gcp_shielded_vm.json"), "utf8")) as {
  AK: { Public: string };
  Quote: { Quote: string; Signature: string };
  Log: { Raw: string; PCRs: { Index: number; Digest: string; DigestAlg: number }[] };
};
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
/** Go's crypto.Hash numbers: SHA1 = 3, SHA256 = 5. */
const GO_HASH: Record<number, number> = { 3: TPM_ALG.SHA1, 5: TPM_ALG.SHA256 };
const pcrs: PcrBanks = new Map();
for (const p of j.Log.PCRs) {
  const bank = GO_HASH[p.DigestAlg];
  pcrs.set(bank, (pcrs.get(bank) ?? new Map()).set(p.Index, b64(p.Digest)));
}
const evidence: Evidence = { akPublic: b64(j.AK.Public), quote: b64(j.Quote.Quote), signature: b64(j.Quote.Signature), pcrs, eventLog: b64(j.Log.Raw) };
const NONCE = new Uint8Array(0);
const image = imageFromEventLog(evidence.eventLog, { name: "windows-server", version: "2019" });
const other = imageFromEventLog(new Uint8Array(readFileSync(fixturePath("eventlogs", "go-attestation_sb_cert_eventlog.bin"))), { name: "other", version: "1" });
const ALL_SHA1 = { sha1: Array.from({ length: 24 }, (_, i) => i) };
const policy: AppraisalPolicy = { images: [image], pcrs: ALL_SHA1, secureBootRequired: true };

function checks(v: Verdict): CheckCode[] {
  return [...new Set(v.failures.map((f) => f.check))];
}

test("the Windows evidence is affirming with the image of its own log, Secure Boot required", (t) => {
  const v = appraise(evidence, policy, NONCE);
  t.deepEqual(v.failures, []);
  t.is(v.status, "affirming");
  t.deepEqual(v.image, { name: "windows-server", version: "2019" });
  t.true(v.secureBoot);
  t.is(v.quoted?.selection, "sha1:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");
});

test("with another log's image it is image-unknown, naming the differing component and the closest image", (t) => {
  const v = appraise(evidence, { ...policy, images: [other] }, NONCE);
  t.is(v.status, "contraindicated");
  t.deepEqual(checks(v), ["image-unknown"]);
  t.is(v.failures[0].image, "other 1");
  t.regex(v.failures[0].component ?? "", /^bootChain\[0\]/);
});

test("fail closed: an empty policy accepts nothing, even this good evidence", (t) => {
  const v = appraise(evidence, { images: [], pcrs: {}, secureBootRequired: false }, NONCE);
  t.is(v.status, "contraindicated");
  t.deepEqual(checks(v), ["pcr-selection", "image-unknown"]);
});

test("a wrong nonce is quote-nonce", (t) => {
  const v = appraise(evidence, policy, Uint8Array.of(1, 2, 3));
  t.deepEqual(checks(v), ["quote-nonce"]);
  t.is(v.failures[0].expected, "010203");
});

test("a corrupted signature fails under every policy, even one selecting no PCRs", (t) => {
  const sig = new Uint8Array(evidence.signature);
  sig[sig.length - 1] ^= 1;
  for (const p of [policy, { ...policy, pcrs: {} }, { images: [], pcrs: {}, secureBootRequired: false }]) {
    const v = appraise({ ...evidence, signature: sig }, p, NONCE);
    t.true(checks(v).includes("quote-signature"));
  }
});

test("PCR values that do not match the quote are quote-pcr-digest and log-replay", (t) => {
  const bad: PcrBanks = new Map([[TPM_ALG.SHA1, new Map(pcrs.get(TPM_ALG.SHA1))]]);
  bad.get(TPM_ALG.SHA1)?.set(4, new Uint8Array(20).fill(7));
  const v = appraise({ ...evidence, pcrs: bad }, policy, NONCE);
  t.deepEqual(checks(v), ["quote-pcr-digest", "log-replay", "image-unknown"]);
  const replay = v.failures.find((f) => f.check === "log-replay");
  t.is(replay?.pcr, 4);
  t.is(replay?.bank, "sha1");
  t.is(replay?.expected, "07".repeat(20));
});

test("a SHA-1 quote is refused by a policy that allows only SHA-256 signatures", (t) => {
  const v = appraise(evidence, { ...policy, hashAlgorithms: ["sha256"] }, NONCE);
  t.deepEqual(checks(v), ["quote-signature"]);
});

test("a policy requiring a PCR the quote lacks is pcr-selection", (t) => {
  const v = appraise(evidence, { ...policy, pcrs: { sha256: [0] } }, NONCE);
  t.deepEqual(
    v.failures.map((f) => [f.check, f.bank, f.pcr]),
    [["pcr-selection", "sha256", 0]],
  );
});

test("an undecodable quote or log: the checks that cannot run say so", (t) => {
  const v = appraise({ ...evidence, quote: Uint8Array.of(1), eventLog: Uint8Array.of(1) }, policy, NONCE);
  t.deepEqual(checks(v), [
    "quote-signature",
    "quote-nonce",
    "pcr-selection",
    "quote-pcr-digest",
    "log-malformed",
    "log-replay",
    "secure-boot-off",
    "image-unknown",
  ]);
  t.true(v.failures.filter((f) => f.check !== "quote-signature" && f.check !== "log-malformed").every((f) => f.detail.startsWith("not checked: ")));
});

test("property: appraise never throws on arbitrary evidence bytes, and never affirms them", (t) => {
  const bytes = fc.uint8Array({ maxLength: 600 });
  fc.assert(
    fc.property(bytes, bytes, bytes, bytes, fc.uint8Array({ maxLength: 40 }), (ak, quote, signature, log, nonce) => {
      const v = appraise({ akPublic: ak, quote, signature, pcrs, eventLog: log }, policy, nonce);
      return v.status === "contraindicated" && v.failures.length > 0;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test("fuzz: mutations of the real evidence never throw, and every mutation of the signed parts is caught", (t) => {
  const rand = xorshift32(0x10c4);
  const good = appraise(evidence, policy, NONCE);
  const fields = ["akPublic", "quote", "signature", "eventLog"] as const;
  let contraindicated = 0;
  for (let i = 0; i < 400; i++) {
    const field = fields[rand() % fields.length];
    const original = evidence[field] as Uint8Array;
    const mutated = new Uint8Array(original);
    const flips = 1 + (rand() % 4);
    for (let k = 0; k < flips; k++) mutated[rand() % mutated.length] ^= 1 << (rand() % 8);
    const v = appraise({ ...evidence, [field]: mutated }, policy, NONCE);
    if (v.status === "contraindicated") contraindicated++;
    // Only bits the signature does not depend on may pass: the log's unused bytes, or AK attributes that are not
    // checked (a changed AK public area has another Name, which the service compares with the enrolled one).
    else if (field === "akPublic") t.not(v.akName, good.akName);
    else t.is(field, "eventLog", `a mutated ${field} was affirmed`);
  }
  t.true(contraindicated > 300);
});

test("a log whose Secure Boot variable was edited after the fact (digests kept) is log-replay naming the event", (t) => {
  const log = parseEventLog(evidence.eventLog);
  const sb = log.events.find((e) => {
    const d = decodeEvent(e, log);
    return e.pcr === 7 && d.kind === "efi-variable" && d.name === "SecureBoot";
  });
  if (sb === undefined) return t.fail("no SecureBoot event");
  sb.data = new Uint8Array(sb.data);
  sb.data[sb.data.length - 1] ^= 1;
  const v = appraise({ ...evidence, eventLog: writeEventLog(log) }, policy, NONCE);
  const f = v.failures.find((x) => x.check === "log-replay");
  t.is(f?.event, sb.index);
  t.is(f?.pcr, 7);
  t.is(v.status, "contraindicated");
});

test("an AK that is not a restricted signing key is ak-attributes, naming the attribute", (t) => {
  const ak = new Uint8Array(evidence.akPublic as Uint8Array);
  // TPMT_PUBLIC: type (2), nameAlg (2), objectAttributes (4, big-endian): clear `restricted` (bit 16).
  ak[5] &= ~0x01;
  const v = appraise({ ...evidence, akPublic: ak }, policy, NONCE);
  t.deepEqual(
    v.failures.map((f) => [f.check, f.detail]),
    [["ak-attributes", "the AK is not a restricted, fixed signing key: restricted clear"]],
  );
});
