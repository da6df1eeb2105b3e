/**
 * Key wrapping (KMIP 1.4 and 2.1 §2.1.5): a Key Value encrypted by another managed symmetric key, the
 * key-encryption key (KEK), with AES key wrap (RFC 3394, NISTKeyWrap) or AES key wrap with padding (RFC 5649,
 * AESKeyWrapPadding). The Encoding Option says what is wrapped:
 *
 * - TTLV Encoding (the default when none is given): the whole Key Value structure, TTLV-encoded; the Key Value
 *   of the wrapped Key Block is then that Byte String.
 * - No Encoding: only the Key Material bytes; the Key Value stays a structure holding the wrapped bytes.
 *
 * Get wraps a key for the client (Key Wrapping Specification); Register unwraps a key a client brings wrapped
 * under a KEK kmipd holds (Key Wrapping Data), so keys can be imported without ever crossing in the clear.
 * @module
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import {
  child,
  decodeTtlv,
  encodeTtlv,
  enumeration,
  enumName,
  item,
  KmipDecodeError,
  maskValue,
  struct,
  tagOf,
  text,
  type Ttlv,
  TTLV_TYPE,
} from "@tessera/kmip";
import type { OpContext } from "./context.ts";
import { OperationError } from "./errors.ts";
import { symmetricKeyBytes } from "./key_block.ts";
import { attrNumber, fromStored, mayAccess, OBJECT_TYPE, STATE } from "./objects.ts";

/** How a Key Value is (to be) wrapped: by which KEK, with which parameters, in which encoding. */
export interface Wrapping {
  kekId: string;
  /** The Cryptographic Parameters given with the KEK, if any. */
  params?: Ttlv;
  encoding: "TTLVEncoding" | "NoEncoding";
}

/** Reads a Key Wrapping Specification (Get) or Key Wrapping Data (a Register's Key Block). */
export function readWrapping(spec: Ttlv): Wrapping {
  const method = enumeration(spec, "WrappingMethod");
  if (method !== undefined && enumName("WrappingMethod", method) !== "Encrypt")
    throw new OperationError("FeatureNotSupported", `key wrapping by ${enumName("WrappingMethod", method)} is not supported: only Encrypt`);
  const info = child(spec, "EncryptionKeyInformation");
  const kekId = text(info, "UniqueIdentifier");
  if (!kekId)
    throw new OperationError(
      "InvalidField",
      `${spec.tag === tagOf("KeyWrappingData") ? "KeyWrappingData" : "KeyWrappingSpecification"} needs EncryptionKeyInformation with a UniqueIdentifier`,
    );
  const option = enumeration(spec, "EncodingOption");
  const encoding = option === undefined ? "TTLVEncoding" : enumName("EncodingOption", option);
  if (encoding !== "TTLVEncoding" && encoding !== "NoEncoding") throw new OperationError("InvalidField", `unknown Encoding Option ${encoding}`);
  return { kekId, params: child(info, "CryptographicParameters"), encoding };
}

/** The Key Wrapping Data of a Key Block wrapped as `w` says. */
export function wrappingData(w: Wrapping): Ttlv {
  return struct("KeyWrappingData", [
    item("WrappingMethod", "Encrypt"),
    struct("EncryptionKeyInformation", [item("UniqueIdentifier", w.kekId), w.params]),
    // TTLV Encoding is the default and goes unsaid, as in the OASIS cases.
    w.encoding === "NoEncoding" && item("EncodingOption", w.encoding),
  ]);
}

/** The KEK's bytes, once it is known to be a symmetric key the caller may use, Active, and allowed `use`. */
async function kekBytes(ctx: OpContext, w: Wrapping, use: "WrapKey" | "UnwrapKey"): Promise<Uint8Array> {
  const s = await ctx.store.get(w.kekId);
  if (!s || !mayAccess(ctx.identity, s)) throw new OperationError("ItemNotFound", `no wrapping key ${w.kekId}`);
  const kek = fromStored(ctx, s);
  if (kek.objectType !== OBJECT_TYPE.SymmetricKey || !kek.material)
    throw new OperationError("IllegalObjectType", `wrapping key ${w.kekId} is not a symmetric key`);
  if (kek.state !== STATE.Active) throw new OperationError("WrongKeyLifecycleState", `wrapping key ${w.kekId} is not Active`);
  if (((attrNumber(kek, "CryptographicUsageMask") ?? 0) & maskValue("CryptographicUsageMask", use)) === 0)
    throw new OperationError("IncompatibleCryptographicUsageMask", `wrapping key ${w.kekId} does not allow ${use === "WrapKey" ? "Wrap Key" : "Unwrap Key"}`);
  return symmetricKeyBytes(kek);
}

/** OpenSSL's cipher and the RFC's initial value for the KEK's block cipher mode (default NISTKeyWrap). */
function keyWrapCipher(w: Wrapping, kek: Uint8Array): { name: string; iv: Buffer } {
  const mode = enumeration(w.params, "BlockCipherMode");
  const modeName = mode === undefined ? "NISTKeyWrap" : enumName("BlockCipherMode", mode);
  const bits = kek.length * 8;
  if (![128, 192, 256].includes(bits)) throw new OperationError("CryptographicFailure", `wrapping key ${w.kekId} is not an AES key (${bits} bits)`);
  if (modeName === "NISTKeyWrap") return { name: `id-aes${bits}-wrap`, iv: Buffer.from("a6a6a6a6a6a6a6a6", "hex") };
  if (modeName === "AESKeyWrapPadding") return { name: `id-aes${bits}-wrap-pad`, iv: Buffer.from("a65959a6", "hex") };
  throw new OperationError("UnsupportedCryptographicParameters", `key wrapping with ${modeName} is not supported (NISTKeyWrap, AESKeyWrapPadding)`);
}

/**
 * Wraps `keyValue` (the Key Value structure as it would be sent in the clear) under the KEK of `w`: returns
 * the Key Value to send and the Key Wrapping Data to put beside it.
 */
export async function wrapKeyValue(ctx: OpContext, keyValue: Ttlv, w: Wrapping): Promise<{ keyValue: Ttlv; wrappingData: Ttlv }> {
  const kek = await kekBytes(ctx, w, "WrapKey");
  const cipher = keyWrapCipher(w, kek);
  let plain: Uint8Array;
  if (w.encoding === "TTLVEncoding") plain = encodeTtlv(keyValue);
  else {
    const km = child(keyValue, "KeyMaterial");
    if (km?.type !== TTLV_TYPE.ByteString)
      throw new OperationError("EncodingOptionError", "No Encoding wraps a Key Material byte string; this key's material is a structure: use TTLV Encoding");
    plain = km.value;
  }
  if (cipher.name.endsWith("-wrap") && plain.length % 8 !== 0)
    throw new OperationError("CryptographicFailure", "RFC 3394 wraps multiples of 8 bytes; use AESKeyWrapPadding");
  const c = createCipheriv(cipher.name, kek, cipher.iv);
  const wrapped = new Uint8Array(Buffer.concat([c.update(plain), c.final()]));
  return {
    keyValue: w.encoding === "TTLVEncoding" ? item("KeyValue", wrapped) : struct("KeyValue", [item("KeyMaterial", wrapped)]),
    wrappingData: wrappingData(w),
  };
}

/**
 * Unwraps the Key Value of a wrapped Key Block under the KEK of `w`; returns the Key Value structure in the
 * clear. A Key Value that does not unwrap (another KEK, altered bytes) is a Cryptographic Failure.
 */
export async function unwrapKeyValue(ctx: OpContext, keyValue: Ttlv | undefined, w: Wrapping): Promise<Ttlv> {
  const wrapped =
    w.encoding === "TTLVEncoding"
      ? keyValue?.type === TTLV_TYPE.ByteString
        ? keyValue.value
        : undefined
      : (() => {
          const km = child(keyValue, "KeyMaterial");
          return km?.type === TTLV_TYPE.ByteString ? km.value : undefined;
        })();
  if (!wrapped)
    throw new OperationError(
      "InvalidField",
      w.encoding === "TTLVEncoding"
        ? "a Key Block wrapped with TTLV Encoding has its Key Value as a Byte String"
        : "a Key Block wrapped with No Encoding has a Key Value structure with a Key Material byte string",
    );
  const kek = await kekBytes(ctx, w, "UnwrapKey");
  const cipher = keyWrapCipher(w, kek);
  let plain: Uint8Array;
  try {
    const d = createDecipheriv(cipher.name, kek, cipher.iv);
    plain = new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
  } catch {
    throw new OperationError("CryptographicFailure", `the Key Value does not unwrap under wrapping key ${w.kekId} (another key, or altered bytes)`);
  }
  if (w.encoding === "NoEncoding") return struct("KeyValue", [item("KeyMaterial", plain)]);
  let decoded: Ttlv;
  try {
    decoded = decodeTtlv(plain, { maxDepth: 16, maxSize: plain.length });
  } catch (e) {
    throw new OperationError("EncodingOptionError", `the unwrapped Key Value is not TTLV (${e instanceof KmipDecodeError ? e.message : "undecodable"})`);
  }
  if (decoded.tag !== tagOf("KeyValue")) throw new OperationError("EncodingOptionError", "the unwrapped TTLV is not a Key Value structure");
  return decoded;
}

/**
 * A Register payload whose key arrived wrapped (its Key Block has Key Wrapping Data), with the Key Value
 * unwrapped in place and the Key Wrapping Data taken out; `wrapping` is that Key Wrapping Data (to remember for
 * Get As Registered). A payload whose key is not wrapped comes back as it is.
 */
export async function unwrapRegistered(
  ctx: OpContext,
  objectTag: string | undefined,
  payload: Ttlv | undefined,
): Promise<{ payload: Ttlv | undefined; wrapping?: Ttlv }> {
  const obj = objectTag ? child(payload, objectTag) : undefined;
  const kb = child(obj, "KeyBlock");
  const wd = child(kb, "KeyWrappingData");
  if (!wd || payload?.type !== TTLV_TYPE.Structure || obj?.type !== TTLV_TYPE.Structure || kb?.type !== TTLV_TYPE.Structure) return { payload };
  const w = readWrapping(wd);
  const clear = await unwrapKeyValue(ctx, child(kb, "KeyValue"), w);
  const block: Ttlv = { ...kb, value: kb.value.filter((c) => c.tag !== wd.tag).map((c) => (c.tag === clear.tag ? clear : c)) };
  const object: Ttlv = { ...obj, value: obj.value.map((c) => (c === kb ? block : c)) };
  return { payload: { ...payload, value: payload.value.map((c) => (c === obj ? object : c)) }, wrapping: wrappingData(w) };
}
