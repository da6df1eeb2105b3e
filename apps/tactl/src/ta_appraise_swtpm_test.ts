/**
 * `tactl ta appraise` and libs/appraisal on evidence from real swtpm hosts booted by libs/boot's simulator,
 * with AKs, quotes and a binding key made through libs/tss: green, and each red case with its precise code.
 */
import test from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { appraise, type AppraisalPolicy, type CheckCode, type Evidence } from "@tessera/appraisal";
import { bootHost, defaultHostImage, makeTestSecureBootPki, tamperLog, withKernel, type HostImage } from "@tessera/boot";
import { imageFromManifest } from "@tessera/host-image";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { bindingKeyTemplate, marshal, pcrSelection, TPM_ALG, TPM_RH, srkTemplate, TPM2B_PUBLIC, TPMT_SIGNATURE, toHex, unmarshalPublic, type PcrBanks } from "@tessera/tpm2";
import { createAk, Tpm, withAk, withEk, type AkBlobs } from "@tessera/tss";
import { tactl } from "./_test_support.ts";

const BOOT_PCRS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14];
const NONCE = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

interface Host {
  sw: SwtpmInstance;
  log: Uint8Array;
  ak: AkBlobs;
  otherAk: AkBlobs;
  quote: { quoted: Uint8Array; signature: Uint8Array; pcrs: PcrBanks };
  /** A quote of PCRs 0–7 only (not grub's 8 and 9, nor 14), by the AK, with their values. */
  narrowQuote: { quoted: Uint8Array; signature: Uint8Array; pcrs: PcrBanks };
  /** A quote of the same PCRs by the other AK. */
  otherQuote: { quoted: Uint8Array; signature: Uint8Array };
  /** The binding key certified by the AK, and by the other AK. */
  binding: { public: Uint8Array; certifyInfo: Uint8Array; signature: Uint8Array };
  bindingByOther: { public: Uint8Array; certifyInfo: Uint8Array; signature: Uint8Array };
  /** The other AK (a signing key) certified by the AK with the nonce as qualifyingData: not a binding key. */
  signingKeyCertified: { public: Uint8Array; certifyInfo: Uint8Array; signature: Uint8Array };
}

async function bootAndQuote(manifest: HostImage, variant?: "secure-boot-off"): Promise<Host> {
  const sw = await startSwtpm({ pcrBanks: ["sha1", "sha256"], eccP256Ek: false });
  const tpm = Tpm.open(sw.tcti);
  try {
    const { log } = await bootHost(tpm, manifest, variant === undefined ? {} : { variant: { kind: variant } });
    return await withEk(tpm, "rsa2048", async (ek) => {
      const ak = await createAk(tpm, ek, "rsa");
      const otherAk = await createAk(tpm, ek, "rsa");
      const sel = [pcrSelection(TPM_ALG.SHA256, BOOT_PCRS)];
      const srk = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
      const key = await tpm.create(srk.handle, bindingKeyTemplate());
      const loadedKey = await tpm.load(srk.handle, key.privateBlob, key.public);
      await tpm.flush(srk.handle); // swtpm holds 3 objects: the EK, an AK and the binding key
      try {
        const certify = async (signer: AkBlobs) =>
          withAk(tpm, ek, signer, async (h) => {
            const c = await tpm.certify(loadedKey.handle, h.handle, new Uint8Array());
            return { public: marshal(TPM2B_PUBLIC, key.public), certifyInfo: c.certifyInfo, signature: marshal(TPMT_SIGNATURE, c.signature) };
          });
        const binding = await certify(ak);
        const bindingByOther = await certify(otherAk);
        const q = await withAk(tpm, ek, ak, (h) => tpm.quote(h.handle, NONCE, sel));
        const o = await withAk(tpm, ek, otherAk, (h) => tpm.quote(h.handle, NONCE, sel));
        const pcrs = await tpm.pcrRead(sel);
        const narrowSel = [pcrSelection(TPM_ALG.SHA256, [0, 1, 2, 3, 4, 5, 6, 7])];
        const n = await withAk(tpm, ek, ak, (h) => tpm.quote(h.handle, NONCE, narrowSel));
        const narrowQuote = { quoted: n.quoted, signature: n.signatureBytes, pcrs: await tpm.pcrRead(narrowSel) };
        await tpm.flush(loadedKey.handle);
        const signingKeyCertified = await withAk(tpm, ek, ak, (h) =>
          withAk(tpm, ek, otherAk, async (o) => {
            const c = await tpm.certify(o.handle, h.handle, NONCE);
            return { public: otherAk.publicBytes, certifyInfo: c.certifyInfo, signature: marshal(TPMT_SIGNATURE, c.signature) };
          }),
        );
        return {
          signingKeyCertified,
          narrowQuote,
          sw,
          log,
          ak,
          otherAk,
          quote: { quoted: q.quoted, signature: q.signatureBytes, pcrs },
          otherQuote: { quoted: o.quoted, signature: o.signatureBytes },
          binding,
          bindingByOther,
        };
      } catch (e) {
        await tpm.flush(loadedKey.handle).catch(() => undefined);
        throw e;
      }
    });
  } finally {
    await tpm.close();
  }
}

let manifest: HostImage;
let host: Host;
let sbOff: Host;
let dir: string;
let policy: AppraisalPolicy;

test.before(async () => {
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-ta-swtpm-"));
  host = await bootAndQuote(manifest);
  sbOff = await bootAndQuote(manifest, "secure-boot-off");
  policy = { images: [imageFromManifest(manifest)], pcrs: { sha256: BOOT_PCRS }, secureBootRequired: true };
});

test.after.always(async () => {
  await host?.sw.stop();
  await sbOff?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function evidenceOf(h: Host): Evidence {
  return { akPublic: h.ak.publicBytes, quote: h.quote.quoted, signature: h.quote.signature, pcrs: h.quote.pcrs, eventLog: h.log, bindingKey: h.binding };
}

function codes(e: Evidence, p: AppraisalPolicy = policy, nonce: Uint8Array = NONCE): CheckCode[] {
  return [...new Set(appraise(e, p, nonce).failures.map((f) => f.check))];
}

test("green: the booted host with its manifest's image is affirming, binding key certified", (t) => {
  const v = appraise(evidenceOf(host), policy, NONCE);
  t.deepEqual(v.failures, []);
  t.is(v.status, "affirming");
  t.deepEqual(v.image, { name: manifest.version, version: manifest.version });
  t.true(v.secureBoot);
  t.truthy(v.bindingKey);
});

test("red: a wrong nonce is quote-nonce", (t) => {
  t.deepEqual(codes(evidenceOf(host), policy, new Uint8Array(32)), ["quote-nonce"]);
});

test("red: a quote by another AK is quote-signature", (t) => {
  t.deepEqual(codes({ ...evidenceOf(host), quote: host.otherQuote.quoted, signature: host.otherQuote.signature }), ["quote-signature"]);
});

test("red: a tampered quote is quote-signature", (t) => {
  const quote = new Uint8Array(host.quote.quoted);
  quote[quote.length - 1] ^= 1; // the last byte of the PCR digest
  t.deepEqual(codes({ ...evidenceOf(host), quote }), ["quote-signature", "quote-pcr-digest"]);
});

test("red: a corrupted signature fails under every policy, even one selecting no PCRs", (t) => {
  const signature = new Uint8Array(host.quote.signature);
  signature[signature.length - 1] ^= 1;
  for (const p of [policy, { ...policy, pcrs: {} }, { ...policy, pcrs: {}, images: [], secureBootRequired: false }]) {
    t.true(codes({ ...evidenceOf(host), signature }, p).includes("quote-signature"));
  }
  t.deepEqual(codes({ ...evidenceOf(host), signature }, { ...policy, pcrs: {} }), ["quote-signature", "pcr-selection"]);
});

test("red: PCR values that do not match the quote are quote-pcr-digest", (t) => {
  const pcrs: PcrBanks = new Map([[TPM_ALG.SHA256, new Map(host.quote.pcrs.get(TPM_ALG.SHA256))]]);
  pcrs.get(TPM_ALG.SHA256)?.set(9, new Uint8Array(32).fill(9));
  const v = appraise({ ...evidenceOf(host), pcrs }, policy, NONCE);
  t.true(v.failures.some((f) => f.check === "quote-pcr-digest"));
  t.deepEqual(
    v.failures.filter((f) => f.check === "log-replay").map((f) => [f.bank, f.pcr]),
    [["sha256", 9]],
  );
});

test("red: a log that does not replay is log-replay naming the PCR and the event", (t) => {
  const eventLog = tamperLog(host.log, 5, { rehash: true });
  const v = appraise({ ...evidenceOf(host), eventLog }, policy, NONCE);
  const f = v.failures.filter((x) => x.check === "log-replay");
  t.true(f.length >= 1);
  t.is(typeof f[0].pcr, "number");
  t.is(typeof f[0].event, "number");
  t.false(codes({ ...evidenceOf(host), eventLog }).includes("quote-signature"));
});

test("red: a kernel in no accepted image is image-unknown naming the kernel and the closest image", (t) => {
  const other = imageFromManifest(withKernel(manifest, "5eed".repeat(16)), { name: "next", version: "2" });
  const v = appraise(evidenceOf(host), { ...policy, images: [other] }, NONCE);
  t.deepEqual([...new Set(v.failures.map((f) => f.check))], ["image-unknown"]);
  t.true(v.failures.every((f) => f.image === "next 2"));
  t.regex(v.failures[0].component ?? "", /kernel/);
  t.is(v.failures[0].expected, "5eed".repeat(16));
});

test("red: Secure Boot off is secure-boot-off (and its image differs)", (t) => {
  const v = appraise(evidenceOf(sbOff), policy, NONCE);
  t.deepEqual([...new Set(v.failures.map((f) => f.check))], ["secure-boot-off", "image-unknown"]);
  t.false(v.secureBoot);
  t.deepEqual(codes(evidenceOf(sbOff), { ...policy, images: [] }).slice(0, 1), ["secure-boot-off"]);
});

test("red: a binding key certified by another AK is binding-key", (t) => {
  t.deepEqual(codes({ ...evidenceOf(host), bindingKey: host.bindingByOther }), ["binding-key"]);
});

test("a certification that verified is remembered per AK, and only for the same bytes: the same certification under the other AK, or with one bit of it changed, still fails", (t) => {
  const good = evidenceOf(host);
  t.deepEqual(codes(good), []);
  t.deepEqual(codes({ ...good, akPublic: new Uint8Array(host.ak.publicBytes) }), [], "the same AK in new bytes: the remembered certification");
  // The other AK with its own quote: the only failure left is that the host's certification is not by it.
  const byOther: Evidence = { ...good, akPublic: host.otherAk.publicBytes, quote: host.otherQuote.quoted, signature: host.otherQuote.signature };
  t.deepEqual(codes(byOther), ["binding-key"]);
  t.deepEqual(codes({ ...byOther, bindingKey: host.bindingByOther }), [], "the other AK's own certification of the key");
  t.deepEqual(codes(byOther), ["binding-key"], "still, once the other AK has verified a certification of its own");
  const signature = new Uint8Array(host.binding.signature);
  signature[signature.length - 1] ^= 1;
  t.deepEqual(codes({ ...good, bindingKey: { ...host.binding, signature } }), ["binding-key"]);
  const certifyInfo = new Uint8Array(host.binding.certifyInfo);
  certifyInfo[certifyInfo.length - 1] ^= 1;
  t.deepEqual(codes({ ...good, bindingKey: { ...host.binding, certifyInfo } }), ["binding-key"]);
  // The AK given decoded (a caller's object, which it may change): checked afresh, with the same verdicts.
  const decoded = { ...good, akPublic: unmarshalPublic(host.ak.publicBytes) };
  t.deepEqual(codes(decoded), []);
  t.deepEqual(codes({ ...decoded, bindingKey: { ...host.binding, signature } }), ["binding-key"]);
  t.deepEqual(codes(good), []);
});

test("red: a signing key certified by the AK (qualifyingData the nonce) is not a binding key: binding-key naming the attributes", (t) => {
  const v = appraise({ ...evidenceOf(host), bindingKey: host.signingKeyCertified }, policy, NONCE);
  t.deepEqual(
    v.failures.map((f) => [f.check, f.detail]),
    [
      ["binding-key", "the binding key's scheme is neither null nor OAEP"],
      ["binding-key", "the binding key is not a fixed decryption key: decrypt clear, sign set, restricted set"],
    ],
  );
  t.deepEqual(codes({ ...evidenceOf(host), bindingKey: host.signingKeyCertified }, policy, new Uint8Array(32)), ["quote-nonce", "binding-key"]);
});

test("red: log events of PCRs the quote does not cover do not count: the kernel grub measured (PCR 9) is then missing", (t) => {
  const e = { ...evidenceOf(host), ...host.narrowQuote, quote: host.narrowQuote.quoted };
  const v = appraise(e, { ...policy, pcrs: { sha256: [0, 1, 2, 3, 4, 5, 6, 7] } }, NONCE);
  t.deepEqual([...new Set(v.failures.map((f) => f.check))], ["image-unknown"]);
  t.deepEqual(
    v.failures.map((f) => f.component),
    ["kernel", "initrd", "kernelCommandLine", "softwareVersion"],
  );
});

test("red: an empty policy accepts nothing", (t) => {
  t.deepEqual(codes(evidenceOf(host), { images: [], pcrs: {}, secureBootRequired: false }), ["pcr-selection", "image-unknown"]);
});

test("tactl ta appraise on the files: exit 0 green with the manifest, exit 1 with each failed check", async (t) => {
  const f = (n: string) => path.join(dir, n);
  await writeFile(f("ak.pub"), host.ak.publicBytes);
  await writeFile(f("quote.msg"), host.quote.quoted);
  await writeFile(f("quote.sig"), host.quote.signature);
  await writeFile(f("eventlog.bin"), host.log);
  const pcrs = Object.fromEntries([...(host.quote.pcrs.get(TPM_ALG.SHA256) ?? [])].map(([i, v]) => [String(i), toHex(v)]));
  await writeFile(f("pcrs.json"), JSON.stringify({ sha256: pcrs }));
  await writeFile(f("manifest.json"), JSON.stringify(manifest));
  await writeFile(f("key.pub"), host.binding.public);
  await writeFile(f("certify.info"), host.binding.certifyInfo);
  await writeFile(f("certify.sig"), host.binding.signature);
  await writeFile(f("other-certify.sig"), host.bindingByOther.signature);
  await writeFile(f("other-certify.info"), host.bindingByOther.certifyInfo);
  const base = [
    "ta",
    "appraise",
    "--ak",
    f("ak.pub"),
    "--quote",
    f("quote.msg"),
    "--sig",
    f("quote.sig"),
    "--log",
    f("eventlog.bin"),
    "--pcrs",
    f("pcrs.json"),
  ];
  const sel = ["--select", "sha256:0,1,2,3,4,5,6,7,8,9,14", "--nonce", toHex(NONCE), "--image", f("manifest.json")];
  const green = await tactl(...base, ...sel, "--binding-key", f("key.pub"), "--certify-info", f("certify.info"), "--certify-sig", f("certify.sig"), "--json");
  t.is(green.code, 0, green.out + green.err);
  t.is(JSON.parse(green.out).status, "affirming");
  t.true(JSON.parse(green.out).bindingKeyCertified);
  const red = await tactl(
    ...base,
    ...sel,
    "--binding-key",
    f("key.pub"),
    "--certify-info",
    f("other-certify.info"),
    "--certify-sig",
    f("other-certify.sig"),
    "--json",
  );
  t.is(red.code, 1);
  t.deepEqual([...new Set(JSON.parse(red.out).failures.map((x: { check: string }) => x.check))], ["binding-key"]);
  const nonce = await tactl(...base, "--select", "sha256:0-7", "--nonce", "00", "--image", f("manifest.json"));
  t.is(nonce.code, 1);
  t.regex(nonce.out, /quote-nonce: the quote's extraData is not the nonce/);
});
