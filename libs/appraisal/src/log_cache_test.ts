/**
 * The event-log cache of appraise (_log_cache.ts): a log seen before gives the verdict it gives when first seen, a
 * changed log is appraised on its own content (never another's cached result), and the image match follows the policy.
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { fixturePath } from "@tessera/fixtures";
import { imageFromEventLog } from "@tessera/host-image";
import { TPM_ALG, type PcrBanks } from "@tessera/tpm2";
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
const LOG = b64(j.Log.Raw);
const evidence: Evidence = { akPublic: b64(j.AK.Public), quote: b64(j.Quote.Quote), signature: b64(j.Quote.Signature), pcrs, eventLog: LOG };
const policy: AppraisalPolicy = {
  images: [imageFromEventLog(LOG, { name: "windows", version: "1" })],
  pcrs: { sha1: Array.from({ length: 24 }, (_, i) => i) },
  secureBootRequired: true,
};
const NONCE = new Uint8Array(0);

/** The log with byte `at` changed. */
function edited(at: number): Uint8Array {
  const log = new Uint8Array(LOG);
  log[at] ^= 0xff;
  return log;
}

test("a log sent again (in a new array) gives the same verdict; a log changed by one byte is appraised on its own, before and after", (t) => {
  const first = appraise(evidence, policy, NONCE);
  t.is(first.status, "affirming");
  t.deepEqual(appraise({ ...evidence, eventLog: new Uint8Array(LOG) }, policy, NONCE), first);
  // The last byte is the last event's data: the log parses, and that event's digest no longer matches it (or the
  // replay no longer reaches the quoted values): refused either way, also when the good log was cached just before.
  const late = appraise({ ...evidence, eventLog: edited(LOG.length - 1) }, policy, NONCE);
  t.is(late.status, "contraindicated");
  t.true(late.failures.some((f) => f.check === "log-replay" || f.check === "log-malformed"));
  // A log cut short no longer parses: log-malformed, every time (nothing of the good log's is handed out).
  const broken = LOG.subarray(0, LOG.length - 7);
  for (let i = 0; i < 2; i++) {
    const v = appraise({ ...evidence, eventLog: broken }, policy, NONCE);
    t.true(v.failures.some((f) => f.check === "log-malformed"), `attempt ${i + 1}`);
  }
  t.deepEqual(appraise(evidence, policy, NONCE), first, "the good log still affirms after the bad ones");
});

test("the cached log is matched against each policy's own images, and PCR values the replay does not reach still fail", (t) => {
  t.is(appraise(evidence, policy, NONCE).status, "affirming");
  const otherImage = { ...policy, images: [{ ...policy.images[0]!, name: "other", version: "2" }] };
  t.deepEqual(appraise(evidence, otherImage, NONCE).image, { name: "other", version: "2" });
  const rhel = imageFromEventLog(readFileSync(fixturePath("eventlogs", "go-tpm-tools_rhel8-uefi.bin")), { name: "rhel", version: "8" });
  const noImage = appraise(evidence, { ...policy, images: [rhel] }, NONCE);
  t.is(noImage.status, "contraindicated");
  t.true(noImage.failures.some((f) => f.check === "image-unknown" && f.image === "rhel 8"));
  // Another PCR value for the same log: the quote's digest and the replay disagree, whatever was cached for the log.
  const bank = new Map(pcrs.get(TPM_ALG.SHA1));
  bank.set(0, new Uint8Array(20));
  const v = appraise({ ...evidence, pcrs: new Map([[TPM_ALG.SHA1, bank]]) }, policy, NONCE);
  t.true(v.failures.some((f) => f.check === "log-replay" && f.pcr === 0));
});
