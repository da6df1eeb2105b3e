/**
 * The operations {@link runPykmipClient} can run with PyKMIP's `ProxyKmipClient`, and their results.
 *
 * Conventions:
 * - Enumeration-valued fields take PyKMIP enum member names (case-insensitive, `-` or space for
 *   `_`): `"AES"`, `"HMAC_SHA256"`, `"CBC"`, `"PKCS5"`, `"ENCRYPT"`, `"KEY_COMPROMISE"`, ...
 * - Byte strings are lowercase/uppercase hex (`...Hex` fields), results are lowercase hex.
 * - References: `uid` and every `...Hex` input field may be `"$<n>"` (result value of op number
 *   `n`, 0-based, in the same run) or `"$<label>"` (op with `as: "<label>"`), optionally followed by
 *   `.<field>` to pick a field of an object result: `"$0"`, `"$kp.privateUid"`, `"$enc.dataHex"`.
 *   Referencing a failed op makes the referencing op fail with an `OpError`.
 * - `uid` omitted: the request carries no Unique Identifier, so the server uses its ID placeholder
 *   (the object of the last Create/Register/... in the session, for servers that implement it).
 *
 * @module
 */

/** A JSON value as produced by the client program. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** KMIP protocol versions PyKMIP 0.10's client can speak. */
export type KmipVersion = "1.0" | "1.1" | "1.2" | "1.3" | "1.4" | "2.0";

/** Names of KMIP Cryptographic Usage Mask bits (PyKMIP `CryptographicUsageMask` members). */
export type UsageMaskName =
  | "SIGN"
  | "VERIFY"
  | "ENCRYPT"
  | "DECRYPT"
  | "WRAP_KEY"
  | "UNWRAP_KEY"
  | "EXPORT"
  | "MAC_GENERATE"
  | "MAC_VERIFY"
  | "DERIVE_KEY"
  | "CONTENT_COMMITMENT"
  | "KEY_AGREEMENT"
  | "CERTIFICATE_SIGN"
  | "CRL_SIGN"
  | "GENERATE_CRYPTOGRAM"
  | "VALIDATE_CRYPTOGRAM"
  | "TRANSLATE_ENCRYPT"
  | "TRANSLATE_DECRYPT"
  | "TRANSLATE_WRAP"
  | "TRANSLATE_UNWRAP";

/** KMIP Revocation Reason Code names (PyKMIP `RevocationReasonCode` members). */
export type RevocationReasonName =
  "UNSPECIFIED" | "KEY_COMPROMISE" | "CA_COMPROMISE" | "AFFILIATION_CHANGED" | "SUPERSEDED" | "CESSATION_OF_OPERATION" | "PRIVILEGE_WITHDRAWN";

/** Fields shared by every op. */
export interface PykmipOpBase {
  /** Label other ops can reference as `"$<label>"`. */
  readonly as?: string;
}

/** Cryptographic Parameters for encrypt/decrypt/sign/verify (all optional; PyKMIP enum names). */
export interface CryptoParams {
  /** Cryptographic Algorithm, e.g. `"AES"`, `"RSA"`. */
  readonly algorithm?: string;
  /** Block Cipher Mode, e.g. `"CBC"`, `"ECB"`, `"CTR"`, `"GCM"`. */
  readonly mode?: string;
  /** Padding Method, e.g. `"PKCS5"`, `"NONE"`, `"PSS"`, `"PKCS1v15"` (case-insensitive). */
  readonly padding?: string;
  /** Hashing Algorithm, e.g. `"SHA_256"`. */
  readonly hashing?: string;
  /** Digital Signature Algorithm, e.g. `"SHA256_WITH_RSA_ENCRYPTION"`. */
  readonly signatureAlgorithm?: string;
  /** Random IV flag (ask the server to generate the IV). */
  readonly randomIv?: boolean;
  /** IV length in bits. */
  readonly ivLength?: number;
  /** Authentication tag length in bytes (required by PyKMIP's server for GCM). */
  readonly tagLength?: number;
}

/** Create a symmetric key. PyKMIP always adds Encrypt|Decrypt to the usage mask. Value: the uid. */
export interface CreateOp extends PykmipOpBase {
  readonly op: "create";
  /** Default `"AES"`. PyKMIP's server generates AES, TRIPLE_DES, BLOWFISH, CAMELLIA, CAST5, IDEA, RC4 keys. */
  readonly algorithm?: string;
  /** Bits, default 256. */
  readonly length?: number;
  readonly name?: string;
  readonly usageMask?: readonly UsageMaskName[];
  readonly operationPolicyName?: string;
}

/** Create an asymmetric key pair (PyKMIP's server: RSA only). */
export interface CreateKeyPairOp extends PykmipOpBase {
  readonly op: "create_key_pair";
  /** Default `"RSA"`. */
  readonly algorithm?: string;
  /** Bits, default 2048. */
  readonly length?: number;
  readonly publicName?: string;
  readonly privateName?: string;
  readonly publicUsageMask?: readonly UsageMaskName[];
  readonly privateUsageMask?: readonly UsageMaskName[];
  readonly operationPolicyName?: string;
}

/** Register a symmetric key (raw bytes). Value: the uid. No name is sent unless `name` is given. */
export interface RegisterSymmetricKeyOp extends PykmipOpBase {
  readonly op: "register";
  readonly object: "SymmetricKey";
  /** Default `"AES"`; `"HMAC_SHA256"` etc. for MAC keys. */
  readonly algorithm?: string;
  /** Bits, default `8 * key bytes`. */
  readonly length?: number;
  readonly keyHex: string;
  readonly name?: string;
  readonly usageMask?: readonly UsageMaskName[];
  readonly operationPolicyName?: string;
}

/** Register Secret Data. Value: the uid. */
export interface RegisterSecretDataOp extends PykmipOpBase {
  readonly op: "register";
  readonly object: "SecretData";
  readonly dataHex: string;
  /** Secret Data Type, default `"PASSWORD"` (or `"SEED"`). */
  readonly dataType?: string;
  readonly name?: string;
  readonly usageMask?: readonly UsageMaskName[];
  readonly operationPolicyName?: string;
}

/** Register an Opaque Object. Value: the uid. */
export interface RegisterOpaqueOp extends PykmipOpBase {
  readonly op: "register";
  readonly object: "OpaqueObject";
  readonly dataHex: string;
  /** Opaque Data Type, default `"NONE"`. */
  readonly opaqueType?: string;
  readonly name?: string;
  readonly operationPolicyName?: string;
}

/** Register a public or private key (DER bytes). Value: the uid. */
export interface RegisterAsymmetricKeyOp extends PykmipOpBase {
  readonly op: "register";
  readonly object: "PublicKey" | "PrivateKey";
  /** Default `"RSA"`. */
  readonly algorithm?: string;
  /** Bits, default 2048. */
  readonly length?: number;
  readonly keyHex: string;
  /** Key Format Type, default `"X_509"` (public) / `"PKCS_8"` (private); also `"PKCS_1"`. */
  readonly keyFormat?: string;
  readonly name?: string;
  readonly usageMask?: readonly UsageMaskName[];
  readonly operationPolicyName?: string;
}

/** Any Register op. */
export type RegisterOp = RegisterSymmetricKeyOp | RegisterSecretDataOp | RegisterOpaqueOp | RegisterAsymmetricKeyOp;

/** Get an object. */
export interface GetOp extends PykmipOpBase {
  readonly op: "get";
  readonly uid?: string;
  /**
   * Get the key wrapped by another key (Key Wrapping Specification, Encrypt): `uid` of the wrapping key (may be a
   * reference), block cipher `mode` (default `"NIST_KEY_WRAP"`), `encoding` option (default `"NO_ENCODING"`, the
   * only one PyKMIP's own server wraps with). `valueHex` is then the wrapped bytes.
   */
  readonly wrapping?: { readonly uid: string; readonly mode?: string; readonly encoding?: string };
}

/** Get attributes (all, or those named). */
export interface GetAttributesOp extends PykmipOpBase {
  readonly op: "get_attributes";
  readonly uid?: string;
  /** KMIP attribute names, e.g. `["Name", "State"]`. */
  readonly names?: readonly string[];
}

/** Get the attribute names of an object. */
export interface GetAttributeListOp extends PykmipOpBase {
  readonly op: "get_attribute_list";
  readonly uid?: string;
}

/** Locate objects; all filters are ANDed. Value: uids. */
export interface LocateOp extends PykmipOpBase {
  readonly op: "locate";
  readonly name?: string;
  /** Object Type, e.g. `"SYMMETRIC_KEY"`. */
  readonly objectType?: string;
  readonly algorithm?: string;
  readonly length?: number;
  /** State, e.g. `"ACTIVE"`. */
  readonly state?: string;
  /** Maximum Items (PyKMIP does not encode 0). */
  readonly maximumItems?: number;
  /** Offset Items, a KMIP 1.3+ field (PyKMIP encodes it for any version, but not when 0). */
  readonly offsetItems?: number;
}

/** Activate. Value: null. */
export interface ActivateOp extends PykmipOpBase {
  readonly op: "activate";
  readonly uid?: string;
}

/** Revoke. Value: null. */
export interface RevokeOp extends PykmipOpBase {
  readonly op: "revoke";
  readonly uid?: string;
  /** Default `"CESSATION_OF_OPERATION"`. */
  readonly reason?: RevocationReasonName;
  readonly message?: string;
  /** Compromise Occurrence Date, seconds since the epoch. */
  readonly compromiseDate?: number;
}

/** Destroy. Value: null. */
export interface DestroyOp extends PykmipOpBase {
  readonly op: "destroy";
  readonly uid?: string;
}

/**
 * Encrypt. With `mode: "GCM"` or `aadHex` the request is built below the `ProxyKmipClient` API
 * (which cannot send AAD nor return the tag); GCM fields are only encoded for KMIP 1.4+.
 */
export interface EncryptOp extends PykmipOpBase, CryptoParams {
  readonly op: "encrypt";
  readonly uid?: string;
  readonly dataHex: string;
  readonly ivHex?: string;
  readonly aadHex?: string;
}

/** Decrypt (see {@link EncryptOp} for GCM). */
export interface DecryptOp extends PykmipOpBase, CryptoParams {
  readonly op: "decrypt";
  readonly uid?: string;
  readonly dataHex: string;
  readonly ivHex?: string;
  readonly aadHex?: string;
  readonly tagHex?: string;
}

/** MAC. Needs MAC_GENERATE in the key's usage mask and an Active key. */
export interface MacOp extends PykmipOpBase {
  readonly op: "mac";
  readonly uid?: string;
  readonly dataHex: string;
  /** Default `"HMAC_SHA256"`. */
  readonly algorithm?: string;
}

/** Sign with a private key. Parameters default to RSA / SHA_256 / PSS. */
export interface SignOp extends PykmipOpBase, CryptoParams {
  readonly op: "sign";
  readonly uid?: string;
  readonly dataHex: string;
}

/** Verify a signature with a public key. Parameters default to RSA / SHA_256 / PSS. */
export interface SignatureVerifyOp extends PykmipOpBase, CryptoParams {
  readonly op: "signature_verify";
  readonly uid?: string;
  readonly dataHex: string;
  readonly signatureHex: string;
}

/** Discover Versions (optionally offering a list like `["2.0", "1.4"]`). Value: `["2.0", ...]`. */
export interface DiscoverVersionsOp extends PykmipOpBase {
  readonly op: "discover_versions";
  readonly versions?: readonly KmipVersion[];
}

/** Query (default functions: operations, objects, server information). */
export interface QueryOp extends PykmipOpBase {
  readonly op: "query";
  /** Query Function names, e.g. `"QUERY_OPERATIONS"`. */
  readonly functions?: readonly string[];
}

/** Any operation {@link runPykmipClient} understands. */
export type PykmipOp =
  | CreateOp
  | CreateKeyPairOp
  | RegisterOp
  | GetOp
  | GetAttributesOp
  | GetAttributeListOp
  | LocateOp
  | ActivateOp
  | RevokeOp
  | DestroyOp
  | EncryptOp
  | DecryptOp
  | MacOp
  | SignOp
  | SignatureVerifyOp
  | DiscoverVersionsOp
  | QueryOp;

/** Value of a successful Get. */
export interface GetValue {
  /** Object Type, e.g. `"SYMMETRIC_KEY"`. */
  readonly objectType: string;
  /** The key material / secret bytes (for PyKMIP RSA keys: PKCS#1 DER). */
  readonly valueHex: string;
  readonly algorithm?: string;
  readonly length?: number;
  readonly keyFormatType?: string;
  readonly dataType?: string;
  readonly opaqueType?: string;
}

/**
 * Value of a successful Get Attributes: attribute name → value. Enumerations are member names,
 * Cryptographic Usage Mask is the integer mask, dates are seconds since the epoch, Name is
 * `{ value, type }`, byte strings are hex; an attribute present several times maps to an array.
 */
export type AttributesValue = { readonly [name: string]: JsonValue };

/** The result value type of each op. */
export interface PykmipOpValues {
  create: string;
  create_key_pair: { readonly publicUid: string; readonly privateUid: string };
  register: string;
  get: GetValue;
  get_attributes: AttributesValue;
  get_attribute_list: string[];
  locate: string[];
  activate: null;
  revoke: null;
  destroy: null;
  /** `ivHex`: the server-generated IV (null when the request carried one); `tagHex` for GCM. */
  encrypt: { readonly dataHex: string; readonly ivHex: string | null; readonly tagHex?: string | null };
  decrypt: { readonly dataHex: string };
  mac: { readonly uid: string; readonly macHex: string };
  sign: { readonly signatureHex: string };
  signature_verify: { readonly valid: boolean; readonly indicator: string };
  discover_versions: string[];
  query: {
    readonly operations: string[];
    readonly objectTypes: string[];
    readonly vendorIdentification: string | null;
    readonly serverInformation: JsonValue;
  };
}

/** Why an op failed. */
export interface PykmipOpError {
  /**
   * Python exception class: `KmipOperationFailure` (the server answered with a failure),
   * `OpError` (bad op description or reference), or a transport/library error such as
   * `ConnectionRefusedError`, `SSLError`, `AttributeError`.
   */
  readonly type: string;
  readonly message: string;
  /** KMIP Result Status, e.g. `"OPERATION_FAILED"` (KmipOperationFailure only). */
  readonly status?: string;
  /** KMIP Result Reason, e.g. `"ITEM_NOT_FOUND"`, `"PERMISSION_DENIED"` (KmipOperationFailure only). */
  readonly reason?: string;
  /** The server's Result Message (KmipOperationFailure only). */
  readonly resultMessage?: string;
}

/** Result of one op. */
export type PykmipOpResult<V = JsonValue> = { readonly ok: true; readonly value: V } | { readonly ok: false; readonly error: PykmipOpError };

/** Result type of a given op type. */
export type PykmipOpResultFor<O extends PykmipOp> = PykmipOpResult<PykmipOpValues[O["op"]]>;

/** Result tuple of an op tuple (element-wise {@link PykmipOpResultFor}). */
export type PykmipOpResults<Ops extends readonly PykmipOp[]> = {
  -readonly [K in keyof Ops]: Ops[K] extends PykmipOp ? PykmipOpResultFor<Ops[K]> : never;
};

/**
 * Returns the value of a successful result, or throws an Error describing the failure.
 *
 * @param result one element of {@link runPykmipClient}'s result.
 * @param what optional context for the error message (e.g. `"get after create"`).
 */
export function unwrapResult<V>(result: PykmipOpResult<V>, what?: string): V {
  if (result.ok) return result.value;
  const e = result.error;
  const detail = e.reason !== undefined ? ` [${e.status ?? "?"}/${e.reason}]` : "";
  throw new Error(`${what !== undefined ? `${what}: ` : ""}${e.type}${detail}: ${e.message}`);
}
