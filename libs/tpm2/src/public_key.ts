/**
 * Converting TPM public areas to and from standard public keys (node:crypto KeyObject, SPKI PEM/DER).
 * @module
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { TPM_ALG, TPM_ECC_CURVE } from "./constants.ts";
import { TpmUnsupportedError, TpmVerifyError } from "./errors.ts";
import type { TpmsEccParms, TpmsEccPoint, TpmsRsaParms, TpmtPublic } from "./structures.ts";

/** Curves this library converts, by TPM_ECC_CURVE: JWK/OpenSSL name and coordinate size. */
export const ECC_CURVES: Readonly<Record<number, { jwk: string; openssl: string; size: number }>> = {
  [TPM_ECC_CURVE.NIST_P256]: { jwk: "P-256", openssl: "prime256v1", size: 32 },
  [TPM_ECC_CURVE.NIST_P384]: { jwk: "P-384", openssl: "secp384r1", size: 48 },
  [TPM_ECC_CURVE.NIST_P521]: { jwk: "P-521", openssl: "secp521r1", size: 66 },
};

/** The curve description of a TPM_ECC_CURVE, or a TpmUnsupportedError. */
export function eccCurve(curveID: number): { jwk: string; openssl: string; size: number } {
  const c = ECC_CURVES[curveID];
  if (!c) throw new TpmUnsupportedError(`ECC curve 0x${curveID.toString(16).padStart(4, "0")} is not supported`);
  return c;
}

/** Left-pads (or strips leading zeros from) an integer's big-endian bytes to exactly `size` bytes. */
export function fitInteger(b: Uint8Array, size: number): Uint8Array {
  let start = 0;
  while (b.length - start > size && b[start] === 0) start++;
  if (b.length - start > size) throw new TpmUnsupportedError(`integer of ${b.length} bytes does not fit in ${size}`);
  const out = new Uint8Array(size);
  out.set(b.subarray(start), size - (b.length - start));
  return out;
}

function b64u(b: Uint8Array): string {
  return Buffer.from(b).toString("base64url");
}

function fromB64u(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "base64url"));
}

const keyCache = new WeakMap<TpmtPublic, KeyObject>();

function importKey(make: () => KeyObject, what: string): KeyObject {
  try {
    return make();
  } catch (e) {
    throw new TpmVerifyError("TPM2_VERIFY_KEY", `the ${what} public key is not a valid key (${(e as Error).message})`, { cause: e });
  }
}

/**
 * The public key of an RSA or ECC public area as a node:crypto KeyObject. Cached per public-area object,
 * so verifying many signatures by the same key does not parse it again.
 */
export function publicKeyOf(pub: TpmtPublic): KeyObject {
  const cached = keyCache.get(pub);
  if (cached) return cached;
  let key: KeyObject;
  if (pub.type === TPM_ALG.RSA) {
    const parms = pub.parameters as TpmsRsaParms;
    const e = parms.exponent === 0 ? 65537 : parms.exponent;
    const eb = new Uint8Array([(e >>> 24) & 0xff, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff]);
    let i = 0;
    while (i < 3 && eb[i] === 0) i++;
    const n = pub.unique as Uint8Array;
    if (n.every((b) => b === 0)) throw new TpmUnsupportedError("RSA public area has an empty or zero modulus (a template, not a key)");
    key = importKey(() => createPublicKey({ key: { kty: "RSA", n: b64u(n), e: b64u(eb.subarray(i)) }, format: "jwk" }), "RSA");
  } else if (pub.type === TPM_ALG.ECC) {
    const parms = pub.parameters as TpmsEccParms;
    const c = eccCurve(parms.curveID);
    const pt = pub.unique as TpmsEccPoint;
    if (pt.x.every((b) => b === 0) && pt.y.every((b) => b === 0))
      throw new TpmUnsupportedError("ECC public area has an empty or zero point (a template, not a key)");
    key = importKey(
      () => createPublicKey({ key: { kty: "EC", crv: c.jwk, x: b64u(fitInteger(pt.x, c.size)), y: b64u(fitInteger(pt.y, c.size)) }, format: "jwk" }),
      "ECC",
    );
  } else {
    throw new TpmUnsupportedError(`public area of type 0x${pub.type.toString(16).padStart(4, "0")} has no asymmetric public key`);
  }
  keyCache.set(pub, key);
  return key;
}

/** The public key of a public area as SubjectPublicKeyInfo PEM. */
export function publicKeyPem(pub: TpmtPublic): string {
  return publicKeyOf(pub).export({ type: "spki", format: "pem" }).toString();
}

/** The public key of a public area as SubjectPublicKeyInfo DER. */
export function publicKeyDer(pub: TpmtPublic): Uint8Array {
  return new Uint8Array(publicKeyOf(pub).export({ type: "spki", format: "der" }));
}

/** RSA modulus and exponent, or ECC curve and point, of a standard public key (e.g. a certificate's). */
export type KeyMaterial = { type: "rsa"; n: Uint8Array; e: number } | { type: "ecc"; curveID: number; x: Uint8Array; y: Uint8Array };

/** Extracts the key material of a KeyObject (RSA or a supported ECC curve). */
export function keyMaterial(key: KeyObject): KeyMaterial {
  const jwk = key.export({ format: "jwk" });
  if (jwk.kty === "RSA" && jwk.n && jwk.e) {
    let e = 0;
    for (const b of fromB64u(jwk.e)) e = e * 256 + b;
    return { type: "rsa", n: fromB64u(jwk.n), e };
  }
  if (jwk.kty === "EC" && jwk.x && jwk.y) {
    const entry = Object.entries(ECC_CURVES).find(([, c]) => c.jwk === jwk.crv);
    if (!entry) throw new TpmUnsupportedError(`curve ${jwk.crv} is not supported`);
    return { type: "ecc", curveID: Number(entry[0]), x: fromB64u(jwk.x), y: fromB64u(jwk.y) };
  }
  throw new TpmUnsupportedError(`key type ${key.asymmetricKeyType} is not supported`);
}

/** Whether a public area holds the same public key as `key` (modulus/exponent or curve/point). */
export function samePublicKey(pub: TpmtPublic, key: KeyObject): boolean {
  const m = keyMaterial(key);
  const mine = keyMaterial(publicKeyOf(pub));
  if (m.type === "rsa" && mine.type === "rsa") return m.e === mine.e && Buffer.compare(m.n, mine.n) === 0;
  if (m.type === "ecc" && mine.type === "ecc") {
    return m.curveID === mine.curveID && Buffer.compare(m.x, mine.x) === 0 && Buffer.compare(m.y, mine.y) === 0;
  }
  return false;
}

/** Private: RSA parameters accessor for sibling modules. */
export function rsaParms(pub: TpmtPublic): TpmsRsaParms {
  if (pub.type !== TPM_ALG.RSA) throw new TpmUnsupportedError("not an RSA public area");
  return pub.parameters as TpmsRsaParms;
}

/** ECC parameters accessor. */
export function eccParms(pub: TpmtPublic): TpmsEccParms {
  if (pub.type !== TPM_ALG.ECC) throw new TpmUnsupportedError("not an ECC public area");
  return pub.parameters as TpmsEccParms;
}
