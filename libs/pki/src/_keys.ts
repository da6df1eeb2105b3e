/**
 * Key handling shared by {@link createCa} and {@link issueCertificate}: generation, PEM export,
 * and import of issuer keys and subject public keys. WebCrypto does the work; `node:crypto` only
 * converts PKCS#1 / SEC1 / certificate PEMs to PKCS#8 / SPKI, which WebCrypto cannot read.
 *
 * @module
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { PkiError } from "./errors.ts";
import { derToPem, pemBlocks } from "./_common.ts";
import { x509 } from "./_x509.ts";

/** Key types this lib generates. */
export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048" | "rsa-3072";

const GENERATE: Record<KeyAlgorithm, RsaHashedKeyGenParams | EcKeyGenParams> = {
  "ecdsa-p256": { name: "ECDSA", namedCurve: "P-256" },
  "rsa-2048": {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
  "rsa-3072": {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 3072,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
};

/** The hash that matches each curve's strength. */
const CURVE_HASH = new Map([
  ["P-256", "SHA-256"],
  ["P-384", "SHA-384"],
  ["P-521", "SHA-512"],
]);

/** The WebCrypto parameters that import a key of a given public key type and sign with it. */
export interface SigningParams {
  /** For `importKey` and `PublicKey.export`. */
  readonly importParams: RsaHashedImportParams | EcKeyImportParams;
  /** For `sign` (and @peculiar's `signingAlgorithm`). */
  readonly signParams: Algorithm | EcdsaParams;
}

/** A private key ready to sign certificates, with the algorithm to sign with. */
export interface SigningKey {
  /** The private key. */
  readonly key: CryptoKey;
  /** Signature algorithm (hash chosen to match the key strength). */
  readonly signParams: Algorithm | EcdsaParams;
}

/** Generates an extractable key pair. @throws PkiError PKI_KEY for an unknown algorithm. */
export async function generateKeyPair(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  const params = Object.hasOwn(GENERATE, algorithm) ? GENERATE[algorithm] : undefined;
  if (params === undefined) {
    throw new PkiError("PKI_KEY", `Unsupported keyAlgorithm "${String(algorithm)}": use ${Object.keys(GENERATE).join(", ")}`);
  }
  return globalThis.crypto.subtle.generateKey(params, true, ["sign", "verify"]);
}

/** Exports a private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(await globalThis.crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

/** Signing parameters for a key of the type of `publicKey`. @throws PkiError PKI_KEY when unsupported. */
export function signingParamsFor(publicKey: x509.PublicKey, what: string): SigningParams {
  const algorithm: Algorithm & { namedCurve?: unknown } = publicKey.algorithm;
  if (algorithm.name === "RSASSA-PKCS1-v1_5") {
    return {
      importParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      signParams: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    };
  }
  if (algorithm.name === "ECDSA" && typeof algorithm.namedCurve === "string") {
    const hash = CURVE_HASH.get(algorithm.namedCurve);
    if (hash !== undefined) {
      return {
        importParams: { name: "ECDSA", namedCurve: algorithm.namedCurve },
        signParams: { name: "ECDSA", hash },
      };
    }
  }
  const curve = typeof algorithm.namedCurve === "string" ? ` ${algorithm.namedCurve}` : "";
  throw new PkiError("PKI_KEY", `Unsupported ${what} algorithm ${algorithm.name}${curve}: use RSA or ECDSA P-256/P-384/P-521`);
}

/** True for RSA keys (rsaEncryption), which also get keyEncipherment. */
export function isRsaKey(publicKey: x509.PublicKey): boolean {
  return publicKey.algorithm.name === "RSASSA-PKCS1-v1_5";
}

/**
 * PKCS#8 DER of a private key PEM: `PRIVATE KEY` as is; `RSA PRIVATE KEY` (PKCS#1) and
 * `EC PRIVATE KEY` (SEC1) converted with node:crypto.
 * @throws PkiError PKI_KEY when there is no usable key in the text.
 */
export function privateKeyPkcs8(pem: string, what: string): Uint8Array<ArrayBuffer> {
  const block = pemBlocks(pem).find((b) => b.label.endsWith("PRIVATE KEY"));
  if (block === undefined) throw new PkiError("PKI_KEY", `Cannot read ${what}: no "PRIVATE KEY" PEM block`);
  if (block.label === "PRIVATE KEY") return block.der;
  if (block.label === "ENCRYPTED PRIVATE KEY") throw new PkiError("PKI_KEY", `Cannot read ${what}: encrypted private keys are not supported`);
  try {
    return new Uint8Array(
      createPrivateKey({ key: pem, format: "pem" }).export({
        type: "pkcs8",
        format: "der",
      }),
    );
  } catch (cause) {
    throw new PkiError("PKI_KEY", `Cannot read ${what} (${block.label}): ${(cause as Error).message}`, { cause });
  }
}

/**
 * Imports the private key that signs with the key certified by `certificate`, and checks that
 * it is that key.
 * @throws PkiError PKI_KEY when the key does not load or belongs to another certificate.
 */
export async function importSigningKey(privateKeyPem: string, certificate: x509.X509Certificate, what: string): Promise<SigningKey> {
  const params = signingParamsFor(certificate.publicKey, what);
  const pkcs8 = privateKeyPkcs8(privateKeyPem, what);
  const subtle = globalThis.crypto.subtle;
  let key: CryptoKey;
  let privateJwk: JsonWebKey;
  try {
    // Extractable only to compare its public part with the certificate's; not exported further.
    key = await subtle.importKey("pkcs8", pkcs8, params.importParams, true, ["sign"]);
    privateJwk = await subtle.exportKey("jwk", key);
  } catch (cause) {
    throw new PkiError("PKI_KEY", `Cannot import ${what} as ${params.importParams.name}: ${(cause as Error).message}`, { cause });
  }
  const publicJwk = await subtle.exportKey("jwk", await certificate.publicKey.export(params.importParams, ["verify"]));
  const fields = params.importParams.name === "ECDSA" ? (["crv", "x", "y"] as const) : (["n", "e"] as const);
  if (fields.some((f) => privateJwk[f] !== publicJwk[f])) {
    throw new PkiError("PKI_KEY", `${what} does not match the public key of "${certificate.subject}"`, { subject: certificate.subject });
  }
  return { key, signParams: params.signParams };
}

/**
 * A subject public key from PEM: `PUBLIC KEY` (SPKI) as is; `RSA PUBLIC KEY` (PKCS#1) or a
 * `CERTIFICATE` converted with node:crypto.
 * @throws PkiError PKI_KEY when there is no readable public key.
 */
export function publicKeyFromPem(pem: string, what: string): x509.PublicKey {
  const block = pemBlocks(pem)[0];
  if (block === undefined) throw new PkiError("PKI_KEY", `Cannot read ${what}: no PEM block`);
  try {
    const spki =
      block.label === "PUBLIC KEY"
        ? block.der
        : new Uint8Array(
            createPublicKey({ key: pem, format: "pem" }).export({
              type: "spki",
              format: "der",
            }),
          );
    return new x509.PublicKey(spki);
  } catch (cause) {
    throw new PkiError("PKI_KEY", `Cannot read ${what} (${block.label}): ${(cause as Error).message}`, { cause });
  }
}
