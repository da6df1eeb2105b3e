/**
 * The benchmark's hosts: a software model of a host's TPM that makes exactly the bytes a TPM makes, for
 * keys whose private halves the benchmark holds.
 *
 * Why not swtpm for every attestation: each attestation needs a quote over the server's fresh nonce, and a
 * TPM signs one quote at a time (swtpm takes milliseconds per quote, and its CPU would be taken from the
 * server under test on this 2-core machine). A key inside swtpm cannot be used outside it, and a restricted
 * key with fixedTPM cannot be imported into a TPM with a known private part (TPM2_Import and
 * TPM2_LoadExternal refuse fixedTPM), so the only way to sign quotes as fast as the server can check them is
 * to hold the AK in software. The server cannot tell, and does not do less: it sees a TPM2B_PUBLIC with the
 * attributes a TPM AK has, a credential it made to an EK (answered here with that EK's private key, the
 * math of TPM2_ActivateCredential), and TPMS_ATTEST quotes and TPMT_SIGNATUREs of the TPM's wire format over
 * its nonce and the PCR values the event log replays to. The EK is trusted by a pin (`POST /api/v1/ek-pins`),
 * as an administrator pins a host's EK public key. What a real TPM costs per quote is measured separately
 * (swtpm, in attest.ts).
 * @module
 */
import { constants, createDecipheriv, generateKeyPairSync, privateDecrypt, randomBytes, sign, type KeyObject } from "node:crypto";
import { parseEventLog, pcrResetValue, replay } from "@tessera/eventlog";
import {
  bindingKeyTemplate,
  akTemplate,
  concat,
  decodeCredentialFile,
  ecdsaRsFromDer,
  ekTemplate,
  equalBytes,
  fitInteger,
  hmac,
  kdfa,
  keyMaterial,
  marshal,
  objectName,
  pcrDigest,
  pcrSelection,
  TPM_ALG,
  TPM_GENERATED_VALUE,
  TPM_ST,
  TPM2B_DIGEST,
  TPM2B_PUBLIC,
  TPMS_ATTEST,
  TPMT_SIGNATURE,
  unmarshal,
  type PcrBanks,
  type TpmsPcrSelection,
  type TpmtPublic,
} from "@tessera/tpm2";

/** A software EK (RSA 2048, the TCG default template with the key's modulus) and its private key. */
export interface SoftEk {
  readonly public: TpmtPublic;
  readonly publicBytes: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A software AK: a restricted signing key's public area, as tpm2_createak writes it, and its private key. */
export interface SoftAk {
  readonly kind: "rsa" | "ecc";
  readonly public: TpmtPublic;
  readonly publicBytes: Uint8Array;
  readonly name: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A binding key (PROTOCOL.md §3) with its TPM2_Certify by the AK. */
export interface SoftBindingKey {
  readonly public: Uint8Array;
  readonly certifyInfo: Uint8Array;
  readonly signature: Uint8Array;
}

/** A {@link SoftBindingKey} with its private part, which a TPM would keep: the kmx bench opens the JWEs sent to it. */
export interface SoftBindingKeyPair extends SoftBindingKey {
  readonly privateKey: KeyObject;
}

/** Makes an RSA 2048 EK with the default EK template's attributes and policy. */
export function softEk(): SoftEk {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const m = keyMaterial(publicKey);
  if (m.type !== "rsa") throw new Error("unreachable: an RSA key");
  const pub: TpmtPublic = { ...ekTemplate("rsa2048"), unique: m.n };
  return { public: pub, publicBytes: marshal(TPM2B_PUBLIC, pub), privateKey };
}

/** Makes an AK of `kind` with tpm2_createak's template (restricted, sign, fixedTPM, fixedParent, sensitiveDataOrigin). */
export function softAk(kind: "rsa" | "ecc"): SoftAk {
  const template = akTemplate(kind);
  let privateKey: KeyObject;
  let pub: TpmtPublic;
  if (kind === "rsa") {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const m = keyMaterial(pair.publicKey);
    if (m.type !== "rsa") throw new Error("unreachable: an RSA key");
    privateKey = pair.privateKey;
    pub = { ...template, unique: m.n };
  } else {
    const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const m = keyMaterial(pair.publicKey);
    if (m.type !== "ecc") throw new Error("unreachable: an EC key");
    privateKey = pair.privateKey;
    pub = { ...template, unique: { x: fitInteger(m.x, 32), y: fitInteger(m.y, 32) } };
  }
  return { kind, public: pub, publicBytes: marshal(TPM2B_PUBLIC, pub), name: objectName(pub), privateKey };
}

/**
 * TPM2_ActivateCredential's math (TPM 2.0 Part 1 §24, Part 3 §12.5) for an RSA EK whose private key we hold:
 * recovers the seed (OAEP, label "IDENTITY"), checks the integrity HMAC over the AK's Name and decrypts the
 * credential. `credentialFile` is what `tpm2_makecredential -o` writes (and attestd sends).
 * @throws Error when the integrity check fails (the credential was made for another Name or EK).
 */
export function softActivateCredential(ek: SoftEk, akName: Uint8Array, credentialFile: Uint8Array): Uint8Array {
  const c = decodeCredentialFile(credentialFile);
  const seed = new Uint8Array(
    privateDecrypt({ key: ek.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256", oaepLabel: Buffer.from("IDENTITY\0") }, c.secret),
  );
  const integrity = unmarshal(TPM2B_DIGEST, c.credentialBlob.subarray(0, 2 + ((c.credentialBlob[0] << 8) | c.credentialBlob[1])));
  const encIdentity = c.credentialBlob.subarray(2 + integrity.length);
  const hmacKey = kdfa(TPM_ALG.SHA256, seed, "INTEGRITY", new Uint8Array(), new Uint8Array(), 256);
  if (!equalBytes(hmac(TPM_ALG.SHA256, hmacKey, encIdentity, akName), integrity)) throw new Error("integrity check failed");
  const symKey = kdfa(TPM_ALG.SHA256, seed, "STORAGE", akName, new Uint8Array(), 128);
  const d = createDecipheriv("aes-128-cfb", symKey, new Uint8Array(16));
  const plain = new Uint8Array(Buffer.concat([d.update(encIdentity), d.final()]));
  return unmarshal(TPM2B_DIGEST, plain);
}

/** Signs `message` with the AK as the TPM does (RSASSA-SHA256, or ECDSA-SHA256 with r and s as TPM2Bs). */
export function signAsTpm(ak: SoftAk, message: Uint8Array): Uint8Array {
  if (ak.kind === "rsa") {
    const sig = new Uint8Array(sign("sha256", message, { key: ak.privateKey, padding: constants.RSA_PKCS1_PADDING }));
    return marshal(TPMT_SIGNATURE, { sigAlg: TPM_ALG.RSASSA, signature: { hash: TPM_ALG.SHA256, sig } });
  }
  // DER with the key object bare (node:crypto's fast path; ieee-p1363 costs ~20 µs more a signature), then r ‖ s.
  const rs = ecdsaRsFromDer(sign("sha256", message, ak.privateKey), 32);
  return marshal(TPMT_SIGNATURE, {
    sigAlg: TPM_ALG.ECDSA,
    signature: { hash: TPM_ALG.SHA256, signatureR: rs.slice(0, 32), signatureS: rs.slice(32) },
  });
}

let clock = 1_000_000n;

function attest(ak: SoftAk, extraData: Uint8Array, type: number, attested: unknown): Uint8Array {
  clock += 1n;
  return marshal(TPMS_ATTEST, {
    magic: TPM_GENERATED_VALUE,
    type,
    qualifiedSigner: ak.name,
    extraData,
    clockInfo: { clock, resetCount: 1, restartCount: 0, safe: 1 },
    firmwareVersion: 0x2000_0001_0000_0000n,
    attested,
  } as never);
}

/** TPM2_Quote by the AK over `selection` with `nonce`, the PCR digest made from `pcrs`: `{quote, signature}` as tpm2_quote -m / -s write them. */
export function softQuote(ak: SoftAk, nonce: Uint8Array, selection: readonly TpmsPcrSelection[], pcrs: PcrBanks): { quote: Uint8Array; signature: Uint8Array } {
  const quote = attest(ak, nonce, TPM_ST.ATTEST_QUOTE, { pcrSelect: selection, pcrDigest: pcrDigest(TPM_ALG.SHA256, selection, pcrs) });
  return { quote, signature: signAsTpm(ak, quote) };
}

/** An RSA 2048 binding key (decrypt, fixedTPM, fixedParent, sensitiveDataOrigin) certified by the AK (empty qualifyingData, as tpm2-tools 5.4 makes it). */
export function softBindingKey(ak: SoftAk): SoftBindingKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const m = keyMaterial(publicKey);
  if (m.type !== "rsa") throw new Error("unreachable: an RSA key");
  const pub: TpmtPublic = bindingKeyTemplate(m.n);
  const name = objectName(pub);
  const certifyInfo = attest(ak, new Uint8Array(), TPM_ST.ATTEST_CERTIFY, { name, qualifiedName: concat(name.subarray(0, 2), randomBytes(32)) });
  return { public: marshal(TPM2B_PUBLIC, pub), certifyInfo, signature: signAsTpm(ak, certifyInfo), privateKey };
}

/** What the host quotes: the selection and the SHA-256 PCR values its event log replays to. */
export interface LogPcrs {
  readonly selection: TpmsPcrSelection[];
  readonly pcrs: PcrBanks;
}

/** The PCR values (SHA-256 bank, `indexes`) that `log` replays to (reset values for PCRs it never extends): what the TPM of the machine that wrote it held. */
export function pcrsOfLog(log: Uint8Array, indexes: readonly number[]): LogPcrs {
  const replayed = replay(parseEventLog(log));
  const bank = replayed.get(TPM_ALG.SHA256);
  if (bank === undefined) throw new Error("the log has no SHA-256 bank");
  const values = new Map<number, Uint8Array>();
  for (const i of indexes) {
    // A PCR the log never extends holds its reset value, as in the machine's TPM.
    values.set(i, bank.get(i) ?? pcrResetValue(i, 32));
  }
  return { selection: [pcrSelection(TPM_ALG.SHA256, [...indexes])], pcrs: new Map([[TPM_ALG.SHA256, values]]) };
}
