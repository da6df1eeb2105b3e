/**
 * Create (symmetric keys), Create Key Pair (RSA, EC) and Register.
 * @module
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { child, enumValue, enumeration, enumName, item, maskValue, struct, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { type Attr, parseAttributes } from "../attributes.ts";
import type { Handler, OpContext } from "../context.ts";
import { OperationError } from "../errors.ts";
import { OBJECT_TAG, parseObject } from "../key_block.ts";
import { unwrapRegistered } from "../key_wrapping.ts";
import { certificateAttributes } from "../certificate_attributes.ts";
import { randomBytesFromPool } from "@tessera/service";
import { serverRngAttribute } from "../random.ts";
import {
  attr,
  attrNumber,
  idItem,
  insertObject,
  loadOwnObject,
  type ManagedObject,
  newObject,
  OBJECT_TYPE,
  saveObject,
  SERVER_SET,
  setAttr,
  STATE,
  touch,
} from "../objects.ts";

const ALG = (n: string) => enumValue("CryptographicAlgorithm", n);

function num(attrs: Attr[], name: string): number | undefined {
  const v = attrs.find((a) => a.name === name)?.value;
  return v && (v.type === TTLV_TYPE.Integer || v.type === TTLV_TYPE.Enumeration) ? v.value : undefined;
}

function requireSingle(attrs: Attr[]): void {
  const seen = new Set<string>();
  for (const a of attrs) {
    if (
      a.name === "Name" ||
      a.name.startsWith("x-") ||
      a.name.startsWith("y-") ||
      a.name === "Link" ||
      a.name === "ObjectGroup" ||
      a.name === "ApplicationSpecificInformation" ||
      a.name === "AlternativeName" ||
      a.name === "KeyValueLocation"
    )
      continue;
    if (seen.has(a.name)) throw new OperationError("AttributeSingleValued", `${a.name} is single-valued but was given twice`);
    seen.add(a.name);
  }
}

/** Records that the server generated the object's key material: its Random Number Generator, unless the client named one. */
function generatedHere(o: ManagedObject): void {
  if (!attr(o, "RandomNumberGenerator")) o.attrs.push({ name: "RandomNumberGenerator", value: serverRngAttribute() });
}

/** Symmetric algorithms that stay secure against a quantum adversary at 256 bits or more (Grover halves the strength). */
const QUANTUM_SAFE_SYMMETRIC = new Set(["AES", "ChaCha20", "HMAC_SHA256", "HMAC_SHA384", "HMAC_SHA512", "Camellia", "ARIA"]);

/**
 * Quantum Safe (KMIP 2.0+): a client asking for a quantum-safe object gets one or a failure, never a weaker
 * object marked as safe (the QS-M profile). Symmetric keys of 256 bits and more qualify; RSA and elliptic-curve
 * keys, which Shor's algorithm breaks, and objects whose strength the server cannot judge do not.
 */
function requireQuantumSafe(o: ManagedObject): void {
  const qs = attr(o, "QuantumSafe");
  if (qs?.type !== TTLV_TYPE.Boolean || !qs.value) return;
  const alg = attrNumber(o, "CryptographicAlgorithm");
  const len = attrNumber(o, "CryptographicLength") ?? 0;
  const name = alg === undefined ? "unknown" : enumName("CryptographicAlgorithm", alg);
  if (o.objectType === OBJECT_TYPE.SymmetricKey && QUANTUM_SAFE_SYMMETRIC.has(name) && len >= 256) return;
  throw new OperationError("GeneralFailure", `NOT_SAFE: a ${enumName("ObjectType", o.objectType)} of ${name}${len ? ` ${len} bits` : ""} is not quantum safe`);
}

/** The symmetric algorithms Create makes, with their allowed lengths in bits. */
const SYMMETRIC: Record<string, number[] | "any"> = {
  AES: [128, 192, 256],
  HMAC_SHA1: "any",
  HMAC_SHA256: "any",
  HMAC_SHA384: "any",
  HMAC_SHA512: "any",
  ChaCha20: [256],
  DES3: [168, 192],
};

/** Create: a symmetric key (AES 128/192/256, HMAC keys) with the client's attributes. */
export const create: Handler = async (ctx, payload) => {
  const objectType = enumeration(payload, "ObjectType");
  if (objectType !== OBJECT_TYPE.SymmetricKey) {
    throw new OperationError(
      "InvalidObjectType",
      `Create makes symmetric keys; use Create Key Pair or Register for ${objectType === undefined ? "other objects" : enumName("ObjectType", objectType)}`,
    );
  }
  const attrs = parseAttributes(payload);
  requireSingle(attrs);
  const alg = num(attrs, "CryptographicAlgorithm");
  const len = num(attrs, "CryptographicLength");
  if (alg === undefined) throw new OperationError("InvalidField", "Create needs a Cryptographic Algorithm");
  if (len === undefined || len <= 0 || len % 8 !== 0 || len > 4096)
    throw new OperationError("InvalidField", "Create needs a Cryptographic Length that is a positive multiple of 8");
  const algName = enumName("CryptographicAlgorithm", alg);
  const allowed = SYMMETRIC[algName];
  if (!allowed) throw new OperationError("InvalidField", `Create does not make ${algName} keys`);
  if (allowed !== "any" && !allowed.includes(len)) throw new OperationError("InvalidField", `${algName} keys are ${allowed.join(", ")} bits, not ${len}`);
  // 3DES keys are 24 bytes whether their length is given as 168 (effective) or 192 bits.
  const o = newObject(ctx, OBJECT_TYPE.SymmetricKey, attrs, randomBytesFromPool(algName === "DES3" ? 24 : len / 8), "Raw");
  requireQuantumSafe(o);
  generatedHere(o);
  await insertObject(ctx, o);
  return [item("ObjectType", OBJECT_TYPE.SymmetricKey), idItem(o)];
};

/** Register: symmetric keys, secret data, certificates, public and private keys, opaque objects. */
export const register: Handler = async (ctx, payload) => {
  const objectType = enumeration(payload, "ObjectType");
  if (objectType === undefined) throw new OperationError("InvalidField", "Register needs an ObjectType");
  // A key brought wrapped under a key-encryption key kmipd holds is unwrapped here and then kept like any other
  // (under the master key); how it came wrapped is remembered, for Get with Key Wrap Type As Registered.
  const { payload: clear, wrapping } = await unwrapRegistered(ctx, OBJECT_TAG[objectType], payload);
  const parsed = parseObject(objectType, clear);
  const attrs = parseAttributes(payload);
  requireSingle(attrs);
  const o = newObject(ctx, objectType, attrs, parsed.material, parsed.keyFormat);
  if (parsed.algorithm !== undefined && attrNumber(o, "CryptographicAlgorithm") === undefined)
    setAttr(o, "CryptographicAlgorithm", item("CryptographicAlgorithm", parsed.algorithm));
  if (parsed.length !== undefined && attrNumber(o, "CryptographicLength") === undefined)
    setAttr(o, "CryptographicLength", item("CryptographicLength", parsed.length));
  if (objectType === OBJECT_TYPE.SymmetricKey && attrNumber(o, "CryptographicLength") === undefined) {
    setAttr(o, "CryptographicLength", item("CryptographicLength", parsed.material.length * 8));
  }
  const sdt = parsed.extra.find((e) => e.type === TTLV_TYPE.Enumeration);
  if (objectType === OBJECT_TYPE.SecretData && sdt) setAttr(o, "SecretDataType", sdt);
  if (objectType === OBJECT_TYPE.OpaqueObject && sdt) setAttr(o, "OpaqueDataType", sdt);
  if (objectType !== OBJECT_TYPE.Certificate && objectType !== OBJECT_TYPE.OpaqueObject) setAttr(o, "KeyFormatType", item("KeyFormatType", parsed.keyFormat));
  if (objectType === OBJECT_TYPE.Certificate) for (const a of certificateAttributes(parsed.material)) setAttr(o, a.name, a.value);
  if (wrapping) setAttr(o, "KeyWrappingData", wrapping);
  requireQuantumSafe(o);
  await insertObject(ctx, o);
  return [idItem(o)];
};

function keyPairParams(all: Attr[]): { alg: string; length: number; curve?: string } {
  const alg = num(all, "CryptographicAlgorithm");
  if (alg === undefined) throw new OperationError("InvalidField", "Create Key Pair needs a Cryptographic Algorithm");
  const name = enumName("CryptographicAlgorithm", alg);
  const length = num(all, "CryptographicLength");
  if (name === "RSA") {
    if (!length || ![2048, 3072, 4096].includes(length)) throw new OperationError("InvalidField", "RSA key pairs are 2048, 3072 or 4096 bits");
    return { alg: name, length };
  }
  if (name === "EC" || name === "ECDSA") {
    const params = all.find((a) => a.name === "CryptographicDomainParameters")?.value;
    const curveItem = params?.type === TTLV_TYPE.Structure ? params.value.find((c) => c.type === TTLV_TYPE.Enumeration) : undefined;
    const curveValue = curveItem?.value as number | undefined;
    const curveName = curveValue !== undefined ? enumName("RecommendedCurve", curveValue) : length === 384 ? "P_384" : "P_256";
    const node = { P_256: "prime256v1", SECP256R1: "prime256v1", P_384: "secp384r1", SECP384R1: "secp384r1" }[curveName];
    if (!node) throw new OperationError("InvalidField", `curve ${curveName} is not supported (P-256, P-384)`);
    return { alg: name, length: node === "prime256v1" ? 256 : 384, curve: node };
  }
  throw new OperationError("InvalidField", `Create Key Pair does not make ${name} keys`);
}

/** Create Key Pair: RSA 2048/3072/4096 or EC P-256/P-384; the two objects are linked to each other. */
export const createKeyPair: Handler = async (ctx, payload) => {
  const common = parseAttributes(payload, "CommonAttributes");
  const priv = parseAttributes(payload, "PrivateKeyAttributes");
  const pub = parseAttributes(payload, "PublicKeyAttributes");
  const p = keyPairParams([...common, ...priv, ...pub]);
  const kp =
    p.alg === "RSA" ? generateKeyPairSync("rsa", { modulusLength: p.length, publicExponent: 65537 }) : generateKeyPairSync("ec", { namedCurve: p.curve! });
  // RSA keys are kept in PKCS#1 (what KMIP clients and the OASIS profiles expect back); EC keys in PKCS#8/X.509.
  const rsa = p.alg === "RSA";
  const privFormat = rsa ? "PKCS_1" : "PKCS_8";
  const pubFormat = rsa ? "PKCS_1" : "X_509";
  const privDer = new Uint8Array(rsa ? kp.privateKey.export({ type: "pkcs1", format: "der" }) : kp.privateKey.export({ type: "pkcs8", format: "der" }));
  const pubDer = new Uint8Array(rsa ? kp.publicKey.export({ type: "pkcs1", format: "der" }) : kp.publicKey.export({ type: "spki", format: "der" }));
  const withDefaults = (attrs: Attr[], mask: number): Attr[] => {
    const out = [...attrs];
    if (!out.some((a) => a.name === "CryptographicAlgorithm")) out.push({ name: "CryptographicAlgorithm", value: item("CryptographicAlgorithm", ALG(p.alg)) });
    if (!out.some((a) => a.name === "CryptographicLength")) out.push({ name: "CryptographicLength", value: item("CryptographicLength", p.length) });
    if (!out.some((a) => a.name === "CryptographicUsageMask")) out.push({ name: "CryptographicUsageMask", value: item("CryptographicUsageMask", mask) });
    return out;
  };
  const privObj: ManagedObject = newObject(
    ctx,
    OBJECT_TYPE.PrivateKey,
    withDefaults([...common, ...priv], maskValue("CryptographicUsageMask", "Sign")),
    privDer,
    privFormat,
  );
  const pubObj: ManagedObject = newObject(
    ctx,
    OBJECT_TYPE.PublicKey,
    withDefaults([...common, ...pub], maskValue("CryptographicUsageMask", "Verify")),
    pubDer,
    pubFormat,
  );
  setAttr(privObj, "KeyFormatType", item("KeyFormatType", privFormat));
  setAttr(pubObj, "KeyFormatType", item("KeyFormatType", pubFormat));
  requireQuantumSafe(privObj);
  requireQuantumSafe(pubObj);
  generatedHere(privObj);
  generatedHere(pubObj);
  privObj.attrs.push({ name: "Link", value: link("PublicKeyLink", pubObj.id) });
  pubObj.attrs.push({ name: "Link", value: link("PrivateKeyLink", privObj.id) });
  await insertObject(ctx, privObj);
  await insertObject(ctx, pubObj);
  return [item("PrivateKeyUniqueIdentifier", privObj.id), item("PublicKeyUniqueIdentifier", pubObj.id)];
};

function link(type: string, id: string): Ttlv {
  return struct("Link", [item("LinkType", type), item("LinkedObjectIdentifier", id)]);
}

/** Exposed for tests: the allowed symmetric algorithms. */
export const SYMMETRIC_ALGORITHMS = Object.keys(SYMMETRIC);
export type { OpContext };

/** Attributes a Re-key does not carry over: the server sets them anew or they belong to the old key only. */
const NOT_CARRIED = new Set([
  ...SERVER_SET,
  "ActivationDate",
  "DeactivationDate",
  "Link",
  "Fresh",
  "KeyFormatType",
  "OriginalCreationDate",
  "RandomNumberGenerator",
  "AlwaysSensitive",
  "NeverExtractable",
]);

/** Re-key: a new symmetric key with the old one's attributes, linked both ways (Replacement / Replaced). */
export const reKey: Handler = async (ctx, payload) => {
  const old = await loadOwnObject(ctx, payload);
  if (old.objectType !== OBJECT_TYPE.SymmetricKey || !old.material)
    throw new OperationError("IllegalObjectType", "Re-key renews symmetric keys that still have key material");
  const offset = child(payload, "Offset");
  const carried = old.attrs.filter((a) => !NOT_CARRIED.has(a.name));
  const given = parseAttributes(payload);
  // A given attribute replaces the carried one of that name, except Name: the replacement takes over the existing
  // key's names (which it loses) and adds the ones given (KMIP 1.4 §4.4, 2.1 §6.1.42, Re-key attribute table).
  const attrs = [...carried.filter((a) => a.name === "Name" || !given.some((g) => g.name === a.name)), ...given];
  const now = ctx.now();
  if (offset?.type === TTLV_TYPE.Interval)
    attrs.push({ name: "ActivationDate", value: item("ActivationDate", BigInt(Math.floor(now.getTime() / 1000) + offset.value)) });
  else if (old.state === STATE.Active) attrs.push({ name: "ActivationDate", value: item("ActivationDate", now) });
  const length = old.material.length;
  const o = newObject(ctx, OBJECT_TYPE.SymmetricKey, attrs, new Uint8Array(randomBytes(length)), "Raw");
  generatedHere(o);
  o.attrs.push({ name: "Link", value: link("ReplacedObjectLink", old.id) });
  old.attrs = old.attrs.filter((a) => a.name !== "Name");
  old.attrs.push({ name: "Link", value: link("ReplacementObjectLink", o.id) });
  touch(ctx, old);
  await insertObject(ctx, o);
  await saveObject(ctx, old);
  return [idItem(o)];
};
