/**
 * Cryptographic services with managed keys: Encrypt/Decrypt (symmetric ones in symmetric.ts, RSA-OAEP here),
 * Sign/Signature Verify (RSA-PSS, RSA PKCS#1 v1.5,
 * ECDSA), MAC/MAC Verify (HMAC-SHA256/384/512). The key must be Active (Deactivated and Compromised keys may
 * still decrypt and verify) and its usage mask must allow the operation.
 * @module
 */
import { type KeyObject, constants, createHash, createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify } from "node:crypto";
import { bool, bytes, child, childrenOf, enumeration, enumName, int, item, long, maskValue, struct, tagOf, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import type { Handler, OpContext } from "../context.ts";
import { OperationError } from "../errors.ts";
import {
  attr,
  attrNumber,
  idItem,
  loadObject,
  loadObjectForUpdate,
  type ManagedObject,
  OBJECT_TYPE,
  saveObject,
  secretKeyOf,
  setAttr,
  STATE,
  withMaterial,
} from "../objects.ts";
import { nativeFormat, symmetricKeyBytes } from "../key_block.ts";
import { oaepDecrypt, oaepEncrypt, type OaepParams } from "../rsa_oaep.ts";
import { symmetric } from "./symmetric.ts";

type Use = "Encrypt" | "Decrypt" | "Sign" | "Verify" | "MACGenerate" | "MACVerify";
const PROTECT: Use[] = ["Encrypt", "Sign", "MACGenerate"];

async function usableKey(ctx: OpContext, payload: Ttlv | undefined, use: Use): Promise<ManagedObject> {
  const o = await loadObject(ctx, payload);
  if (!o.material) throw new OperationError("WrongKeyLifecycleState", `object ${o.id} has no key material`);
  const ok = o.state === STATE.Active || (!PROTECT.includes(use) && (o.state === STATE.Deactivated || o.state === STATE.Compromised));
  if (!ok) throw new OperationError("WrongKeyLifecycleState", `object ${o.id} is ${enumName("State", o.state)}: it cannot be used to ${use}`);
  const mask = attrNumber(o, "CryptographicUsageMask");
  if (mask === undefined || (mask & maskValue("CryptographicUsageMask", use)) === 0) {
    throw new OperationError("IncompatibleCryptographicUsageMask", `object ${o.id} is not allowed to ${use}`);
  }
  checkDates(ctx, o, use);
  return o.objectType === OBJECT_TYPE.SymmetricKey ? withMaterial(o, symmetricKeyBytes(o)) : o;
}

interface Params {
  alg?: string;
  mode?: string;
  padding?: string;
  hash?: string;
  tagLength?: number;
  randomIv?: boolean;
  signatureAlg?: string;
  signatureAlgValue?: number;
  maskGeneratorHash?: string;
  /** OAEP label (P Source). */
  label?: Uint8Array;
}

/**
 * The cryptographic parameters of an operation: each field from the request's CryptographicParameters, else
 * from the key's own Cryptographic Parameters attribute, else the key's algorithm and the defaults.
 */
function params(ctx: OpContext, payload: Ttlv | undefined, o: ManagedObject): Params {
  const req = child(payload, "CryptographicParameters");
  const own = attr(o, "CryptographicParameters");
  const pick = (n: string) => (enumeration(req, n) !== undefined ? enumeration(req, n) : enumeration(own, n));
  const e = (n: string, enumName2 = n) => {
    const v = pick(n);
    return v === undefined ? undefined : enumName(enumName2, v, ctx.version);
  };
  const alg =
    e("CryptographicAlgorithm") ??
    (attrNumber(o, "CryptographicAlgorithm") !== undefined ? enumName("CryptographicAlgorithm", attrNumber(o, "CryptographicAlgorithm")!) : undefined);
  return {
    alg,
    mode: e("BlockCipherMode"),
    padding: e("PaddingMethod"),
    hash: e("HashingAlgorithm"),
    tagLength: int(req, "TagLength") ?? int(own, "TagLength"),
    randomIv: bool(req, "RandomIV") ?? bool(own, "RandomIV"),
    signatureAlg: e("DigitalSignatureAlgorithm"),
    signatureAlgValue: pick("DigitalSignatureAlgorithm"),
    maskGeneratorHash: e("MaskGeneratorHashingAlgorithm", "HashingAlgorithm"),
    label: bytes(req, "PSource") ?? bytes(own, "PSource"),
  };
}

/** Process/protect windows: a key protects only within [ProtectStartDate, ProtectStopDate] and processes within [ProcessStartDate, ProcessStopDate]. */
function checkDates(ctx: OpContext, o: ManagedObject, use: Use): void {
  const now = BigInt(Math.floor(ctx.now().getTime() / 1000));
  const date = (n: string) => {
    const v = attr(o, n);
    return v?.type === TTLV_TYPE.DateTime ? v.value : undefined;
  };
  const [start, stop] = PROTECT.includes(use) ? ["ProtectStartDate", "ProtectStopDate"] : ["ProcessStartDate", "ProcessStopDate"];
  const a = date(start);
  const b = date(stop);
  if ((a !== undefined && now < a) || (b !== undefined && now > b)) {
    throw new OperationError("WrongKeyLifecycleState", `object ${o.id} is outside its ${PROTECT.includes(use) ? "protect" : "process"} window`);
  }
}

const HASH: Record<string, string> = { SHA_1: "sha1", SHA_224: "sha224", SHA_256: "sha256", SHA_384: "sha384", SHA_512: "sha512" };

/** OAEP's hashes: the Hashing Algorithm (SHA-256 unless given) and MGF1's, which is the same unless given. */
function oaepParams(p: Params): OaepParams {
  const hash = HASH[p.hash ?? "SHA_256"];
  const mgfHash = p.maskGeneratorHash === undefined ? hash : HASH[p.maskGeneratorHash];
  if (!hash || !mgfHash)
    throw new OperationError("UnsupportedCryptographicParameters", `OAEP with ${p.hash ?? ""} / MGF1 ${p.maskGeneratorHash ?? ""} is not supported`);
  return { hash, mgfHash, label: p.label };
}

/** The node:crypto key of an asymmetric object, read in the format it is stored in. */
function asymmetricKey(o: ManagedObject): KeyObject {
  const format = nativeFormat(o);
  const der = Buffer.from(o.material!);
  try {
    if (o.objectType === OBJECT_TYPE.PrivateKey) {
      return createPrivateKey({ key: der, format: "der", type: format === "PKCS_1" ? "pkcs1" : format === "ECPrivateKey" ? "sec1" : "pkcs8" });
    }
    return createPublicKey({ key: der, format: "der", type: format === "PKCS_1" ? "pkcs1" : "spki" });
  } catch (e) {
    throw new OperationError("CryptographicFailure", `object ${o.id}: its ${format} key cannot be used (${(e as Error).message})`);
  }
}

function b(x: Buffer): Uint8Array {
  return new Uint8Array(x);
}

function cryptoFailure(e: unknown, what: string): never {
  if (e instanceof OperationError) throw e;
  throw new OperationError("CryptographicFailure", `${what} failed: ${(e as Error).message}`);
}

/**
 * Usage limits (KMIP 1.4 §3.21, 2.1 §4.56): a key with a Usage Limits attribute may protect only that many
 * bytes (or objects); what is left is kept in Usage Limits Count, and running out is PermissionDenied.
 */
async function consumeUsage(ctx: OpContext, o: ManagedObject, amount: number): Promise<void> {
  if (!attr(o, "UsageLimits")) return;
  // What is left is read again with the object held: two requests at once cannot both spend the same remainder.
  const loaded = await loadObjectForUpdate(ctx, struct("RequestPayload", [item("UniqueIdentifier", o.id)]));
  const limits = attr(loaded, "UsageLimits");
  if (!limits) return;
  const unit = enumeration(limits, "UsageLimitsUnit");
  const need = BigInt(unit !== undefined && enumName("UsageLimitsUnit", unit) === "Object" ? 1 : amount);
  const total = long(limits, "UsageLimitsTotal") ?? 0n;
  const left = long(limits, "UsageLimitsCount") ?? total;
  if (left < need) throw new OperationError("PermissionDenied", `object ${o.id} has used up its usage limits`);
  const updated = struct("UsageLimits", [...childrenOf(limits).filter((c) => c.tag !== tagOf("UsageLimitsCount")), item("UsageLimitsCount", left - need)]);
  setAttr(loaded, "UsageLimits", updated);
  await saveObject(ctx, loaded);
}

/** Get Usage Allocation: reserves part of a key's usage limits for the client. */
export const getUsageAllocation: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "Encrypt");
  const count = long(payload, "UsageLimitsCount");
  if (count === undefined) throw new OperationError("InvalidField", "Get Usage Allocation needs a UsageLimitsCount");
  await consumeUsage(ctx, o, Number(count));
  return [idItem(o)];
};

/** Encrypt. */
export const encrypt: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "Encrypt");
  // The request that continues or ends a stream may carry no more data.
  const data = bytes(payload, "Data") ?? (bytes(payload, "CorrelationValue") ? new Uint8Array(0) : undefined);
  if (!data) throw new OperationError("InvalidField", "Encrypt needs Data");
  await consumeUsage(ctx, o, data.length);
  const p = params(ctx, payload, o);
  const out: Ttlv[] = [idItem(o)];
  try {
    if (o.objectType === OBJECT_TYPE.PublicKey && p.alg === "RSA") {
      if ((p.padding ?? "OAEP") !== "OAEP") throw new OperationError("UnsupportedCryptographicParameters", "RSA encryption supports OAEP padding");
      out.push(item("Data", oaepEncrypt(asymmetricKey(o), oaepParams(p), data)));
      return out;
    }
    if (o.objectType !== OBJECT_TYPE.SymmetricKey)
      throw new OperationError("UnsupportedCryptographicParameters", `Encrypt with ${p.alg ?? "this key"} is not supported`);
    return symmetric(ctx, o, p, payload, false, data);
  } catch (e) {
    return cryptoFailure(e, "Encrypt");
  }
};

/** Decrypt. */
export const decrypt: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "Decrypt");
  const data = bytes(payload, "Data") ?? (bytes(payload, "CorrelationValue") ? new Uint8Array(0) : undefined);
  if (!data) throw new OperationError("InvalidField", "Decrypt needs Data");
  const p = params(ctx, payload, o);
  try {
    if (o.objectType === OBJECT_TYPE.PrivateKey && p.alg === "RSA") {
      if ((p.padding ?? "OAEP") !== "OAEP") throw new OperationError("UnsupportedCryptographicParameters", "RSA decryption supports OAEP padding");
      return [idItem(o), item("Data", oaepDecrypt(asymmetricKey(o), oaepParams(p), data))];
    }
    if (o.objectType !== OBJECT_TYPE.SymmetricKey)
      throw new OperationError("UnsupportedCryptographicParameters", `Decrypt with ${p.alg ?? "this key"} is not supported`);
    return symmetric(ctx, o, p, payload, true, data);
  } catch (e) {
    return cryptoFailure(e, "Decrypt");
  }
};

// Digital Signature Algorithm enumeration values (KMIP 1.4 §9.1.3.2.7, 2.1 §11.16): the names differ between
// versions (e.g. SHA_256WithRSAEncryption vs SHA256WithRSAEncryption), the numbers do not.
const SIGNATURE_ALGORITHMS: Record<number, { hash: string; pss?: boolean; ec?: boolean }> = {
  0x02: { hash: "md5" },
  0x03: { hash: "sha1" },
  0x04: { hash: "sha224" },
  0x05: { hash: "sha256" },
  0x06: { hash: "sha384" },
  0x07: { hash: "sha512" },
  0x08: { hash: "sha256", pss: true },
  0x0c: { hash: "sha1", ec: true },
  0x0d: { hash: "sha224", ec: true },
  0x0e: { hash: "sha256", ec: true },
  0x0f: { hash: "sha384", ec: true },
  0x10: { hash: "sha512", ec: true },
  0x11: { hash: "sha3-256" },
  0x12: { hash: "sha3-384" },
  0x13: { hash: "sha3-512" },
};

function signatureOptions(p: Params, keyType: string): { hash: string; padding?: number; saltLength?: number; dsaEncoding?: "der" } {
  const known = p.signatureAlgValue !== undefined ? SIGNATURE_ALGORITHMS[p.signatureAlgValue] : undefined;
  if (p.signatureAlgValue !== undefined && !known)
    throw new OperationError("UnsupportedCryptographicParameters", `digital signature algorithm ${p.signatureAlg} is not supported`);
  const hash = (p.hash ? HASH[p.hash] : undefined) ?? known?.hash ?? "sha256";
  const pss = p.padding === "PSS" || known?.pss === true;
  if (keyType === "rsa")
    return {
      hash,
      padding: pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
      saltLength: pss ? constants.RSA_PSS_SALTLEN_DIGEST : undefined,
    };
  return { hash, dsaEncoding: "der" };
}

/** Sign. */
export const signOp: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "Sign");
  if (o.objectType !== OBJECT_TYPE.PrivateKey) throw new OperationError("IllegalObjectType", "Sign needs a private key");
  const data = bytes(payload, "Data");
  if (!data) throw new OperationError("InvalidField", "Sign needs Data");
  const key = asymmetricKey(o);
  const opt = signatureOptions(params(ctx, payload, o), key.asymmetricKeyType ?? "");
  try {
    return [idItem(o), item("SignatureData", b(sign(opt.hash, data, { key, padding: opt.padding, saltLength: opt.saltLength, dsaEncoding: opt.dsaEncoding })))];
  } catch (e) {
    return cryptoFailure(e, "Sign");
  }
};

/** Signature Verify. */
export const signatureVerify: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "Verify");
  if (o.objectType !== OBJECT_TYPE.PublicKey) throw new OperationError("IllegalObjectType", "Signature Verify needs a public key");
  const data = bytes(payload, "Data");
  const sig = bytes(payload, "SignatureData");
  if (!data || !sig) throw new OperationError("InvalidField", "Signature Verify needs Data and SignatureData");
  const key = asymmetricKey(o);
  const opt = signatureOptions(params(ctx, payload, o), key.asymmetricKeyType ?? "");
  // Only a verification that ran and said no is Invalid: a key or parameters it cannot run with is an error.
  let ok: boolean;
  try {
    ok = verify(
      opt.hash,
      data,
      {
        key,
        padding: opt.padding,
        saltLength: opt.padding === constants.RSA_PKCS1_PSS_PADDING ? constants.RSA_PSS_SALTLEN_AUTO : undefined,
        dsaEncoding: opt.dsaEncoding,
      },
      sig,
    );
  } catch (e) {
    throw new OperationError(
      "CryptographicFailure",
      `Signature Verify with object ${o.id} (${key.asymmetricKeyType ?? "unknown"} key, ${opt.hash}) cannot run: ${(e as Error).message}`,
    );
  }
  return [idItem(o), item("ValidityIndicator", ok ? "Valid" : "Invalid")];
};

function hmacName(o: ManagedObject, p: Params): string {
  const alg = p.alg ?? "";
  const m = /^HMAC_(SHA\d+)$/.exec(alg);
  if (m) return HASH[m[1].replace("SHA", "SHA_")] ?? "sha256";
  if (p.hash) return HASH[p.hash];
  throw new OperationError("UnsupportedCryptographicParameters", `MAC with ${alg || "this key"} is not supported (HMAC_SHA256/384/512)`);
}

/** MAC (HMAC). */
export const mac: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "MACGenerate");
  const data = bytes(payload, "Data");
  if (!data) throw new OperationError("InvalidField", "MAC needs Data");
  const h = createHmac(hmacName(o, params(ctx, payload, o)), secretKeyOf(o))
    .update(data)
    .digest();
  return [idItem(o), item("MACData", b(h))];
};

/** MAC Verify. */
export const macVerify: Handler = async (ctx, payload) => {
  const o = await usableKey(ctx, payload, "MACVerify");
  const data = bytes(payload, "Data");
  const given = bytes(payload, "MACData");
  if (!data || !given) throw new OperationError("InvalidField", "MAC Verify needs Data and MACData");
  const h = createHmac(hmacName(o, params(ctx, payload, o)), secretKeyOf(o))
    .update(data)
    .digest();
  const ok = h.length === given.length && timingSafeEqual(h, given);
  return [idItem(o), item("ValidityIndicator", ok ? "Valid" : "Invalid")];
};

// Hashing Algorithm enumeration values (the names differ between 1.4 and 2.x for SHA-3, the numbers do not).
const HASH_BY_VALUE: Record<number, string> = {
  0x03: "md5",
  0x04: "sha1",
  0x05: "sha224",
  0x06: "sha256",
  0x07: "sha384",
  0x08: "sha512",
  0x09: "ripemd160",
  0x0c: "sha512-224",
  0x0d: "sha512-256",
  0x0e: "sha3-224",
  0x0f: "sha3-256",
  0x10: "sha3-384",
  0x11: "sha3-512",
};

/**
 * Hash (KMIP 1.3+, 2.1 §6.1.24): the digest of Data under the Cryptographic Parameters' Hashing Algorithm.
 * Only whole messages are hashed; streaming (Correlation Value, Init/Final Indicator over several requests)
 * is not supported.
 */
export const hashOp: Handler = async (_ctx, payload) => {
  const params = child(payload, "CryptographicParameters");
  const alg = enumeration(params, "HashingAlgorithm");
  if (alg === undefined) throw new OperationError("InvalidField", "Hash needs CryptographicParameters with a HashingAlgorithm");
  const name = HASH_BY_VALUE[alg];
  if (!name) throw new OperationError("UnsupportedCryptographicParameters", `hashing algorithm ${alg} is not supported`);
  if (child(payload, "CorrelationValue") || bool(payload, "InitIndicator") === true || bool(payload, "FinalIndicator") === false) {
    throw new OperationError("FeatureNotSupported", "Hash over several requests (streaming) is not supported; send the whole Data");
  }
  const data = bytes(payload, "Data");
  if (!data) throw new OperationError("InvalidField", "Hash needs Data");
  return [item("Data", b(createHash(name).update(data).digest()))];
};
