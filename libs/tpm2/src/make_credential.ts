/**
 * MakeCredential in software (Part 1, 24; Part 3, 12.6): protects a secret to an endorsement key so that
 * only the TPM holding that EK *and* a loaded object with the given Name can recover it with
 * TPM2_ActivateCredential. RSA EKs protect the seed with OAEP (label "IDENTITY"); ECC EKs with ECDH and KDFe.
 * @module
 */
import { createCipheriv, diffieHellman, generateKeyPairSync, publicEncrypt, constants, randomBytes, type KeyObject } from "node:crypto";
import { algName, TPM_ALG } from "./constants.ts";
import { concat, hashName, hashSize, hmac } from "./digest.ts";
import { TpmEncodeError, TpmUnsupportedError } from "./errors.ts";
import { kdfa, kdfe } from "./kdf.ts";
import { eccCurve, eccParms, fitInteger, publicKeyOf, rsaParms } from "./public_key.ts";
import { marshal } from "./schema.ts";
import { TPM2B_DIGEST, TPMS_ECC_POINT, type TpmsEccPoint, type TpmtPublic, type TpmtSymDef } from "./structures.ts";

/** The two outputs of MakeCredential. */
export interface Credential {
  /** Contents of the TPM2B_ID_OBJECT: TPM2B integrityHMAC || encIdentity. */
  credentialBlob: Uint8Array;
  /** Contents of the TPM2B_ENCRYPTED_SECRET: the OAEP-encrypted seed (RSA) or the ephemeral TPMS_ECC_POINT (ECC). */
  secret: Uint8Array;
}

/** Deterministic inputs, for test vectors only. */
export interface MakeCredentialOptions {
  /** RSA: the seed to encrypt (default: random, digest-sized). */
  seed?: Uint8Array;
  /** ECC: the ephemeral private key (default: a fresh one). */
  ephemeralKey?: KeyObject;
}

function symmetricOf(ek: TpmtPublic): TpmtSymDef {
  if (ek.type === TPM_ALG.RSA) return rsaParms(ek).symmetric;
  if (ek.type === TPM_ALG.ECC) return eccParms(ek).symmetric;
  throw new TpmUnsupportedError(`an EK of type ${algName(ek.type)} cannot protect a credential`);
}

function cfbEncrypt(sym: TpmtSymDef, key: Uint8Array, data: Uint8Array): Uint8Array {
  if (sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB) {
    throw new TpmUnsupportedError(`EK symmetric algorithm ${algName(sym.algorithm)}/${algName((sym.mode as number | null) ?? TPM_ALG.NULL)} is not AES-CFB`);
  }
  const c = createCipheriv(`aes-${sym.keyBits as number}-cfb`, key, new Uint8Array(16));
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

/**
 * Protects a fresh seed to an asymmetric key (Part 1, 11.4.11 "Secret Sharing"): RSA encrypts a random seed
 * (digest-sized) with OAEP and `label`; ECC runs one-pass ECDH with an ephemeral key and derives the seed
 * with KDFe(`label`). Returns the seed and the TPM2B_ENCRYPTED_SECRET contents. Used by MakeCredential
 * (label "IDENTITY") and salted sessions (label "SECRET").
 */
export function protectSeed(key: TpmtPublic, label: string, options: MakeCredentialOptions = {}): { seed: Uint8Array; secret: Uint8Array } {
  const nameAlg = key.nameAlg;
  const digestSize = hashSize(nameAlg);
  const labelBytes = new TextEncoder().encode(label + "\0");
  if (key.type === TPM_ALG.RSA) {
    const seed = options.seed ?? new Uint8Array(randomBytes(digestSize));
    const secret = new Uint8Array(
      publicEncrypt({ key: publicKeyOf(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashName(nameAlg), oaepLabel: labelBytes }, seed),
    );
    return { seed, secret };
  }
  if (key.type === TPM_ALG.ECC) {
    const curve = eccCurve(eccParms(key).curveID);
    const ephemeral = options.ephemeralKey ?? generateKeyPairSync("ec", { namedCurve: curve.openssl }).privateKey;
    const z = fitInteger(new Uint8Array(diffieHellman({ privateKey: ephemeral, publicKey: publicKeyOf(key) })), curve.size);
    const jwk = ephemeral.export({ format: "jwk" });
    const point: TpmsEccPoint = {
      x: fitInteger(Buffer.from(jwk.x ?? "", "base64url"), curve.size),
      y: fitInteger(Buffer.from(jwk.y ?? "", "base64url"), curve.size),
    };
    const seed = kdfe(nameAlg, z, labelBytes, point.x, fitInteger((key.unique as TpmsEccPoint).x, curve.size), digestSize * 8);
    return { seed, secret: marshal(TPMS_ECC_POINT, point) };
  }
  throw new TpmUnsupportedError(`a key of type ${algName(key.type)} cannot protect a seed`);
}

/**
 * Makes a credential: `credential` (at most the EK nameAlg's digest size) protected to `ek` for the object
 * named `objectNameBytes` (usually the AK's Name).
 * @example
 * const { credentialBlob, secret } = makeCredential(ekPublic, objectName(akPublic), challenge);
 */
export function makeCredential(ek: TpmtPublic, objectNameBytes: Uint8Array, credential: Uint8Array, options: MakeCredentialOptions = {}): Credential {
  const nameAlg = ek.nameAlg;
  const digestSize = hashSize(nameAlg);
  if (credential.length > digestSize) {
    throw new TpmEncodeError("credential", `${credential.length} bytes exceed the ${algName(nameAlg)} digest size ${digestSize}`);
  }
  const sym = symmetricOf(ek);
  const { seed, secret } = protectSeed(ek, "IDENTITY", options);
  const symKey = kdfa(nameAlg, seed, "STORAGE", objectNameBytes, new Uint8Array(), sym.keyBits as number);
  const encIdentity = cfbEncrypt(sym, symKey, marshal(TPM2B_DIGEST, credential));
  const hmacKey = kdfa(nameAlg, seed, "INTEGRITY", new Uint8Array(), new Uint8Array(), digestSize * 8);
  const integrity = hmac(nameAlg, hmacKey, encIdentity, objectNameBytes);
  return { credentialBlob: concat(marshal(TPM2B_DIGEST, integrity), encIdentity), secret };
}
