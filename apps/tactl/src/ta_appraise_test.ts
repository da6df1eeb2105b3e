/**
 * `tactl ta appraise` on the real Windows Shielded VM evidence of go-attestation (files as tpm2-tools writes
 * them: the AK's TPMT_PUBLIC, quote.msg, quote.sig, the log and pcrs.json; an empty nonce).
 */
import test from "ava";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fixturePath } from "@tessera/fixtures";
import { imageFromEventLog } from "@tessera/host-image";
import { tactl } from "./_test_support.ts";

let dir: string;
const p = (f: string) => path.join(dir, f);

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-ta-"));
  const j = JSON.parse(await readFile(fixturePath("attestations", "go-attestation_windows_gcp_shielded_vm.json"), "utf8")) as {
    AK: { Public: string };
    Quote: { Quote: string; Signature: string };
    Log: { Raw: string; PCRs: { Index: number; Digest: string; DigestAlg: number }[] };
  };
  const b = (s: string) => Buffer.from(s, "base64");
  await writeFile(p("ak.pub"), b(j.AK.Public));
  await writeFile(p("quote.msg"), b(j.Quote.Quote));
  await writeFile(p("quote.sig"), b(j.Quote.Signature));
  await writeFile(p("eventlog.bin"), b(j.Log.Raw));
  const sha1 = Object.fromEntries(j.Log.PCRs.filter((x) => x.DigestAlg === 3).map((x) => [String(x.Index), b(x.Digest).toString("hex")]));
  await writeFile(p("pcrs.json"), JSON.stringify({ sha1 }));
  await writeFile(p("windows.image.json"), JSON.stringify(imageFromEventLog(new Uint8Array(b(j.Log.Raw)), { name: "windows-server", version: "2019" })));
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const EVIDENCE = () => ["--ak", p("ak.pub"), "--quote", p("quote.msg"), "--sig", p("quote.sig"), "--log", p("eventlog.bin"), "--pcrs", p("pcrs.json")];

test("the Windows evidence with the image of its own log (the log itself, or its image JSON) is affirming, Secure Boot required", async (t) => {
  for (const image of [p("eventlog.bin"), p("windows.image.json")]) {
    const r = await tactl(
      "ta",
      "appraise",
      ...EVIDENCE(),
      "--image",
      image,
      "--select",
      "sha1:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
      "--json",
    );
    t.is(r.code, 0, r.out + r.err);
    const v = JSON.parse(r.out);
    t.is(v.status, "affirming");
    t.true(v.secureBoot);
    t.is(v.quoted.selection, "sha1:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");
  }
  const text = await tactl("ta", "appraise", ...EVIDENCE(), "--image", p("windows.image.json"));
  t.is(text.code, 0);
  t.regex(text.out, /^affirming: image windows-server 2019, Secure Boot on/);
});

test("with another log's image: exit 1, image-unknown naming the component and the closest image", async (t) => {
  const other = fixturePath("eventlogs", "go-attestation_sb_cert_eventlog.bin");
  const r = await tactl("ta", "appraise", ...EVIDENCE(), "--image", other, "--json");
  t.is(r.code, 1, r.err);
  const v = JSON.parse(r.out);
  t.is(v.status, "contraindicated");
  t.deepEqual([...new Set(v.failures.map((f: { check: string }) => f.check))], ["image-unknown"]);
  t.is(v.failures[0].image, "go-attestation_sb_cert_eventlog.bin from-log");
  t.regex(v.failures[0].component, /^bootChain\[0\]/);
  const text = await tactl("ta", "appraise", ...EVIDENCE(), "--image", other);
  t.is(text.code, 1);
  t.regex(text.out, /^contraindicated: \d+ failed checks?\n {2}image-unknown: bootChain\[0\]/);
});

test("no image: nothing is accepted; a wrong nonce is quote-nonce", async (t) => {
  const none = await tactl("ta", "appraise", ...EVIDENCE(), "--json");
  t.is(none.code, 1);
  t.deepEqual(
    JSON.parse(none.out).failures.map((f: { check: string }) => f.check),
    ["image-unknown"],
  );
  const nonce = await tactl("ta", "appraise", ...EVIDENCE(), "--image", p("eventlog.bin"), "--nonce", "abcd", "--json");
  t.is(nonce.code, 1);
  t.deepEqual(
    JSON.parse(nonce.out).failures.map((f: { check: string }) => f.check),
    ["quote-nonce"],
  );
});

test("bad input is exit 2", async (t) => {
  t.is((await tactl("ta", "appraise", ...EVIDENCE(), "--nonce", "xyz")).code, 2);
  t.is((await tactl("ta", "appraise", ...EVIDENCE(), "--image", p("nope.json"))).code, 2);
  await writeFile(p("bad.image.json"), JSON.stringify({ name: "x" }));
  const bad = await tactl("ta", "appraise", ...EVIDENCE(), "--image", p("bad.image.json"));
  t.is(bad.code, 2);
  t.regex(bad.err, /image\.version: missing/);
  t.is((await tactl("ta", "appraise", "--ak", p("ak.pub"))).code, 2);
});

test("--image repeats: several images are accepted at once, the host matches one of them", async (t) => {
  const other = fixturePath("eventlogs", "go-attestation_sb_cert_eventlog.bin");
  const r = await tactl("ta", "appraise", ...EVIDENCE(), "--image", other, "--image", p("windows.image.json"), "--json");
  t.is(r.code, 0, r.out + r.err);
  t.deepEqual(JSON.parse(r.out).image, { name: "windows-server", version: "2019" });
});
