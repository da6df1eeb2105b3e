// MakeCredential in software, checked by running ActivateCredential's math here (Part 1 §24, Part 3 §12.5)
// with the EK's private key: RSA-OAEP or ECDH + KDFe to recover the seed, KDFa for the keys, the integrity
// HMAC, then AES-CFB. Also published vectors: keylime's test_tpm_util.py (RSA with a fixed seed, ECC with a
// fixed ephemeral key) and chrisfenner/tpm-test-vectors' ECC labeled encapsulation (validated against a TPM).
import test from "ava";
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
} from "node:crypto";
import { TPM_ALG, TPM_ECC_CURVE } from "./constants.ts";
import { TpmEncodeError, TpmUnsupportedError } from "./errors.ts";
import { fromHex, toHex } from "./hex.ts";
import { type Credential, makeCredential, protectSeed } from "./make_credential.ts";
import { objectName } from "./name.ts";
import { marshal, unmarshal } from "./schema.ts";
import { TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT, TPM2B_PUBLIC, TPMS_ECC_POINT, TPMT_PUBLIC, type TpmsEccPoint, type TpmtPublic } from "./structures.ts";
import { akTemplate, ekTemplate } from "./templates.ts";

const HASH: Record<number, [string, number]> = { [TPM_ALG.SHA1]: ["sha1", 20], [TPM_ALG.SHA256]: ["sha256", 32], [TPM_ALG.SHA384]: ["sha384", 48] };
const E = new Uint8Array();

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

// Independent KDFs (SP 800-108 counter mode / SP 800-56A concatenation), whole-octet outputs only.
function kdfa(alg: number, key: Uint8Array, label: string, u: Uint8Array, v: Uint8Array, bits: number): Buffer {
  const [name, size] = HASH[alg];
  const out: Buffer[] = [];
  for (let i = 1; i <= Math.ceil(bits / 8 / size); i++) {
    out.push(
      createHmac(name, key)
        .update(be32(i))
        .update(label + "\0", "latin1")
        .update(u)
        .update(v)
        .update(be32(bits))
        .digest(),
    );
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}
function kdfe(alg: number, z: Uint8Array, label: string, u: Uint8Array, v: Uint8Array, bits: number): Buffer {
  const [name, size] = HASH[alg];
  const out: Buffer[] = [];
  for (let i = 1; i <= Math.ceil(bits / 8 / size); i++)
    out.push(
      createHash(name)
        .update(be32(i))
        .update(z)
        .update(label + "\0", "latin1")
        .update(u)
        .update(v)
        .digest(),
    );
  return Buffer.concat(out).subarray(0, bits / 8);
}

/** Reads a TPM2B (UINT16 size + bytes) at `at` by hand. */
function tpm2b(b: Uint8Array, at: number): { value: Uint8Array; next: number } {
  const size = (b[at] << 8) | b[at + 1];
  if (at + 2 + size > b.length) throw new Error("TPM2B overruns");
  return { value: b.subarray(at + 2, at + 2 + size), next: at + 2 + size };
}

const CURVE: Record<number, { ecdh: string; size: number }> = {
  [TPM_ECC_CURVE.NIST_P256]: { ecdh: "prime256v1", size: 32 },
  [TPM_ECC_CURVE.NIST_P384]: { ecdh: "secp384r1", size: 48 },
};

/** The seed the TPM recovers from the encrypted secret with the EK's private key (Part 1, 11.4.11). */
function recoverSeed(ek: TpmtPublic, ekPrivate: KeyObject, secret: Uint8Array): Uint8Array {
  const [hashName, size] = HASH[ek.nameAlg];
  if (ek.type === TPM_ALG.RSA) {
    return new Uint8Array(
      privateDecrypt({ key: ekPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashName, oaepLabel: Buffer.from("IDENTITY\0") }, secret),
    );
  }
  const curve = CURVE[(ek.parameters as { curveID: number }).curveID];
  const x = tpm2b(secret, 0);
  const y = tpm2b(secret, x.next);
  if (y.next !== secret.length) throw new Error("trailing bytes after the ephemeral point");
  const ecdh = createECDH(curve.ecdh);
  ecdh.setPrivateKey(Buffer.from(ekPrivate.export({ format: "jwk" }).d ?? "", "base64url"));
  const z = ecdh.computeSecret(Buffer.concat([Buffer.from([4]), Buffer.from(x.value), Buffer.from(y.value)]));
  return kdfe(ek.nameAlg, z, "IDENTITY", x.value, (ek.unique as TpmsEccPoint).x, size * 8);
}

/** TPM2_ActivateCredential's checks and decryption, given the recovered seed. Throws on an integrity failure. */
function activate(ek: TpmtPublic, seed: Uint8Array, name: Uint8Array, blob: Uint8Array): Uint8Array {
  const [hashName, size] = HASH[ek.nameAlg];
  const integrity = tpm2b(blob, 0);
  const encIdentity = blob.subarray(integrity.next);
  const hmacKey = kdfa(ek.nameAlg, seed, "INTEGRITY", E, E, size * 8);
  const expected = createHmac(hashName, hmacKey).update(encIdentity).update(name).digest();
  if (toHex(expected) !== toHex(integrity.value)) throw new Error("integrity check failed");
  const sym = (ek.parameters as { symmetric: { keyBits: number } }).symmetric;
  const symKey = kdfa(ek.nameAlg, seed, "STORAGE", name, E, sym.keyBits);
  const d = createDecipheriv(`aes-${sym.keyBits}-cfb`, symKey, Buffer.alloc(16));
  const plain = Buffer.concat([d.update(encIdentity), d.final()]);
  const cred = tpm2b(plain, 0);
  if (cred.next !== plain.length) throw new Error("trailing bytes after the credential");
  return cred.value;
}

function rsaEk(): { ek: TpmtPublic; key: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ek = ekTemplate("rsa2048");
  ek.unique = new Uint8Array(Buffer.from(publicKey.export({ format: "jwk" }).n ?? "", "base64url"));
  return { ek, key: privateKey };
}

function eccEk(kind: "ecc-p256" | "ecc-p256-high" = "ecc-p256"): { ek: TpmtPublic; key: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const ek = ekTemplate(kind);
  ek.unique = { x: new Uint8Array(Buffer.from(jwk.x ?? "", "base64url")), y: new Uint8Array(Buffer.from(jwk.y ?? "", "base64url")) };
  return { ek, key: privateKey };
}

function akName(kind: "rsa" | "ecc" = "rsa"): Uint8Array {
  const ak = akTemplate(kind);
  if (kind === "rsa") ak.unique = new Uint8Array(256).fill(0x5a);
  else ak.unique = { x: new Uint8Array(32).fill(1), y: new Uint8Array(32).fill(2) };
  return objectName(ak);
}

const SECRET = fromHex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

// ---------------------------------------------------------------------------------------------
// Structure

function checkBlob(t: { is: (a: unknown, b: unknown, m?: string) => void; deepEqual: (a: unknown, b: unknown) => void }, c: Credential): void {
  // TPM2B integrityHMAC (32 bytes of SHA-256) then encIdentity: the encrypted TPM2B_DIGEST of a 32-byte secret.
  t.is(c.credentialBlob.length, 2 + 32 + 34);
  t.is(toHex(c.credentialBlob.subarray(0, 2)), "0020");
  // Both outputs fit the TPM2B types TPM2_ActivateCredential takes.
  t.deepEqual(unmarshal(TPM2B_ID_OBJECT, marshal(TPM2B_ID_OBJECT, c.credentialBlob)), c.credentialBlob);
  t.deepEqual(unmarshal(TPM2B_ENCRYPTED_SECRET, marshal(TPM2B_ENCRYPTED_SECRET, c.secret)), c.secret);
}

test("RSA EK: the credential has the right structure and ActivateCredential recovers the secret", (t) => {
  const { ek, key } = rsaEk();
  const name = akName();
  const c = makeCredential(ek, name, SECRET);
  checkBlob(t, c);
  t.is(c.secret.length, 256);
  const seed = recoverSeed(ek, key, c.secret);
  t.is(seed.length, 32);
  t.is(toHex(activate(ek, seed, name, c.credentialBlob)), toHex(SECRET));
});

test("ECC EK: the secret is a TPMS_ECC_POINT on the curve and ActivateCredential recovers the secret", (t) => {
  const { ek, key } = eccEk();
  const name = akName("ecc");
  const c = makeCredential(ek, name, SECRET);
  checkBlob(t, c);
  const point = unmarshal(TPMS_ECC_POINT, c.secret);
  t.is(point.x.length, 32);
  t.is(point.y.length, 32);
  t.is(c.secret.length, 2 + 32 + 2 + 32);
  // Not the EK's own point, and a fresh one each time.
  t.not(toHex(point.x), toHex((ek.unique as TpmsEccPoint).x));
  t.not(toHex(makeCredential(ek, name, SECRET).secret), toHex(c.secret));
  const seed = recoverSeed(ek, key, c.secret);
  t.is(toHex(activate(ek, seed, name, c.credentialBlob)), toHex(SECRET));
});

test("the high-range EK templates work the same way", (t) => {
  const { ek, key } = eccEk("ecc-p256-high");
  const name = akName();
  const c = makeCredential(ek, name, SECRET);
  t.is(toHex(activate(ek, recoverSeed(ek, key, c.secret), name, c.credentialBlob)), toHex(SECRET));
});

test("a wrong object name fails the integrity HMAC (RSA and ECC)", (t) => {
  for (const { ek, key } of [rsaEk(), eccEk()]) {
    const name = akName();
    const c = makeCredential(ek, name, SECRET);
    const seed = recoverSeed(ek, key, c.secret);
    const other = name.slice();
    other[10] ^= 1;
    t.throws(() => activate(ek, seed, other, c.credentialBlob), { message: "integrity check failed" });
    t.throws(() => activate(ek, seed, akName("ecc"), c.credentialBlob), { message: "integrity check failed" });
    // Tampering with encIdentity is caught the same way.
    const blob = c.credentialBlob.slice();
    blob[40] ^= 0x80;
    t.throws(() => activate(ek, seed, name, blob), { message: "integrity check failed" });
  }
});

test("another TPM's EK cannot recover the seed", (t) => {
  const a = rsaEk();
  const b = rsaEk();
  const c = makeCredential(a.ek, akName(), SECRET);
  t.throws(() => recoverSeed(b.ek, b.key, c.secret));
  const e1 = eccEk();
  const e2 = eccEk();
  const ce = makeCredential(e1.ek, akName(), SECRET);
  // ECDH with the wrong private key yields a different seed, so the HMAC fails.
  t.throws(() => activate(e1.ek, recoverSeed(e1.ek, e2.key, ce.secret), akName(), ce.credentialBlob), { message: "integrity check failed" });
});

test("credentials of every length up to the digest size round-trip; longer ones are refused", (t) => {
  const { ek, key } = eccEk();
  const name = akName();
  for (const len of [0, 1, 16, 31, 32]) {
    const secret = new Uint8Array(len).map((_, i) => i + 1);
    const c = makeCredential(ek, name, secret);
    t.is(c.credentialBlob.length, 2 + 32 + 2 + len);
    t.is(toHex(activate(ek, recoverSeed(ek, key, c.secret), name, c.credentialBlob)), toHex(secret));
  }
  t.throws(() => makeCredential(ek, name, new Uint8Array(33)), {
    instanceOf: TpmEncodeError,
    message: "Cannot encode credential: 33 bytes exceed the sha256 digest size 32",
  });
});

test("a P-384 EK with SHA-384 and AES-256 (an H-3 style key)", (t) => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const jwk = publicKey.export({ format: "jwk" });
  const ek: TpmtPublic = {
    ...ekTemplate("ecc-p256-high"),
    nameAlg: TPM_ALG.SHA384,
    parameters: {
      symmetric: { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB },
      scheme: { scheme: TPM_ALG.NULL, details: null },
      curveID: TPM_ECC_CURVE.NIST_P384,
      kdf: { scheme: TPM_ALG.NULL, details: null },
    },
    unique: { x: new Uint8Array(Buffer.from(jwk.x ?? "", "base64url")), y: new Uint8Array(Buffer.from(jwk.y ?? "", "base64url")) },
  };
  const secret = new Uint8Array(48).fill(9);
  const name = akName();
  const c = makeCredential(ek, name, secret);
  t.is(c.credentialBlob.length, 2 + 48 + 2 + 48);
  const seed = recoverSeed(ek, privateKey, c.secret);
  t.is(seed.length, 48);
  t.is(toHex(activate(ek, seed, name, c.credentialBlob)), toHex(secret));
});

// make_credential.ts formats the refusal with algName(sym.mode as number); for a NULL (or XOR) symmetric
// definition `mode` is null and algName throws a TypeError instead.
test("an EK without a symmetric algorithm (e.g. an AK passed by mistake) is a TpmUnsupportedError", (t) => {
  const { ek } = rsaEk();
  const noSym = { ...ek, parameters: { ...(ek.parameters as object), symmetric: { algorithm: TPM_ALG.NULL, keyBits: null, mode: null } } } as TpmtPublic;
  t.throws(() => makeCredential(noSym, akName(), SECRET), { instanceOf: TpmUnsupportedError, message: /not AES-CFB/ });
  const ak = akTemplate("rsa");
  ak.unique = ek.unique;
  t.throws(() => makeCredential(ak, akName(), SECRET), { instanceOf: TpmUnsupportedError });
});

test("EKs that cannot protect a credential are TpmUnsupportedErrors", (t) => {
  const { ek } = rsaEk();
  const cbc = { ...ek, parameters: { ...(ek.parameters as object), symmetric: { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CBC } } } as TpmtPublic;
  t.throws(() => makeCredential(cbc, akName(), SECRET), { instanceOf: TpmUnsupportedError });
  const keyed: TpmtPublic = {
    type: TPM_ALG.KEYEDHASH,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: 0,
    authPolicy: E,
    parameters: { scheme: { scheme: TPM_ALG.NULL, details: null } },
    unique: E,
  };
  t.throws(() => makeCredential(keyed, akName(), SECRET), { instanceOf: TpmUnsupportedError });
  t.throws(() => makeCredential(ekTemplate("rsa2048-high"), akName(), SECRET), { instanceOf: TpmUnsupportedError, message: /empty or zero modulus/ });
});

// ---------------------------------------------------------------------------------------------
// Published vectors

test("keylime vector: RSA EK with a fixed seed", (t) => {
  // keylime test/test_tpm_util.py, test_makecredential: os.urandom patched to return 0x12 bytes. The credential
  // there is tpm2-tools' file format (magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET); OAEP is random,
  // so only the ID object is fixed.
  const ek = unmarshal(
    TPM2B_PUBLIC,
    fromHex(
      "013a0001000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa00060080004300100800000000000100aef12278a9b8d8a1e5700fb835ff3d9b" +
        "613d0d6fc17df186711260244f3f24847eb3ef1f5ff9b53d01cfebf291104385fbd71ead80a8294ebc76f671859b7c3c9a998300f30859ef3fdba00c5229f17092fd97f19128243000205cfe" +
        "5ba24f5fc55538e52bf849c6f777690919929c7d2d9328070a2a6bdd67355a516b94afdceda00a0d27988a28644b30ac11beae23a51d9038cd9d789ae39cae15c1312ef174e217449771a602" +
        "ade4daf35b20e072017c85a2f211fe5512319184059ddeaab94fa331c49c3f213bc3fbccd1e856b8984353ac92e3df0f72f1e5c0b97b9cdc333702872e9e63565c809d81fa8bb6c6da86867c" +
        "ead2adedc0cee80bb6617183",
    ),
  );
  const challenge = fromHex("5a4e524b4f4e6e777552754831683734785a466a42416f314758676c484d4149");
  const name = fromHex("000b9601163463aacdb45be7ad1f6d11ad3dae0578d5aeeb5125e1075c5601b7c7fa");
  const c = makeCredential(ek, name, challenge, { seed: new Uint8Array(32).fill(0x12) });
  const file = "badcc0de" + "00000001" + toHex(marshal(TPM2B_ID_OBJECT, c.credentialBlob)) + toHex(marshal(TPM2B_ENCRYPTED_SECRET, c.secret));
  t.is(
    file.slice(0, 160),
    "badcc0de00000001004400206f0c4b08cfa00f21b474ca75623d098309c2cd7fac8d10" +
      "ae3caf0da40162496db140cc6a5ae79a2bd7c22dc52cee372f34b356bf9bcd5176fa94" +
      "239ee93191a0a75d0100",
  );
  // And our own ActivateCredential agrees, from the seed.
  t.is(toHex(activate(ek, new Uint8Array(32).fill(0x12), name, c.credentialBlob)), toHex(challenge));
});

test("keylime vector: ECC EK with a fixed ephemeral key", (t) => {
  const ek = unmarshal(
    TPM2B_PUBLIC,
    fromHex(
      "007a0023000b000300b20020837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa0006008000430010000300100020d31f0e190c36691abdc5c8cef7201139664f" +
        "93bcc45e68861a62d649d9a157d400209bf3cc57da9b2c09539cae40f0518e651b65befaab84f26a3285d88be134b0cf",
    ),
  );
  const dec = (s: string): string => Buffer.from(BigInt(s).toString(16).padStart(64, "0"), "hex").toString("base64url");
  const ephemeralKey = createPrivateKey({
    key: {
      kty: "EC",
      crv: "P-256",
      d: dec("75548318724506252006992803713632448754009807765151974952668642988315053146586"),
      x: dec("24475970435455602523615976476876273915861210750530480136577912291006924068625"),
      y: dec("54663881618849781513153369976321537514677018641256406838874390754930401176808"),
    },
    format: "jwk",
  });
  const challenge = fromHex("7756666e6e4574706552556d717932656e7954474c64434f576a523545654a69");
  const name = fromHex("000b9f7f75b0564ea96bd70ef98baafbf6bf779641d17576bd11b5c6979273d2ba21");
  const c = makeCredential(ek, name, challenge, { ephemeralKey });
  const file = "badcc0de" + "00000001" + toHex(marshal(TPM2B_ID_OBJECT, c.credentialBlob)) + toHex(marshal(TPM2B_ENCRYPTED_SECRET, c.secret));
  t.is(
    file,
    "badcc0de00000001004400207d7934f023133b07f7d9bce3062451ea4da5f1917c95e1" +
      "42da1c3277e658f66bbea694a7c1b30d006a09b28dc534876d59b644b9223c5f3c3432" +
      "d8bae35f3ea3fba600440020361ce888d5152797aaca04838003976967c0c0a0a0e969" +
      "8b7b5e6e5294e21711002078daa91b35fb5efc70052a470064a96dd556bd53a784d737" +
      "e40966edc5f36ce8",
  );
});

test("tpm-test-vectors: ECC labeled encapsulation (protectSeed) for IDENTITY, SECRET and DUPLICATE", (t) => {
  // github.com/chrisfenner/tpm-test-vectors vectors/ecc_labeled_encaps.json; "Validated" names the TPM command
  // that accepted the ciphertext on a simulator.
  const vectors: [string, string, string, string, string, string][] = [
    [
      "12_P256_SHA256_256_restricted (TPM2_ActivateCredential)",
      "IDENTITY",
      "9efafbaf83563f8ac5a27815eae1017ca78c92f9cde976b1a2e0ad95b8a19bc1",
      "0023000b0003046000000006010000430010000300100020fe4cf1f3e8f583c19e1af6190a7c20751658914a93cd77efb871cb1557377560002007b6b7c55bea1d17b1a9d96f367cf315b2942d517fd8642e9d9157036831c4d5",
      "2a03ff2b874e44d36a567e67a0bf08227b9e65a0e9ca5215d4a9e573c23159a1",
      "002017ca41bd94c7f12436cf135ff1852408ef6a1ee1989e4e6250ef73c348dd6fa90020346f6016d6f6a2ef8e07df6d7b53b362005fc21cda1e1ab25e61f38a87e017b8",
    ],
    [
      "06_P256_SHA256_128_restricted (TPM2_StartAuthSession)",
      "SECRET",
      "897989c19f950c5f32f3a2156832bb49b39b0562f372e6e180be309c2bbc07c0",
      "0023000b00030460000000060080004300100003001000207d1f639091f4f93753e5ca964f537491e2ee50058bdf8d93c2f6f165d02a6f2c00205b4e618a7dad9e0cbc7d974ff78ac75ac3ca7be3c54a2b064e0f42f3b43de892",
      "428bee6074a8d9c43979617363ca78cedc7b56673d43750678c965d0fddeb4be",
      "00208588b3516e0cc43073b2577362ff1b712373213043bcb0c7364c74bfc6f626e200203534ac662cd4462172cdd0dbe3f0d0e28edb9e08484a3a34b8e8e00d9cb5b4c1",
    ],
    [
      "01_P256_SHA1_128_restricted (TPM2_Import)",
      "DUPLICATE",
      "3956da2d917e1e86a016fcb79b1f10923fd7c5cc4b4057ff1ba911782f111e8c",
      "002300040003046000000006008000430010000300100020c83ef61e207350d3fbd754d2fc3ee92e86ca5bbddcd82bee45fbbd0ccc99cfa000203aed53f5f39e2734972f78029ae8a95e2fe25938a958d8553f22470d88c205bf",
      "ed52fc7314ceb336c946e103bc696c1d5650459a",
      "002075e8eaf7a509c7c4c65b0a722304f8d5c599127ab84b2b9f3b338afddbfb4072002037d4d21b41fe2314b57ea0e573dd9ee599d6ec0fe9c05ea81e3b3a2396ae7f04",
    ],
  ];
  for (const [name, label, d, pub, seed, ciphertext] of vectors) {
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(Buffer.from(d, "hex"));
    const p = ecdh.getPublicKey();
    const ephemeralKey = createPrivateKey({
      key: {
        kty: "EC",
        crv: "P-256",
        d: Buffer.from(d, "hex").toString("base64url"),
        x: p.subarray(1, 33).toString("base64url"),
        y: p.subarray(33).toString("base64url"),
      },
      format: "jwk",
    });
    const r = protectSeed(unmarshal(TPMT_PUBLIC, fromHex(pub)), label, { ephemeralKey });
    t.is(toHex(r.seed), seed, name);
    t.is(toHex(r.secret), ciphertext, name);
  }
});

test("protectSeed for RSA uses OAEP with the label and its zero octet", (t) => {
  const { ek, key } = rsaEk();
  const seed = new Uint8Array(32).fill(0xab);
  const r = protectSeed(ek, "SECRET", { seed });
  t.deepEqual(r.seed, seed);
  const back = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: Buffer.from("SECRET\0") }, r.secret);
  t.is(toHex(back), toHex(seed));
  t.throws(() => privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: Buffer.from("SECRET") }, r.secret));
  // Sanity of the independent AES-CFB used above: a CFB round trip.
  const k = Buffer.alloc(16, 1);
  const c = createCipheriv("aes-128-cfb", k, Buffer.alloc(16));
  const ct = Buffer.concat([c.update("hello"), c.final()]);
  const dcp = createDecipheriv("aes-128-cfb", k, Buffer.alloc(16));
  t.is(Buffer.concat([dcp.update(ct), dcp.final()]).toString(), "hello");
});
