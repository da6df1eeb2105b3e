/**
 * Opening a JWE whose content key only a TPM can recover: the caller's callback unwraps the RSA-OAEP-256
 * encrypted key (e.g. TPM2_RSA_Decrypt with the binding key), this module does the rest of RFC 7516 §5.2.
 * @module
 */
import { base64url, type CompactJWEHeaderParameters } from "jose";
import { TokenError } from "./errors.ts";
import { MAX_JWE_LENGTH } from "./jwe.ts";

/**
 * Recovers the content key from a JWE's encrypted key. Called once, after the protected header passed its
 * checks (`alg` RSA-OAEP-256, `enc` A256GCM), with the decoded header for reference.
 */
export type JweKeyUnwrapper = (encryptedKey: Uint8Array, header: CompactJWEHeaderParameters) => Promise<Uint8Array>;

const B64URL = /^[A-Za-z0-9_-]*$/;
const CEK_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const invalid = (message: string, cause?: unknown): TokenError =>
  new TokenError("JWE_INVALID", message, cause === undefined ? undefined : { cause });

function part(parts: readonly string[], i: number, what: string): Uint8Array {
  const s = parts[i]!;
  // jose's decoder accepts some characters outside the alphabet; a JWE part must be base64url proper (RFC 7515 §2),
  // and canonical (unused trailing bits zero), so that no two encodings of one JWE both open.
  if (!B64URL.test(s) || s.length % 4 === 1) throw invalid(`JWE ${what} (part ${i + 1}) is not base64url`);
  const bytes = base64url.decode(s);
  if (base64url.encode(bytes) !== s) throw invalid(`JWE ${what} (part ${i + 1}) is not canonical base64url`);
  return bytes;
}

function protectedHeader(encoded: string): CompactJWEHeaderParameters {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(part([encoded], 0, "protected header")));
  } catch (e) {
    if (e instanceof TokenError) throw e;
    throw invalid(`JWE protected header is not UTF-8 JSON (${(e as Error).message})`, e);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw invalid("JWE protected header is not a JSON object");
  const h = header as Record<string, unknown>;
  if (h.alg !== "RSA-OAEP-256") throw invalid(`JWE header alg ${JSON.stringify(h.alg)} is not "RSA-OAEP-256"`);
  if (h.enc !== "A256GCM") throw invalid(`JWE header enc ${JSON.stringify(h.enc)} is not "A256GCM"`);
  // Compression is refused (RFC 8725 §3.6), and so is any critical extension: none is understood here (RFC 7516 §4.1.13).
  if ("zip" in h) throw invalid(`JWE header zip ${JSON.stringify(h.zip)} is not supported`);
  if ("crit" in h) throw invalid(`JWE header crit ${JSON.stringify(h.crit)} names extensions that are not understood`);
  return h as CompactJWEHeaderParameters;
}

/**
 * Opens a compact JWE (RFC 7516 §5.2) with `alg` RSA-OAEP-256 and `enc` A256GCM, as {@link decryptJwe} does,
 * but with the content key recovered by `unwrapKey` — the TPM that holds the private key — instead of a key
 * object: then AES-256-GCM opens the content, with the encoded protected header as additional data.
 * Nothing but RSA-OAEP-256 + A256GCM is accepted, and no `zip` or `crit`.
 * @throws TokenError JWE_INVALID naming what failed: the format, a header field (`alg`, `enc`, `zip`, `crit`),
 * a part's size, the unwrapping (its error is the `cause`, e.g. a TpmResponseError), the content key's size,
 * or the authentication tag.
 * @example
 * ```ts
 * const secret = await decryptJweWith(jwe, (encryptedKey) => tpm.rsaDecrypt(bindingKey, encryptedKey, { scheme: "oaep" }));
 * ```
 */
export async function decryptJweWith(jwe: string, unwrapKey: JweKeyUnwrapper): Promise<Uint8Array> {
  if (typeof jwe !== "string" || jwe.length > MAX_JWE_LENGTH) throw invalid("JWE is not a string of at most 1 MiB");
  const parts = jwe.split(".");
  if (parts.length !== 5) throw invalid(`JWE has ${parts.length} parts, not the 5 of the compact serialization`);
  const header = protectedHeader(parts[0]!);
  const encryptedKey = part(parts, 1, "encrypted key");
  const iv = part(parts, 2, "initialization vector");
  const ciphertext = part(parts, 3, "ciphertext");
  const tag = part(parts, 4, "authentication tag");
  if (encryptedKey.length === 0) throw invalid("JWE encrypted key is empty");
  if (iv.length !== IV_BYTES) throw invalid(`JWE initialization vector is ${iv.length} bytes, not ${IV_BYTES} (A256GCM)`);
  if (tag.length !== TAG_BYTES) throw invalid(`JWE authentication tag is ${tag.length} bytes, not ${TAG_BYTES} (A256GCM)`);

  let cek: Uint8Array;
  try {
    cek = await unwrapKey(encryptedKey, header);
  } catch (e) {
    throw invalid(`JWE content key cannot be unwrapped (${(e as Error)?.message ?? String(e)})`, e);
  }
  if (!(cek instanceof Uint8Array) || cek.length !== CEK_BYTES) {
    throw invalid(`JWE content key is ${cek instanceof Uint8Array ? `${cek.length} bytes` : "not bytes"}, not ${CEK_BYTES} (A256GCM)`);
  }
  try {
    const key = await crypto.subtle.importKey("raw", new Uint8Array(cek), "AES-GCM", false, ["decrypt"]);
    const sealed = new Uint8Array(ciphertext.length + TAG_BYTES);
    sealed.set(ciphertext);
    sealed.set(tag, ciphertext.length);
    // RFC 7516 §5.2 step 14: the additional data is ASCII(BASE64URL(UTF8(JWE Protected Header))), as received.
    const additionalData = new TextEncoder().encode(parts[0]);
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(iv), additionalData, tagLength: 128 }, key, sealed));
  } catch (e) {
    throw invalid(`JWE content does not authenticate under its content key (${(e as Error)?.message ?? String(e)})`, e);
  }
}
