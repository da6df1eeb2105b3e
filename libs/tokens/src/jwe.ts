/**
 * Secrets for a binding key: compact JWE (RFC 7516) with `alg` RSA-OAEP-256 and `enc` A256GCM. Only the TPM
 * holding the binding key can recover the content key (`tpm2_rsadecrypt -s oaep`), then A256GCM opens the
 * content with the protected header as additional data.
 * @module
 */
import { constants, createCipheriv, createPublicKey, createSecretKey, publicEncrypt, randomBytes, type KeyObject } from "node:crypto";
import { compactDecrypt, importJWK, type JWK } from "jose";
import { checkRsaPublicJwk } from "./_jwk.ts";
import { TokenError } from "./errors.ts";

/** Largest JWE {@link decryptJwe} parses (a secret is at most a few KiB). */
export const MAX_JWE_LENGTH = 1 << 20;

/**
 * Encrypts `plaintext` to an RSA public JWK (a token's `cnf.jwk`): protected header `{alg: "RSA-OAEP-256",
 * enc: "A256GCM", kid}` (kid when the JWK has one), a fresh 256-bit content key and 96-bit IV.
 * @throws TokenError JWE_INVALID when the JWK is not an RSA ≥ 2048 public key for RSA-OAEP-256.
 * @example
 * ```ts
 * const jwe = await encryptToJwk(dataKey, claims.cnf.jwk);
 * ```
 */
export async function encryptToJwk(plaintext: Uint8Array, jwk: JWK): Promise<string> {
  const rule = checkRsaPublicJwk(jwk);
  if (rule !== undefined) throw new TokenError("JWE_INVALID", `recipient JWK ${rule}`);
  let key: KeyObject;
  try {
    key = recipientKey(jwk.n!, jwk.e!);
  } catch (e) {
    throw new TokenError("JWE_INVALID", `recipient JWK cannot be imported (${(e as Error).message})`, { cause: e });
  }
  // The compact serialization jose's CompactEncrypt makes (RFC 7516 §7.1): the same header serialization, a
  // fresh CEK wrapped by RSAES-OAEP with SHA-256 and MGF1-SHA-256, a 96-bit IV, the header's ASCII as the AAD.
  // node:crypto in this thread: jose through WebCrypto (key import, then two asynchronous jobs) cost kmxd
  // ~500 µs per secret against ~70 µs here.
  const header = Buffer.from(JSON.stringify({ alg: "RSA-OAEP-256", enc: "A256GCM", ...(typeof jwk.kid === "string" ? { kid: jwk.kid } : {}) })).toString("base64url");
  // One draw of randomness for the CEK and IV (randomBytes costs ~4 µs a call whatever its size); the CEK given to
  // the cipher as a KeyObject (node:crypto takes raw key bytes ~15 µs slower per cipher).
  const random = randomBytes(44);
  const cek = random.subarray(0, 32);
  const iv = random.subarray(32);
  const encryptedKey = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
  const cipher = createCipheriv("aes-256-gcm", createSecretKey(cek), iv);
  cipher.setAAD(Buffer.from(header, "ascii"));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  random.fill(0, 0, 32);
  return `${header}.${encryptedKey.toString("base64url")}.${iv.toString("base64url")}.${ciphertext.toString("base64url")}.${tag.toString("base64url")}`;
}

/** node:crypto public keys by modulus and exponent: a service encrypts to the same few binding keys again and again. */
const recipientKeys = new Map<string, KeyObject>();
const MAX_RECIPIENT_KEYS = 256;

/**
 * The KeyObject of an RSA public JWK, made once per (n, e) (an import costs about as much as the encryption);
 * bounded, least recently used out; a failed import is not kept. Keyed by the key's own members, so a lookup
 * can only return the key it was asked for.
 */
function recipientKey(n: string, e: string): KeyObject {
  const id = `${n}.${e}`;
  let key = recipientKeys.get(id);
  if (key !== undefined) {
    recipientKeys.delete(id);
  } else {
    key = createPublicKey({ key: { kty: "RSA", n, e }, format: "jwk" });
    if (recipientKeys.size >= MAX_RECIPIENT_KEYS) recipientKeys.delete(recipientKeys.keys().next().value!);
  }
  recipientKeys.set(id, key);
  return key;
}

/**
 * Opens a compact JWE made by {@link encryptToJwk} with the RSA private key (a CryptoKey for RSA-OAEP-256,
 * or a private JWK). Only `alg` RSA-OAEP-256 with `enc` A256GCM is accepted.
 * @throws TokenError JWE_INVALID naming what failed (format, header, key, authentication tag).
 */
export async function decryptJwe(jwe: string, privateKey: CryptoKey | JWK): Promise<Uint8Array> {
  if (typeof jwe !== "string" || jwe.length > MAX_JWE_LENGTH) throw new TokenError("JWE_INVALID", "JWE is not a string of at most 1 MiB");
  let key: CryptoKey | Uint8Array;
  try {
    key = privateKey instanceof CryptoKey ? privateKey : await importJWK(privateKey, "RSA-OAEP-256");
  } catch (e) {
    throw new TokenError("JWE_INVALID", `private key cannot be imported (${(e as Error).message})`, { cause: e });
  }
  try {
    const { plaintext } = await compactDecrypt(jwe, key, { keyManagementAlgorithms: ["RSA-OAEP-256"], contentEncryptionAlgorithms: ["A256GCM"] });
    return plaintext;
  } catch (e) {
    throw new TokenError("JWE_INVALID", `JWE cannot be opened (${(e as Error)?.message ?? String(e)})`, { cause: e });
  }
}
