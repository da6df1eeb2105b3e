// Public areas ↔ standard public keys: built here from node:crypto keys (JWK), compared with node's own
// exports, and the error contract for public areas that hold no usable key.
import test from "ava";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { TPM_ALG, TPM_ECC_CURVE } from "./constants.ts";
import { TpmUnsupportedError } from "./errors.ts";
import { fromHex, toHex } from "./hex.ts";
import { makeCredential } from "./make_credential.ts";
import { eccCurve, eccParms, fitInteger, keyMaterial, publicKeyDer, publicKeyOf, publicKeyPem, rsaParms, samePublicKey } from "./public_key.ts";
import type { TpmsEccPoint, TpmtPublic } from "./structures.ts";
import { akTemplate, ekTemplate } from "./templates.ts";

const b64u = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? "", "base64url"));

function rsaPub(key: KeyObject, exponent?: number): TpmtPublic {
  const jwk = key.export({ format: "jwk" });
  const pub = akTemplate("rsa");
  pub.unique = b64u(jwk.n);
  if (exponent !== undefined) (pub.parameters as { exponent: number }).exponent = exponent;
  return pub;
}

function eccPub(key: KeyObject, curveID: number, strip = false): TpmtPublic {
  const jwk = key.export({ format: "jwk" });
  const pub = akTemplate("ecc");
  (pub.parameters as { curveID: number }).curveID = curveID;
  const trim = (b: Uint8Array): Uint8Array => {
    let i = 0;
    while (strip && i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  };
  pub.unique = { x: trim(b64u(jwk.x)), y: trim(b64u(jwk.y)) };
  return pub;
}

/** Whether `e` is one of this library's typed errors (they all carry a TPM2_* or TPM_RC_* code). */
function isTyped(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("TPM2_") || code.startsWith("TPM_RC_"));
}

test("an RSA public area gives the same key node exports, as KeyObject, PEM and DER", (t) => {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pub = rsaPub(publicKey);
  t.is((pub.parameters as { exponent: number }).exponent, 0);
  t.true(publicKeyOf(pub).equals(publicKey));
  t.is(publicKeyPem(pub), publicKey.export({ type: "spki", format: "pem" }).toString());
  t.is(toHex(publicKeyDer(pub)), toHex(publicKey.export({ type: "spki", format: "der" })));
  t.true(samePublicKey(pub, publicKey));
  t.deepEqual(keyMaterial(publicKey), { type: "rsa", n: pub.unique as Uint8Array, e: 65537 });
  // Cached per public-area object.
  t.is(publicKeyOf(pub), publicKeyOf(pub));
});

test("an explicit exponent is honoured; 65537 may be written out or as 0", (t) => {
  const k3 = generateKeyPairSync("rsa", { modulusLength: 1024, publicExponent: 3 }).publicKey;
  t.true(publicKeyOf(rsaPub(k3, 3)).equals(k3));
  t.false(samePublicKey(rsaPub(k3, 0), k3));
  const k = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
  t.true(publicKeyOf(rsaPub(k, 65537)).equals(k));
  t.true(samePublicKey(rsaPub(k, 0), k));
});

test("ECC public areas for P-256, P-384 and P-521, including coordinates with leading zeros stripped", (t) => {
  for (const [curve, id, size] of [
    ["P-256", TPM_ECC_CURVE.NIST_P256, 32],
    ["P-384", TPM_ECC_CURVE.NIST_P384, 48],
    ["P-521", TPM_ECC_CURVE.NIST_P521, 66],
  ] as const) {
    t.is(eccCurve(id).size, size);
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
    t.true(publicKeyOf(eccPub(publicKey, id)).equals(publicKey), curve);
    t.true(publicKeyOf(eccPub(publicKey, id, true)).equals(publicKey), `${curve}, stripped`);
    t.true(samePublicKey(eccPub(publicKey, id), publicKey));
    const m = keyMaterial(publicKey);
    t.is(m.type === "ecc" ? m.curveID : 0, id);
  }
  // P-521 coordinates with a short top byte must still be padded to 66 bytes: try a few keys.
  for (let i = 0; i < 20; i++) {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-521" });
    t.true(publicKeyOf(eccPub(publicKey, TPM_ECC_CURVE.NIST_P521, true)).equals(publicKey));
  }
});

test("samePublicKey tells keys apart", (t) => {
  const a = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const b = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const r = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
  const pa = eccPub(a, TPM_ECC_CURVE.NIST_P256);
  t.true(samePublicKey(pa, a));
  t.false(samePublicKey(pa, b));
  t.false(samePublicKey(pa, r));
  t.false(samePublicKey(rsaPub(r), a));
});

test("fitInteger pads and strips to an exact size", (t) => {
  t.is(toHex(fitInteger(fromHex("0102"), 4)), "00000102");
  t.is(toHex(fitInteger(fromHex("0000000102"), 2)), "0102");
  t.is(toHex(fitInteger(new Uint8Array(), 2)), "0000");
  t.throws(() => fitInteger(fromHex("010203"), 2), { instanceOf: TpmUnsupportedError, message: "integer of 3 bytes does not fit in 2" });
});

test("keys and curves this library does not handle are TpmUnsupportedErrors", (t) => {
  t.throws(() => eccCurve(TPM_ECC_CURVE.BN_P256), { instanceOf: TpmUnsupportedError, message: "ECC curve 0x0010 is not supported" });
  t.throws(() => keyMaterial(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey), { instanceOf: TpmUnsupportedError, message: /secp256k1/ });
  t.throws(() => keyMaterial(generateKeyPairSync("ed25519").publicKey), { instanceOf: TpmUnsupportedError, message: /ed25519/ });
  const keyed: TpmtPublic = {
    type: TPM_ALG.KEYEDHASH,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: 0,
    authPolicy: new Uint8Array(),
    parameters: { scheme: { scheme: TPM_ALG.NULL, details: null } },
    unique: new Uint8Array(),
  };
  t.throws(() => publicKeyOf(keyed), { instanceOf: TpmUnsupportedError, message: /0x0008 has no asymmetric public key/ });
  t.throws(() => rsaParms(keyed), { instanceOf: TpmUnsupportedError });
  t.throws(() => eccParms(akTemplate("rsa")), { instanceOf: TpmUnsupportedError });
  t.throws(() => publicKeyOf(akTemplate("rsa")), { instanceOf: TpmUnsupportedError, message: /empty or zero modulus/ });
  t.throws(() => publicKeyOf(akTemplate("ecc")), { instanceOf: TpmUnsupportedError, message: /empty or zero point/ });
});

// The low-range EK templates carry an all-zero modulus / point rather than an empty one. publicKeyOf only
// checks for empty buffers, so it builds an RSA "key" with n = 0 (and caches it), and node throws a plain
// TypeError for the ECC point; makeCredential then surfaces OpenSSL's or node's untyped errors.
test("an unfilled low-range EK template is refused with a typed error, not used as a key", (t) => {
  const rsa = t.throws(() => publicKeyOf(ekTemplate("rsa2048")));
  t.true(isTyped(rsa), `publicKeyOf(ekTemplate("rsa2048")) threw ${String(rsa)}`);
  const ecc = t.throws(() => publicKeyOf(ekTemplate("ecc-p256")));
  t.true(isTyped(ecc), `publicKeyOf(ekTemplate("ecc-p256")) threw ${String(ecc)}`);
});

// An EK public area comes from the attesting client: a point that is not on the curve must be a typed
// error (TpmVerifyError "TPM2_VERIFY_KEY" exists for this), not node's TypeError "Invalid JWK EC key".
test("an ECC public area whose point is not on the curve is a typed error", (t) => {
  const ek = ekTemplate("ecc-p256");
  (ek.unique as TpmsEccPoint).x = new Uint8Array(32).fill(1);
  (ek.unique as TpmsEccPoint).y = new Uint8Array(32).fill(2);
  const e = t.throws(() => publicKeyOf(ek));
  t.true(isTyped(e), `publicKeyOf threw ${String(e)}`);
  const m = t.throws(() => makeCredential(ek, fromHex("000b" + "00".repeat(32)), new Uint8Array(16)));
  t.true(isTyped(m), `makeCredential threw ${String(m)}`);
});
