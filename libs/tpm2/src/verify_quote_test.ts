// Quote verification against real data (a Windows VM on GCP Shielded VM, from go-attestation), each tampering
// mapped to its TpmVerifyError code, and software-signed quotes (RSASSA, RSA-PSS, ECDSA P-256/P-384) for the
// checks a real quote cannot exercise (magic, type, PSS, short ECDSA values). The AK's Name and the quote's
// signature are also checked with OpenSSL and tpm2-tools, which must be installed.
import test from "ava";
import { constants, createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TPM_ALG, TPM_ECC_CURVE, TPM_GENERATED_VALUE, TPM_ST } from "./constants.ts";
import { TpmDecodeError, TpmVerifyError, type TpmVerifyCode } from "./errors.ts";
import { fromHex, toHex } from "./hex.ts";
import { objectName } from "./name.ts";
import type { PcrBanks } from "./pcr.ts";
import { publicKeyPem } from "./public_key.ts";
import { marshal, unmarshal } from "./schema.ts";
import {
  TPM2B_PUBLIC,
  TPMS_ATTEST,
  TPMS_CREATION_DATA,
  TPMT_PUBLIC,
  TPMT_SIGNATURE,
  type TpmsAttest,
  type TpmsPcrSelection,
  type TpmsQuoteInfo,
  type TpmtPublic,
  type TpmtSignature,
} from "./structures.ts";
import { verifyQuote } from "./verify_quote.ts";
import { verifySignature } from "./verify_signature.ts";
import { fixturesRoot } from "@tessera/fixtures";
const SHARED_FIXTURES = fixturesRoot();

type TpmsCreationInfoValue = { objectName: Uint8Array; creationHash: Uint8Array };

// ---------------------------------------------------------------------------------------------
// The fixture

interface Fixture {
  AK: { Public: string; CreateData: string; CreateAttestation: string; CreateSignature: string };
  Quote: { Quote: string; Signature: string; Nonce: string };
  Log: { PCRs: { Index: number; Digest: string; DigestAlg: number }[] };
}
const fx = JSON.parse(readFileSync(SHARED_FIXTURES + "/attestations/go-attestation_windows_gcp_shielded_vm.json", "utf8")) as Fixture;
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));

// Despite the fixtures README ("TPM2B_PUBLIC"), AK.Public is a bare TPMT_PUBLIC: it starts with type 0x0001.
const AK_BYTES = b64(fx.AK.Public);
const AK = unmarshal(TPMT_PUBLIC, AK_BYTES);
const QUOTE = b64(fx.Quote.Quote);
const SIG = b64(fx.Quote.Signature);
const NONCE = b64(fx.Quote.Nonce);

/** Go's crypto.Hash numbering (crypto.SHA1 = 3, crypto.SHA256 = 5, …) to TPM_ALG_ID. */
function goHash(h: number): number {
  const map: Record<number, number> = { 3: TPM_ALG.SHA1, 5: TPM_ALG.SHA256, 6: TPM_ALG.SHA384, 7: TPM_ALG.SHA512 };
  const alg = map[h];
  if (alg === undefined) throw new Error(`unknown Go crypto.Hash ${h}`);
  return alg;
}

function fixturePcrs(): PcrBanks {
  const banks: PcrBanks = new Map();
  for (const p of fx.Log.PCRs) {
    const alg = goHash(p.DigestAlg);
    if (!banks.has(alg)) banks.set(alg, new Map());
    banks.get(alg)?.set(p.Index, b64(p.Digest));
  }
  return banks;
}

function verifyCode(fn: () => unknown): TpmVerifyCode {
  try {
    fn();
  } catch (e) {
    if (e instanceof TpmVerifyError) return e.code;
    throw e;
  }
  throw new Error("expected a TpmVerifyError, nothing was thrown");
}

function run(cmd: string, args: string[], input?: Uint8Array): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(cmd, args, { input, encoding: "utf8" });
  if (r.error) throw new Error(`${cmd} is required for this test and could not be run: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "tpm2-quote-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Real quote

test("the fixture's AK is a restricted RSA-2048 signing key with RSASSA-SHA1", (t) => {
  t.is(AK.type, TPM_ALG.RSA);
  t.is(AK.nameAlg, TPM_ALG.SHA256);
  t.is(AK.objectAttributes, 0x00050472);
  t.deepEqual(AK.parameters, {
    symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null },
    scheme: { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA1 } },
    keyBits: 2048,
    exponent: 0,
  });
  t.is((AK.unique as Uint8Array).length, 256);
  t.is(toHex(marshal(TPMT_PUBLIC, AK)), toHex(AK_BYTES));
});

test("the fixture's AK Name is 000b4ce9…717e2e", (t) => {
  t.is(toHex(objectName(AK)), "000b4ce9b151f75089d74c15dabe9d520cffafbcafd5d43be0aad2e2d88d54717e2e");
});

test("the AK Name agrees with OpenSSL's SHA-256 of the TPMT_PUBLIC", (t) => {
  const out = run("openssl", ["dgst", "-sha256", "-hex"], AK_BYTES);
  t.is(out.status, 0, out.stderr);
  const m = /([0-9a-f]{64})\s*$/.exec(out.stdout);
  t.truthy(m, out.stdout);
  t.is("000b" + (m?.[1] ?? ""), toHex(objectName(AK)));
});

test("the TPM itself named the AK the same: CertifyCreation's objectName and creationHash", (t) => {
  const attest = unmarshal(TPMS_ATTEST, b64(fx.AK.CreateAttestation));
  t.is(attest.type, TPM_ST.ATTEST_CREATION);
  const info = attest.attested as TpmsCreationInfoValue;
  t.is(toHex(info.objectName), toHex(objectName(AK)));
  const createData = b64(fx.AK.CreateData);
  t.notThrows(() => unmarshal(TPMS_CREATION_DATA, createData));
  t.is(toHex(info.creationHash), createHash("sha256").update(createData).digest("hex"));
  t.notThrows(() => verifySignature(AK, b64(fx.AK.CreateAttestation), unmarshal(TPMT_SIGNATURE, b64(fx.AK.CreateSignature))));
  // A creation attestation is not a quote.
  t.is(
    verifyCode(() => verifyQuote(AK, b64(fx.AK.CreateAttestation), b64(fx.AK.CreateSignature), { nonce: attest.extraData })),
    "TPM2_VERIFY_TYPE",
  );
});

test("tpm2_print reads the AK public area as we do, and exports the same public key", (t) => {
  withTempDir((dir) => {
    const file = join(dir, "ak.pub");
    writeFileSync(file, marshal(TPM2B_PUBLIC, AK));
    const yaml = run("tpm2_print", ["-t", "TPM2B_PUBLIC", file]);
    t.is(yaml.status, 0, yaml.stderr);
    t.true(yaml.stdout.includes("raw: 0x50472"), yaml.stdout);
    t.true(yaml.stdout.includes(`rsa: ${toHex(AK.unique as Uint8Array)}`), yaml.stdout);
    t.true(yaml.stdout.includes(`authorization policy: ${toHex(AK.authPolicy)}`), yaml.stdout);
    const pem = run("tpm2_print", ["-t", "TPM2B_PUBLIC", "-f", "pem", file]);
    t.is(pem.status, 0, pem.stderr);
    t.is(pem.stdout.trim(), publicKeyPem(AK).trim());
  });
});

test("OpenSSL verifies the fixture's quote signature too", (t) => {
  withTempDir((dir) => {
    const sig = unmarshal(TPMT_SIGNATURE, SIG).signature as { hash: number; sig: Uint8Array };
    writeFileSync(join(dir, "ak.pem"), publicKeyPem(AK));
    writeFileSync(join(dir, "sig.bin"), sig.sig);
    writeFileSync(join(dir, "quote.bin"), QUOTE);
    const out = run("openssl", ["dgst", "-sha1", "-verify", join(dir, "ak.pem"), "-signature", join(dir, "sig.bin"), join(dir, "quote.bin")]);
    t.is(out.status, 0, out.stderr);
    t.regex(out.stdout, /Verified OK/);
  });
});

test("the fixture's quote verifies, with and without the PCR values", (t) => {
  const pcrs = fixturePcrs();
  t.deepEqual([...pcrs.keys()], [TPM_ALG.SHA1]);
  t.is(pcrs.get(TPM_ALG.SHA1)?.size, 24);
  const v = verifyQuote(AK, QUOTE, SIG, { nonce: NONCE, pcrs });
  t.is(v.hashAlg, TPM_ALG.SHA1);
  t.true(v.pcrsChecked);
  t.deepEqual(v.quote.pcrSelect, [{ hash: TPM_ALG.SHA1, pcrSelect: fromHex("ffffff") }]);
  t.is(v.attest.magic, TPM_GENERATED_VALUE);
  t.is(v.attest.type, TPM_ST.ATTEST_QUOTE);
  t.is(v.attest.extraData.length, 0);
  const noPcrs = verifyQuote(AK, QUOTE, unmarshal(TPMT_SIGNATURE, SIG), { nonce: NONCE });
  t.false(noPcrs.pcrsChecked);
  // The PCR digest is SHA-1 over PCRs 0..23 in order, computed here independently.
  const h = createHash("sha1");
  for (let i = 0; i < 24; i++) h.update(pcrs.get(TPM_ALG.SHA1)?.get(i) ?? new Uint8Array());
  t.is(toHex(v.quote.pcrDigest), h.digest("hex"));
});

test("flipping any byte of the quote fails the signature check", (t) => {
  for (let i = 0; i < QUOTE.length; i++) {
    const q = QUOTE.slice();
    q[i] ^= 0x01;
    t.is(
      verifyCode(() => verifyQuote(AK, q, SIG, { nonce: NONCE, pcrs: fixturePcrs() })),
      "TPM2_VERIFY_SIGNATURE",
      `byte ${i}`,
    );
  }
  t.is(
    verifyCode(() => verifyQuote(AK, QUOTE.subarray(0, QUOTE.length - 1), SIG, { nonce: NONCE })),
    "TPM2_VERIFY_SIGNATURE",
  );
});

test("a flipped signature byte fails the signature check", (t) => {
  const sig = unmarshal(TPMT_SIGNATURE, SIG);
  const body = sig.signature as { hash: number; sig: Uint8Array };
  for (const i of [0, 1, 100, 255]) {
    const s = body.sig.slice();
    s[i] ^= 0x80;
    t.is(
      verifyCode(() => verifyQuote(AK, QUOTE, { ...sig, signature: { ...body, sig: s } }, { nonce: NONCE })),
      "TPM2_VERIFY_SIGNATURE",
    );
  }
  // A signature whose hash disagrees with the key's RSASSA-SHA1 scheme is refused before any RSA.
  t.is(
    verifyCode(() => verifyQuote(AK, QUOTE, { ...sig, signature: { ...body, hash: TPM_ALG.SHA256 } }, { nonce: NONCE })),
    "TPM2_VERIFY_SCHEME",
  );
});

test("a wrong nonce fails the nonce check", (t) => {
  t.is(
    verifyCode(() => verifyQuote(AK, QUOTE, SIG, { nonce: fromHex("00") })),
    "TPM2_VERIFY_NONCE",
  );
  t.is(
    verifyCode(() => verifyQuote(AK, QUOTE, SIG, { nonce: new Uint8Array(32) })),
    "TPM2_VERIFY_NONCE",
  );
});

test("a changed PCR value fails the PCR digest check", (t) => {
  for (const index of [0, 7, 14, 23]) {
    const pcrs = fixturePcrs();
    const v = pcrs.get(TPM_ALG.SHA1)?.get(index)?.slice() ?? new Uint8Array(20);
    v[0] ^= 1;
    pcrs.get(TPM_ALG.SHA1)?.set(index, v);
    t.is(
      verifyCode(() => verifyQuote(AK, QUOTE, SIG, { nonce: NONCE, pcrs })),
      "TPM2_VERIFY_PCR_DIGEST",
      `PCR ${index}`,
    );
  }
});

test("a missing PCR value fails the PCR selection check", (t) => {
  const pcrs = fixturePcrs();
  pcrs.get(TPM_ALG.SHA1)?.delete(10);
  const e = t.throws(() => verifyQuote(AK, QUOTE, SIG, { nonce: NONCE, pcrs }), { instanceOf: TpmVerifyError });
  t.is(e?.code, "TPM2_VERIFY_PCR_SELECTION");
  t.regex(e?.message ?? "", /sha1:10/);
  // Values of the wrong bank only do not help either.
  const other: PcrBanks = new Map([[TPM_ALG.SHA256, fixturePcrs().get(TPM_ALG.SHA1) ?? new Map()]]);
  t.is(
    verifyCode(() => verifyQuote(AK, QUOTE, SIG, { nonce: NONCE, pcrs: other })),
    "TPM2_VERIFY_PCR_SELECTION",
  );
  // Extra values outside the selection are ignored.
  const extra = fixturePcrs();
  extra.set(TPM_ALG.SHA256, new Map([[0, new Uint8Array(32)]]));
  t.notThrows(() => verifyQuote(AK, QUOTE, SIG, { nonce: NONCE, pcrs: extra }));
});

test("a signature checked against another key fails the signature check", (t) => {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const other = rsaPublic(publicKey, { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA1 } });
  t.is(
    verifyCode(() => verifyQuote(other, QUOTE, SIG, { nonce: NONCE })),
    "TPM2_VERIFY_SIGNATURE",
  );
  const ecc = generateKeyPairSync("ec", { namedCurve: "P-256" });
  t.is(
    verifyCode(() => verifyQuote(eccPublic(ecc.publicKey, TPM_ALG.SHA256), QUOTE, SIG, { nonce: NONCE })),
    "TPM2_VERIFY_SCHEME",
  );
});

test("malformed signature or quote bytes are TpmDecodeErrors", (t) => {
  t.throws(() => verifyQuote(AK, QUOTE, SIG.subarray(0, 10), { nonce: NONCE }), { instanceOf: TpmDecodeError });
  // A validly signed blob that is not a TPMS_ATTEST.
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ak = rsaPublic(publicKey, { scheme: TPM_ALG.NULL, details: null });
  const garbage = fromHex("ff5443478018");
  t.throws(() => verifyQuote(ak, garbage, rsassa(privateKey, garbage, TPM_ALG.SHA256), { nonce: NONCE }), {
    instanceOf: TpmDecodeError,
    message: /^Cannot decode TPMS_ATTEST\.qualifiedSigner at byte 6/,
  });
});

// ---------------------------------------------------------------------------------------------
// Software-signed quotes

type RsaScheme = { scheme: number; details: { hashAlg: number } | null };
const HASH: Record<number, string> = { [TPM_ALG.SHA1]: "sha1", [TPM_ALG.SHA256]: "sha256", [TPM_ALG.SHA384]: "sha384" };
const DIGEST_LEN: Record<number, number> = { [TPM_ALG.SHA1]: 20, [TPM_ALG.SHA256]: 32, [TPM_ALG.SHA384]: 48 };

function b64u(s: string | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(s ?? "", "base64url"));
}

/** A TPMT_PUBLIC for an RSA public key, built from its JWK (an exponent of 65537 is written as 0, as TPMs do). */
function rsaPublic(key: KeyObject, scheme: RsaScheme): TpmtPublic {
  const jwk = key.export({ format: "jwk" });
  const n = b64u(jwk.n);
  let e = 0;
  for (const b of b64u(jwk.e)) e = e * 256 + b;
  return {
    type: TPM_ALG.RSA,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: 0x00050072,
    authPolicy: new Uint8Array(),
    parameters: { symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null }, scheme, keyBits: n.length * 8, exponent: e === 65537 ? 0 : e },
    unique: n,
  };
}

/** A TPMT_PUBLIC for a P-256/P-384 key with an ECDSA scheme, from its JWK. */
function eccPublic(key: KeyObject, hashAlg: number): TpmtPublic {
  const jwk = key.export({ format: "jwk" });
  const curveID = jwk.crv === "P-384" ? TPM_ECC_CURVE.NIST_P384 : TPM_ECC_CURVE.NIST_P256;
  return {
    type: TPM_ALG.ECC,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: 0x00050072,
    authPolicy: new Uint8Array(),
    parameters: {
      symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null },
      scheme: { scheme: TPM_ALG.ECDSA, details: { hashAlg } },
      curveID,
      kdf: { scheme: TPM_ALG.NULL, details: null },
    },
    unique: { x: b64u(jwk.x), y: b64u(jwk.y) },
  };
}

function rsassa(key: KeyObject, msg: Uint8Array, hashAlg: number): TpmtSignature {
  const sig = sign(HASH[hashAlg], msg, { key, padding: constants.RSA_PKCS1_PADDING });
  return { sigAlg: TPM_ALG.RSASSA, signature: { hash: hashAlg, sig: new Uint8Array(sig) } };
}

function rsapss(key: KeyObject, msg: Uint8Array, hashAlg: number, saltLength: number): TpmtSignature {
  const sig = sign(HASH[hashAlg], msg, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
  return { sigAlg: TPM_ALG.RSAPSS, signature: { hash: hashAlg, sig: new Uint8Array(sig) } };
}

function ecdsaRaw(key: KeyObject, msg: Uint8Array, hashAlg: number): { r: Uint8Array; s: Uint8Array } {
  const rs = new Uint8Array(sign(HASH[hashAlg], msg, { key, dsaEncoding: "ieee-p1363" }));
  return { r: rs.subarray(0, rs.length / 2), s: rs.subarray(rs.length / 2) };
}

function ecdsa(hashAlg: number, r: Uint8Array, s: Uint8Array): TpmtSignature {
  return { sigAlg: TPM_ALG.ECDSA, signature: { hash: hashAlg, signatureR: r, signatureS: s } };
}

/** PCR values for a SHA-256 bank, PCRs 0..7, and the selection covering them. */
function somePcrs(bank: number = TPM_ALG.SHA256): { pcrs: PcrBanks; sel: TpmsPcrSelection[] } {
  const values = new Map<number, Uint8Array>();
  for (let i = 0; i < 8; i++) values.set(i, createHash(HASH[bank]).update(`pcr ${i}`).digest());
  return { pcrs: new Map([[bank, values]]), sel: [{ hash: bank, pcrSelect: fromHex("ff0000") }] };
}

/** The quote's PCR digest, computed here: H(PCR0 || … || PCR7). */
function digestOf(pcrs: PcrBanks, bank: number, hashAlg: number): Uint8Array {
  const h = createHash(HASH[hashAlg]);
  for (let i = 0; i < 8; i++) h.update(pcrs.get(bank)?.get(i) ?? new Uint8Array());
  return new Uint8Array(h.digest());
}

function attestBytes(over: Partial<TpmsAttest> & { nonce: Uint8Array; quote?: TpmsQuoteInfo }): Uint8Array {
  const value: TpmsAttest = {
    magic: over.magic ?? TPM_GENERATED_VALUE,
    type: over.type ?? TPM_ST.ATTEST_QUOTE,
    qualifiedSigner: fromHex("000b" + "5a".repeat(32)),
    extraData: over.nonce,
    clockInfo: { clock: 123456n, resetCount: 2, restartCount: 0, safe: 1 },
    firmwareVersion: 0x2000_0001_0000_0002n,
    attested: over.attested ?? over.quote ?? { pcrSelect: [], pcrDigest: new Uint8Array(32) },
  };
  return marshal(TPMS_ATTEST, value);
}

const NONCE2 = fromHex("0123456789abcdef0123456789abcdef");

test("software quote: RSASSA-SHA256 verifies, with PCRs", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ak = rsaPublic(publicKey, { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA256 } });
  const { pcrs, sel } = somePcrs();
  const quoted = attestBytes({ nonce: NONCE2, quote: { pcrSelect: sel, pcrDigest: digestOf(pcrs, TPM_ALG.SHA256, TPM_ALG.SHA256) } });
  const sig = rsassa(privateKey, quoted, TPM_ALG.SHA256);
  const v = verifyQuote(ak, quoted, sig, { nonce: NONCE2, pcrs });
  t.true(v.pcrsChecked);
  t.is(v.hashAlg, TPM_ALG.SHA256);
  // The same, with the signature as bytes (tpm2_quote -s).
  t.notThrows(() => verifyQuote(ak, quoted, marshal(TPMT_SIGNATURE, sig), { nonce: NONCE2, pcrs }));
});

test("software quote: a key with an explicit exponent 3 and a NULL scheme", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 });
  const ak = rsaPublic(publicKey, { scheme: TPM_ALG.NULL, details: null });
  t.is((ak.parameters as { exponent: number }).exponent, 3);
  const quoted = attestBytes({ nonce: NONCE2 });
  t.notThrows(() => verifyQuote(ak, quoted, rsassa(privateKey, quoted, TPM_ALG.SHA256), { nonce: NONCE2 }));
  // A NULL-scheme key takes PSS too.
  t.notThrows(() => verifyQuote(ak, quoted, rsapss(privateKey, quoted, TPM_ALG.SHA256, 32), { nonce: NONCE2 }));
});

test("software quote: RSA-PSS verifies with the salt lengths TPMs use", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  for (const hashAlg of [TPM_ALG.SHA256, TPM_ALG.SHA384]) {
    const ak = rsaPublic(publicKey, { scheme: TPM_ALG.RSAPSS, details: { hashAlg } });
    const { pcrs, sel } = somePcrs();
    const quoted = attestBytes({ nonce: NONCE2, quote: { pcrSelect: sel, pcrDigest: digestOf(pcrs, TPM_ALG.SHA256, hashAlg) } });
    // Salt = digest length (TCG reference implementation) and the maximum (FIPS 186-4 TPMs).
    for (const salt of [DIGEST_LEN[hashAlg], constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      t.notThrows(() => verifyQuote(ak, quoted, rsapss(privateKey, quoted, hashAlg, salt), { nonce: NONCE2, pcrs }), `salt ${salt}`);
    }
    // PSS signature against a key whose scheme is PSS but checked as PKCS#1 v1.5: refused by scheme.
    t.is(
      verifyCode(() => verifyQuote(ak, quoted, rsassa(privateKey, quoted, hashAlg), { nonce: NONCE2 })),
      "TPM2_VERIFY_SCHEME",
    );
    // A PSS signature relabelled as RSASSA on a NULL-scheme key does not verify.
    const nullAk = rsaPublic(publicKey, { scheme: TPM_ALG.NULL, details: null });
    const pss = rsapss(privateKey, quoted, hashAlg, DIGEST_LEN[hashAlg]);
    t.is(
      verifyCode(() => verifyQuote(nullAk, quoted, { ...pss, sigAlg: TPM_ALG.RSASSA }, { nonce: NONCE2 })),
      "TPM2_VERIFY_SIGNATURE",
    );
  }
});

test("software quote: a wrong magic fails the magic check", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ak = rsaPublic(publicKey, { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA256 } });
  for (const magic of [0, 0xff544346, 0x474354ff]) {
    const quoted = attestBytes({ nonce: NONCE2, magic });
    const e = t.throws(() => verifyQuote(ak, quoted, rsassa(privateKey, quoted, TPM_ALG.SHA256), { nonce: NONCE2 }), { instanceOf: TpmVerifyError });
    t.is(e?.code, "TPM2_VERIFY_MAGIC");
  }
});

test("software quote: another attestation type fails the type check", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ak = eccPublic(publicKey, TPM_ALG.SHA256);
  const name = fromHex("000b" + "77".repeat(32));
  const others: [number, TpmsAttest["attested"]][] = [
    [TPM_ST.ATTEST_CERTIFY, { name, qualifiedName: name }],
    [TPM_ST.ATTEST_CREATION, { objectName: name, creationHash: new Uint8Array(32) }],
    [TPM_ST.ATTEST_TIME, { time: { time: 1n, clockInfo: { clock: 1n, resetCount: 0, restartCount: 0, safe: 1 } }, firmwareVersion: 1n }],
    [TPM_ST.ATTEST_NV, { indexName: name, offset: 0, nvContents: fromHex("00") }],
    [TPM_ST.ATTEST_SESSION_AUDIT, { exclusiveSession: 0, sessionDigest: new Uint8Array(32) }],
    [TPM_ST.ATTEST_COMMAND_AUDIT, { auditCounter: 1n, digestAlg: TPM_ALG.SHA256, auditDigest: new Uint8Array(32), commandDigest: new Uint8Array(32) }],
    [TPM_ST.ATTEST_NV_DIGEST, { indexName: name, nvDigest: new Uint8Array(32) }],
  ];
  for (const [type, attested] of others) {
    const quoted = attestBytes({ nonce: NONCE2, type, attested });
    const { r, s } = ecdsaRaw(privateKey, quoted, TPM_ALG.SHA256);
    t.is(
      verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, r, s), { nonce: NONCE2 })),
      "TPM2_VERIFY_TYPE",
      type.toString(16),
    );
  }
});

test("software quote: ECDSA P-256 verifies, and tampering is caught", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ak = eccPublic(publicKey, TPM_ALG.SHA256);
  const { pcrs, sel } = somePcrs();
  const quoted = attestBytes({ nonce: NONCE2, quote: { pcrSelect: sel, pcrDigest: digestOf(pcrs, TPM_ALG.SHA256, TPM_ALG.SHA256) } });
  const { r, s } = ecdsaRaw(privateKey, quoted, TPM_ALG.SHA256);
  t.notThrows(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, r, s), { nonce: NONCE2, pcrs }));
  const r2 = r.slice();
  r2[5] ^= 1;
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, r2, s), { nonce: NONCE2 })),
    "TPM2_VERIFY_SIGNATURE",
  );
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, s, r), { nonce: NONCE2 })),
    "TPM2_VERIFY_SIGNATURE",
  );
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, r, s), { nonce: NONCE })),
    "TPM2_VERIFY_NONCE",
  );
  const changed = new Map([[TPM_ALG.SHA256, new Map(pcrs.get(TPM_ALG.SHA256))]]);
  changed.get(TPM_ALG.SHA256)?.set(3, new Uint8Array(32));
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, r, s), { nonce: NONCE2, pcrs: changed })),
    "TPM2_VERIFY_PCR_DIGEST",
  );
  // Empty values never verify.
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, new Uint8Array(), new Uint8Array()), { nonce: NONCE2 })),
    "TPM2_VERIFY_SIGNATURE",
  );
  // An ECDSA signature with the wrong hash for the key's scheme.
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA384, r, s), { nonce: NONCE2 })),
    "TPM2_VERIFY_SCHEME",
  );
});

test("software quote: ECDSA with short r or s (leading zero bytes stripped) verifies", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ak = eccPublic(publicKey, TPM_ALG.SHA256);
  const quoted = attestBytes({ nonce: NONCE2 });
  let shortR: { r: Uint8Array; s: Uint8Array } | undefined;
  let shortS: { r: Uint8Array; s: Uint8Array } | undefined;
  for (let i = 0; i < 40000 && (!shortR || !shortS); i++) {
    const rs = ecdsaRaw(privateKey, quoted, TPM_ALG.SHA256);
    if (!shortR && rs.r[0] === 0) shortR = rs;
    if (!shortS && rs.s[0] === 0) shortS = rs;
  }
  if (!shortR || !shortS) {
    t.fail("no signature with a leading zero byte in 40000 tries");
    return;
  }
  const strip = (b: Uint8Array): Uint8Array => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  };
  t.true(strip(shortR.r).length < 32);
  t.notThrows(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, strip(shortR.r), shortR.s), { nonce: NONCE2 }));
  t.true(strip(shortS.s).length < 32);
  t.notThrows(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, shortS.r, strip(shortS.s)), { nonce: NONCE2 }));
  // The fixed-size form verifies as well, and so does a DER-style extra leading zero.
  t.notThrows(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, shortR.r, shortR.s), { nonce: NONCE2 }));
  const { r, s } = ecdsaRaw(privateKey, quoted, TPM_ALG.SHA256);
  const padded = new Uint8Array([0, ...r]);
  t.notThrows(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, padded, s), { nonce: NONCE2 }));
  // A value longer than the curve with a non-zero top byte cannot be an ECDSA value.
  const tooLong = new Uint8Array([1, ...r]);
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA256, tooLong, s), { nonce: NONCE2 })),
    "TPM2_VERIFY_SIGNATURE",
  );
});

test("software quote: ECDSA P-384 with SHA-384", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const ak = eccPublic(publicKey, TPM_ALG.SHA384);
  const { pcrs, sel } = somePcrs(TPM_ALG.SHA384);
  const quoted = attestBytes({ nonce: NONCE2, quote: { pcrSelect: sel, pcrDigest: digestOf(pcrs, TPM_ALG.SHA384, TPM_ALG.SHA384) } });
  const { r, s } = ecdsaRaw(privateKey, quoted, TPM_ALG.SHA384);
  t.is(r.length, 48);
  t.notThrows(() => verifyQuote(ak, quoted, ecdsa(TPM_ALG.SHA384, r, s), { nonce: NONCE2, pcrs }));
});

test("software quote: a PCR digest of the wrong length fails the PCR digest check", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ak = rsaPublic(publicKey, { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA256 } });
  const { sel } = somePcrs();
  const quoted = attestBytes({ nonce: NONCE2, quote: { pcrSelect: sel, pcrDigest: new Uint8Array(20) } });
  const e = t.throws(() => verifyQuote(ak, quoted, rsassa(privateKey, quoted, TPM_ALG.SHA256), { nonce: NONCE2 }), { instanceOf: TpmVerifyError });
  t.is(e?.code, "TPM2_VERIFY_PCR_DIGEST");
});

test("software quote: HMAC and NULL signatures cannot be verified with a public key", (t) => {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ak = rsaPublic(publicKey, { scheme: TPM_ALG.NULL, details: null });
  const quoted = attestBytes({ nonce: NONCE2 });
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, { sigAlg: TPM_ALG.HMAC, signature: { hashAlg: TPM_ALG.SHA256, digest: new Uint8Array(32) } }, { nonce: NONCE2 })),
    "TPM2_VERIFY_SCHEME",
  );
  t.is(
    verifyCode(() => verifyQuote(ak, quoted, { sigAlg: TPM_ALG.NULL, signature: null }, { nonce: NONCE2 })),
    "TPM2_VERIFY_SCHEME",
  );
});
