/**
 * Secrets for a binding key: compact JWE (RFC 7516) with `alg` RSA-OAEP-256 and `enc` A256GCM. Only the TPM
 * holding the binding key can recover the content key (`tpm2_rsadecrypt -s oaep`), then A256GCM opens the
 * content with the protected header as additional data.
 * @module
 */
import { CompactEncrypt, compactDecrypt, importJWK, type JWK } from "jose";
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
  let key: CryptoKey | Uint8Array;
  try {
    key = await importJWK({ kty: "RSA", n: jwk.n!, e: jwk.e! }, "RSA-OAEP-256");
  } catch (e) {
    throw new TokenError("JWE_INVALID", `recipient JWK cannot be imported (${(e as Error).message})`, { cause: e });
  }
  return new CompactEncrypt(plaintext)
    .setProtectedHeader({ alg: "RSA-OAEP-256", enc: "A256GCM", ...(typeof jwk.kid === "string" ? { kid: jwk.kid } : {}) })
    .encrypt(key);
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
