/**
 * The simulated hosts of the `fleet-sim` suite: attest_host.ts's software TPM model, with what makes 10,000 of
 * them quick to make.
 *
 * - The EK is ECC P-256 (the TCG default template `ecc-p256`, unique = the key's point): generating one takes
 *   tens of µs where an RSA 2048 EK takes tens of ms (10,000 RSA EKs would take minutes of both CPUs). attestd
 *   makes its credential by ECDH + KDFe (libs/tpm2 makeCredential); {@link softActivateCredentialEcc} is
 *   TPM2_ActivateCredential's math for it.
 * - The binding keys' RSA moduli come from a small pool (a few RSA 2048 keys, made once): each host's binding key
 *   is still certified by its own AK (its own TPMS_ATTEST and signature), so attestd checks exactly what it checks
 *   for a real host; it cannot tell that two hosts' binding keys share a modulus, and nothing it does depends on it.
 * @module
 */
import { createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import {
  bindingKeyTemplate,
  concat,
  decodeCredentialFile,
  ekTemplate,
  equalBytes,
  fitInteger,
  hmac,
  kdfa,
  kdfe,
  keyMaterial,
  marshal,
  objectName,
  TPM_ALG,
  TPM_GENERATED_VALUE,
  TPM_ST,
  TPM2B_DIGEST,
  TPM2B_PUBLIC,
  TPMS_ATTEST,
  TPMS_ECC_POINT,
  unmarshal,
  type TpmtPublic,
} from "@tessera/tpm2";
import { signAsTpm, softAk, type SoftAk, type SoftBindingKey } from "./attest_host.ts";

/** A software ECC P-256 EK and its private key. */
export interface SoftEccEk {
  readonly public: TpmtPublic;
  readonly publicBytes: Uint8Array;
  /** The point's x coordinate (32 bytes): KDFe's partyVInfo. */
  readonly x: Uint8Array;
  readonly privateKey: KeyObject;
}

/** Makes an ECC P-256 EK with the default EK template's attributes and policy. */
export function softEccEk(): SoftEccEk {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const m = keyMaterial(publicKey);
  if (m.type !== "ecc") throw new Error("unreachable: an EC key");
  const x = fitInteger(m.x, 32);
  const pub: TpmtPublic = { ...ekTemplate("ecc-p256"), unique: { x, y: fitInteger(m.y, 32) } };
  return { public: pub, publicBytes: marshal(TPM2B_PUBLIC, pub), x, privateKey };
}

/**
 * TPM2_ActivateCredential (TPM 2.0 Part 1 §24) for an ECC EK whose private key we hold: the seed is KDFe over the
 * ECDH of the EK with the ephemeral point attestd sent (label "IDENTITY"), then the integrity HMAC over the AK's
 * Name is checked and the credential decrypted (AES-128-CFB), as for an RSA EK.
 * @throws Error when the integrity check fails (the credential was made for another Name or EK)
 */
export function softActivateCredentialEcc(ek: SoftEccEk, akName: Uint8Array, credentialFile: Uint8Array): Uint8Array {
  const c = decodeCredentialFile(credentialFile);
  const point = unmarshal(TPMS_ECC_POINT, c.secret);
  const ephemeral = createPublicKey({
    key: { kty: "EC", crv: "P-256", x: Buffer.from(point.x).toString("base64url"), y: Buffer.from(point.y).toString("base64url") },
    format: "jwk",
  });
  const z = fitInteger(new Uint8Array(diffieHellman({ privateKey: ek.privateKey, publicKey: ephemeral })), 32);
  const seed = kdfe(TPM_ALG.SHA256, z, new TextEncoder().encode("IDENTITY\0"), fitInteger(point.x, 32), ek.x, 256);
  const integritySize = (c.credentialBlob[0] << 8) | c.credentialBlob[1];
  const integrity = unmarshal(TPM2B_DIGEST, c.credentialBlob.subarray(0, 2 + integritySize));
  const encIdentity = c.credentialBlob.subarray(2 + integrity.length);
  const hmacKey = kdfa(TPM_ALG.SHA256, seed, "INTEGRITY", new Uint8Array(), new Uint8Array(), 256);
  if (!equalBytes(hmac(TPM_ALG.SHA256, hmacKey, encIdentity, akName), integrity)) throw new Error("integrity check failed");
  const symKey = kdfa(TPM_ALG.SHA256, seed, "STORAGE", akName, new Uint8Array(), 128);
  const d = createDecipheriv("aes-128-cfb", symKey, new Uint8Array(16));
  return unmarshal(TPM2B_DIGEST, new Uint8Array(Buffer.concat([d.update(encIdentity), d.final()])));
}

/** RSA 2048 moduli for binding keys, made once per process. */
export function bindingModuli(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => {
    const m = keyMaterial(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey);
    if (m.type !== "rsa") throw new Error("unreachable: an RSA key");
    return m.n;
  });
}

let clock = 5_000_000n;

/** A binding key of modulus `n` certified by `ak` (TPM2_Certify, empty qualifyingData, as attest_host.ts's softBindingKey). */
export function certifiedBindingKey(ak: SoftAk, n: Uint8Array): SoftBindingKey {
  const pub = bindingKeyTemplate(n);
  const name = objectName(pub);
  clock += 1n;
  const certifyInfo = marshal(TPMS_ATTEST, {
    magic: TPM_GENERATED_VALUE,
    type: TPM_ST.ATTEST_CERTIFY,
    qualifiedSigner: ak.name,
    extraData: new Uint8Array(),
    clockInfo: { clock, resetCount: 1, restartCount: 0, safe: 1 },
    firmwareVersion: 0x2000_0001_0000_0000n,
    attested: { name, qualifiedName: concat(name.subarray(0, 2), randomBytes(32)) },
  } as never);
  return { public: marshal(TPM2B_PUBLIC, pub), certifyInfo, signature: signAsTpm(ak, certifyInfo) };
}

/** One simulated host: its name, EK, ECC AK and certified binding key. */
export interface SimHost {
  readonly name: string;
  readonly ek: SoftEccEk;
  readonly ak: SoftAk;
  readonly binding: SoftBindingKey;
}

/** Makes host `name` (ECC EK, ECC AK, a binding key over one of `moduli`). */
export function simHost(name: string, moduli: readonly Uint8Array[], i: number): SimHost {
  const ak = softAk("ecc");
  return { name, ek: softEccEk(), ak, binding: certifiedBindingKey(ak, moduli[i % moduli.length]) };
}
