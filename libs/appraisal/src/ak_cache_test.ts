/**
 * The decoded-AK cache of appraise: the same verdicts on repeated and on different AKs, and a bounded size.
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { fixturePath } from "@tessera/fixtures";
import { imageFromEventLog } from "@tessera/host-image";
import { TPM_ALG, type PcrBanks } from "@tessera/tpm2";
import { AK_CACHE } from "./_ak_cache.ts";
import { appraise } from "./appraise.ts";
import type { AppraisalPolicy, Evidence } from "./types.ts";

const j = JSON.parse(readFileSync(fixturePath("attestations", "go-attestation_windows_gcp_shielded_vm.json"), "utf8")) as {
  AK: { Public: string };
  Quote: { Quote: string; Signature: string };
  Log: { Raw: string; PCRs: { Index: number; Digest: string; DigestAlg: number }[] };
};
const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const pcrs: PcrBanks = new Map([[TPM_ALG.SHA1, new Map()]]);
for (const p of j.Log.PCRs) if (p.DigestAlg === 3) pcrs.get(TPM_ALG.SHA1)?.set(p.Index, b64(p.Digest));
const AK = b64(j.AK.Public);
const evidence: Evidence = { akPublic: AK, quote: b64(j.Quote.Quote), signature: b64(j.Quote.Signature), pcrs, eventLog: b64(j.Log.Raw) };
const policy: AppraisalPolicy = {
  images: [imageFromEventLog(evidence.eventLog, { name: "windows", version: "1" })],
  pcrs: { sha1: Array.from({ length: 24 }, (_, i) => i) },
  secureBootRequired: true,
};
const NONCE = new Uint8Array(0);

/** The AK with the last byte of its modulus changed: another key, decoding as well. */
function otherAk(): Uint8Array {
  const ak = new Uint8Array(AK);
  ak[ak.length - 1] ^= 1;
  return ak;
}

test("the same AK, sent again in new arrays, gives the same affirming verdict; another AK with the same quote fails its signature, and the first one still passes", (t) => {
  const first = appraise(evidence, policy, NONCE);
  t.is(first.status, "affirming");
  t.deepEqual(appraise({ ...evidence, akPublic: new Uint8Array(AK) }, policy, NONCE), first);
  const other = appraise({ ...evidence, akPublic: otherAk() }, policy, NONCE);
  t.is(other.status, "contraindicated");
  t.deepEqual([...new Set(other.failures.map((f) => f.check))], ["quote-signature"]);
  t.not(other.akName, first.akName, "the other AK's own Name");
  t.deepEqual(appraise(evidence, policy, NONCE), first);
  // An AK that does not decode is reported each time, and never cached as another's.
  const broken = AK.subarray(0, 40);
  t.deepEqual(appraise({ ...evidence, akPublic: broken }, policy, NONCE).failures[0]?.check, "ak-attributes");
  t.deepEqual(appraise({ ...evidence, akPublic: new Uint8Array(broken) }, policy, NONCE).failures[0]?.check, "ak-attributes");
});

test("appraise keeps at most 2048 decoded AKs however many it sees, and still decodes an evicted one", (t) => {
  const max = 2048;
  const before = AK_CACHE.size;
  let decoded = 0;
  for (let i = 0; i < max + 100; i++) {
    const ak = new Uint8Array(AK);
    ak[ak.length - 1] = i & 0xff;
    ak[ak.length - 2] = i >> 8;
    if (appraise({ ...evidence, akPublic: ak }, policy, NONCE).akName !== undefined) decoded++;
  }
  t.is(decoded, max + 100);
  t.true(before < max);
  t.is(AK_CACHE.size, max);
  t.is(appraise(evidence, policy, NONCE).status, "affirming", "the first AK, evicted, decodes again");
});
