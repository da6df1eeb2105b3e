/**
 * RSAES-OAEP (RFC 8017 §7.1) with a mask generation hash that differs from the label hash and with a label
 * (KMIP Cryptographic Parameters: Hashing Algorithm, Mask Generator Hashing Algorithm, P Source). node:crypto
 * takes one hash for both, so such keys are handled here over raw RSA (no padding); the common case of one
 * hash stays with OpenSSL's own OAEP.
 * @module
 */
import { constants, createHash, type KeyObject, privateDecrypt, publicEncrypt, randomBytes } from "node:crypto";

/** The hashes of an OAEP scheme (node:crypto names) and its label. */
export interface OaepParams {
  /** Hash of the label (and its length hLen). */
  hash: string;
  /** Hash of MGF1. */
  mgfHash: string;
  /** The label L (KMIP P Source); empty when absent. */
  label?: Uint8Array;
}

function mgf1(hash: string, seed: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 0; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function modulusBytes(key: KeyObject): number {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new Error("not an RSA key");
  return Math.ceil(bits / 8);
}

/** Encrypts `message` to an RSA public key with OAEP under `p` (RFC 8017 §7.1.1). */
export function oaepEncrypt(key: KeyObject, p: OaepParams, message: Uint8Array): Uint8Array {
  if (p.hash === p.mgfHash) {
    return new Uint8Array(publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.hash, oaepLabel: p.label }, message));
  }
  const k = modulusBytes(key);
  const lHash = createHash(p.hash)
    .update(p.label ?? new Uint8Array())
    .digest();
  const hLen = lHash.length;
  if (message.length > k - 2 * hLen - 2) throw new Error(`message too long: at most ${k - 2 * hLen - 2} bytes`);
  const db = Buffer.concat([lHash, Buffer.alloc(k - message.length - 2 * hLen - 2), Buffer.from([1]), message]);
  const seed = randomBytes(hLen);
  const maskedDb = xor(db, mgf1(p.mgfHash, seed, k - hLen - 1));
  const maskedSeed = xor(seed, mgf1(p.mgfHash, maskedDb, hLen));
  const em = Buffer.concat([Buffer.from([0]), maskedSeed, maskedDb]);
  return new Uint8Array(publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, em));
}

/**
 * Decrypts an OAEP ciphertext with an RSA private key (RFC 8017 §7.1.2). Every check runs whatever the
 * earlier ones found, and all failures are one error, so that the failure says nothing about where it was.
 */
export function oaepDecrypt(key: KeyObject, p: OaepParams, ciphertext: Uint8Array): Uint8Array {
  if (p.hash === p.mgfHash) {
    return new Uint8Array(privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: p.hash, oaepLabel: p.label }, ciphertext));
  }
  const k = modulusBytes(key);
  const lHash = createHash(p.hash)
    .update(p.label ?? new Uint8Array())
    .digest();
  const hLen = lHash.length;
  if (ciphertext.length !== k || k < 2 * hLen + 2) throw new Error("decryption error");
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seed = xor(maskedSeed, mgf1(p.mgfHash, maskedDb, hLen));
  const db = xor(maskedDb, mgf1(p.mgfHash, seed, k - hLen - 1));
  let bad = em[0];
  for (let i = 0; i < hLen; i++) bad |= db[i] ^ lHash[i];
  // The message starts after the first 0x01 that follows the zero padding; anything else before it is an error.
  let start = 0;
  let found = 0;
  for (let i = hLen; i < db.length; i++) {
    const isOne = db[i] === 1 ? 1 : 0;
    const isZero = db[i] === 0 ? 1 : 0;
    const first = isOne & (found ^ 1);
    start = first ? i + 1 : start;
    bad |= (found ^ 1) & (isOne ^ 1) & (isZero ^ 1);
    found |= isOne;
  }
  bad |= found ^ 1;
  if (bad !== 0) throw new Error("decryption error");
  return new Uint8Array(db.subarray(start));
}
