/**
 * The binding key (PROTOCOL.md §3 `bindingKey`) as the public JWK that goes in a token's `cnf.jwk` and that
 * kmxd encrypts secrets to.
 * @module
 */
import { calculateJwkThumbprint, type JWK } from "jose";
import { TPM_ALG, TPMA_OBJECT, unmarshalPublic, type TpmsRsaParms, type TpmtPublic } from "@tessera/tpm2";
import { TokenError } from "./errors.ts";

function b64u(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unsupported(rule: string): TokenError {
  return new TokenError("BINDING_KEY_UNSUPPORTED", `binding key: ${rule}`);
}

/**
 * The public JWK of an RSA-2048 TPM decryption key: `{kty: "RSA", n, e, alg: "RSA-OAEP-256", use: "enc", kid}`
 * with `kid` its RFC 7638 thumbprint. A TPM exponent of 0 means 65537.
 * @param pub the key's TPM2B_PUBLIC (or TPMT_PUBLIC) bytes, as `tpm2_create -u` writes them, or its decoded public area.
 * @throws TokenError BINDING_KEY_MALFORMED when the bytes do not decode; BINDING_KEY_UNSUPPORTED when it is
 * not RSA, not 2048 bits, not a decryption key, restricted, or has a scheme other than null or OAEP-SHA256
 * (the TPM would then refuse to RSA-OAEP-256 decrypt).
 * @example
 * ```ts
 * const cnfJwk = await bindingKeyJwk(bindingKey.public); // TPM2B_PUBLIC from the attestation request
 * ```
 */
export async function bindingKeyJwk(pub: Uint8Array | TpmtPublic): Promise<JWK> {
  let p: TpmtPublic;
  if (pub instanceof Uint8Array) {
    try {
      p = unmarshalPublic(pub);
    } catch (e) {
      throw new TokenError("BINDING_KEY_MALFORMED", `binding key: not a TPM2B_PUBLIC or TPMT_PUBLIC (${(e as Error).message})`, { cause: e });
    }
  } else {
    p = pub;
  }
  if (p.type !== TPM_ALG.RSA) throw unsupported(`type 0x${p.type.toString(16).padStart(4, "0")} is not RSA (0x0001)`);
  const parms = p.parameters as TpmsRsaParms;
  if (parms.keyBits !== 2048) throw unsupported(`RSA key of ${parms.keyBits} bits, not 2048`);
  const n = p.unique as Uint8Array;
  if (!(n instanceof Uint8Array) || n.length !== 256 || (n[0]! & 0x80) === 0) throw unsupported(`modulus of ${n?.length ?? 0} bytes is not a 2048-bit modulus`);
  if ((p.objectAttributes & TPMA_OBJECT.decrypt) === 0) throw unsupported("the decrypt attribute is clear");
  if ((p.objectAttributes & TPMA_OBJECT.restricted) !== 0) throw unsupported("restricted keys cannot decrypt outside data (TPM2_RSA_Decrypt)");
  const scheme = parms.scheme;
  if (scheme.scheme !== TPM_ALG.NULL && !(scheme.scheme === TPM_ALG.OAEP && (scheme.details as { hashAlg?: number } | null)?.hashAlg === TPM_ALG.SHA256))
    throw unsupported(`scheme 0x${scheme.scheme.toString(16).padStart(4, "0")} is neither null nor OAEP-SHA256`);
  const e = parms.exponent === 0 ? 65537 : parms.exponent;
  if (e < 3 || e % 2 === 0) throw unsupported(`exponent ${e} is not an odd number ≥ 3`);
  const eb = [e >>> 24, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff];
  while (eb[0] === 0) eb.shift();
  const jwk: JWK = { kty: "RSA", n: b64u(n), e: b64u(Uint8Array.from(eb)) };
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  return { ...jwk, alg: "RSA-OAEP-256", use: "enc", kid };
}
