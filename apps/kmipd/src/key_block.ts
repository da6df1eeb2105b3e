/**
 * Managed objects on the wire: the KeyBlock (format, key value, algorithm, length, wrapping data) of keys
 * and secret data, and certificates. Symmetric keys go out as Raw with Cryptographic Algorithm and Length in
 * the key block; private keys as PKCS#8, public keys as X.509 SubjectPublicKeyInfo.
 * @module
 */
import { bytes, child, decodeTtlv, encodeTtlv, enumName, enumeration, int, item, struct, type Ttlv, TTLV_TYPE } from "@tessera/kmip";
import { OperationError } from "./errors.ts";
import { attrNumber, type ManagedObject, OBJECT_TYPE } from "./objects.ts";

/** Object type → its tag name in Get/Register payloads. */
export const OBJECT_TAG: Readonly<Record<number, string>> = {
  [OBJECT_TYPE.Certificate]: "Certificate",
  [OBJECT_TYPE.SymmetricKey]: "SymmetricKey",
  [OBJECT_TYPE.PublicKey]: "PublicKey",
  [OBJECT_TYPE.PrivateKey]: "PrivateKey",
  [OBJECT_TYPE.SecretData]: "SecretData",
  [OBJECT_TYPE.OpaqueObject]: "OpaqueObject",
};

/** The key format an object's material is in: as registered, else the type's default. */
export function nativeFormat(o: ManagedObject | number): string {
  if (typeof o !== "number") {
    const f = attrNumber(o, "KeyFormatType");
    if (f !== undefined) return enumName("KeyFormatType", f);
  }
  const objectType = typeof o === "number" ? o : o.objectType;
  switch (objectType) {
    case OBJECT_TYPE.SymmetricKey:
      return "Raw";
    case OBJECT_TYPE.PrivateKey:
      return "PKCS_8";
    case OBJECT_TYPE.PublicKey:
      return "X_509";
    case OBJECT_TYPE.SecretData:
      return "Opaque";
    default:
      return "Opaque";
  }
}

/** Key material read from a Register payload's object. */
export interface ParsedObject {
  objectType: number;
  material: Uint8Array;
  keyFormat: string;
  algorithm?: number;
  length?: number;
  extra: Ttlv[];
}

/** Reads the object of a Register request (SymmetricKey, SecretData, PrivateKey, PublicKey, Certificate, OpaqueObject). */
export function parseObject(objectType: number, payload: Ttlv | undefined): ParsedObject {
  const tag = OBJECT_TAG[objectType];
  if (!tag) throw new OperationError("InvalidObjectType", `object type ${objectType} cannot be registered here`);
  const obj = child(payload, tag);
  if (!obj) throw new OperationError("InvalidField", `Register of a ${tag} carries no ${tag}`);
  if (objectType === OBJECT_TYPE.Certificate) {
    const der = bytes(obj, "CertificateValue");
    if (!der) throw new OperationError("InvalidField", "Certificate has no CertificateValue");
    return { objectType, material: der, keyFormat: "X_509", extra: [] };
  }
  if (objectType === OBJECT_TYPE.OpaqueObject) {
    const v = bytes(obj, "OpaqueDataValue");
    if (!v) throw new OperationError("InvalidField", "OpaqueObject has no OpaqueDataValue");
    const odt = child(obj, "OpaqueDataType");
    return { objectType, material: v, keyFormat: "Opaque", extra: odt ? [odt] : [] };
  }
  const kb = child(obj, "KeyBlock");
  if (!kb) throw new OperationError("InvalidField", `${tag} has no KeyBlock`);
  // Register unwraps a wrapped key before it gets here (key_wrapping.ts).
  if (child(kb, "KeyWrappingData")) throw new OperationError("FeatureNotSupported", "wrapped key material must be unwrapped first");
  const format = enumeration(kb, "KeyFormatType");
  const formatName = format === undefined ? "Raw" : enumName("KeyFormatType", format);
  const kv = child(kb, "KeyValue");
  const km = child(kv, "KeyMaterial");
  let material = kv?.type === TTLV_TYPE.ByteString ? kv.value : km?.type === TTLV_TYPE.ByteString ? km.value : undefined;
  // Transparent formats carry the key as a KeyMaterial structure: it is kept as its TTLV encoding (wrapped
  // like any key material) and handed back in the format it came in.
  if (!material && formatName.startsWith("Transparent") && km?.type === TTLV_TYPE.Structure) material = encodeTtlv(km);
  if (!material) throw new OperationError("InvalidField", `${tag} KeyBlock has no KeyMaterial in a format this server stores (${formatName})`);
  const expected: Record<number, string[]> = {
    [OBJECT_TYPE.SymmetricKey]: ["Raw", "TransparentSymmetricKey"],
    [OBJECT_TYPE.SecretData]: ["Opaque", "Raw"],
    [OBJECT_TYPE.PrivateKey]: [
      "PKCS_8",
      "PKCS_1",
      "ECPrivateKey",
      "TransparentRSAPrivateKey",
      "TransparentDSAPrivateKey",
      "TransparentECPrivateKey",
      "TransparentECDSAPrivateKey",
    ],
    [OBJECT_TYPE.PublicKey]: ["X_509", "PKCS_1", "TransparentRSAPublicKey", "TransparentDSAPublicKey", "TransparentECPublicKey", "TransparentECDSAPublicKey"],
  };
  if (!expected[objectType]?.includes(formatName)) throw new OperationError("KeyFormatTypeNotSupported", `${tag} in ${formatName} format is not supported`);
  return {
    objectType,
    material,
    keyFormat: formatName,
    algorithm: enumeration(kb, "CryptographicAlgorithm"),
    length: int(kb, "CryptographicLength"),
    extra: obj.type === TTLV_TYPE.Structure ? obj.value.filter((c) => c.tag !== kb.tag) : [],
  };
}

/** The KeyValue of key material in `format`: transparent formats are a KeyMaterial structure. */
export function keyValue(format: string, material: Uint8Array): Ttlv {
  return struct("KeyValue", [format.startsWith("Transparent") ? decodeTtlv(material) : item("KeyMaterial", material)]);
}

/** The raw bytes of a symmetric key, whatever format it was registered in. */
export function symmetricKeyBytes(o: ManagedObject): Uint8Array {
  if (!o.material) throw new OperationError("WrongKeyLifecycleState", `object ${o.id} has no key material`);
  if (nativeFormat(o) !== "TransparentSymmetricKey") return o.material;
  const key = bytes(decodeTtlv(o.material), "Key");
  if (!key) throw new OperationError("CryptographicFailure", `object ${o.id} has a malformed transparent key`);
  return key;
}

/** The KeyBlock of an object, with material already in the format `format` (or wrapped: `wrapping`). */
export function keyBlock(o: ManagedObject, format: string, keyValue: Ttlv, wrapping?: Ttlv): Ttlv {
  const alg = attrNumber(o, "CryptographicAlgorithm");
  const len = attrNumber(o, "CryptographicLength");
  return struct("KeyBlock", [
    item("KeyFormatType", format),
    keyValue,
    alg !== undefined && item("CryptographicAlgorithm", alg),
    len !== undefined && item("CryptographicLength", len),
    wrapping,
  ]);
}

/** The object item of a Get response. */
export function objectItem(o: ManagedObject, block: Ttlv | undefined): Ttlv {
  const tag = OBJECT_TAG[o.objectType];
  if (o.objectType === OBJECT_TYPE.Certificate) {
    return struct("Certificate", [item("CertificateType", "X_509"), item("CertificateValue", o.material!)]);
  }
  if (o.objectType === OBJECT_TYPE.OpaqueObject) {
    return struct("OpaqueObject", [item("OpaqueDataType", attrNumber(o, "OpaqueDataType") ?? 0x80000000), item("OpaqueDataValue", o.material!)]);
  }
  if (o.objectType === OBJECT_TYPE.SecretData) {
    return struct("SecretData", [item("SecretDataType", attrNumber(o, "SecretDataType") ?? 1), block]);
  }
  return struct(tag, [block]);
}
