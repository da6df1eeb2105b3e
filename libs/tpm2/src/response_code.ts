/**
 * TPM 2.0 response codes (`TPM_RC`): the constants of TCG TPM 2.0 Library Part 2 (Structures),
 * clause "TPM_RC (Response Codes)", and a decoder for every 32-bit value a TPM, a resource manager
 * or a TSS layer may hand back.
 *
 * Layout of a response code (Part 2, Figures "Format-Zero Response Codes" and "Format-One Response Codes";
 * the layer byte comes from the TSS, tpm2-tss `tss2_common.h`):
 *
 * ```text
 *  31..24   23..16   15..12    11   10    9    8    7    6   5..0
 * reserved   layer  reserved   S    T    r    V   F=0  E  E  E     format-zero (E = bits 6..0)
 * reserved   layer  reserved  [ N (bits 11..8) ]   F=1  P  E       format-one
 * ```
 *
 * - Format-one (F set): the error number is bits 5..0, `RC_FMT1 + E` names it. If P is set, N
 *   (bits 11..8) is the number of the parameter in error; otherwise bit 11 tells a session (set)
 *   from a handle (clear) and bits 10..8 give its number. Number 0 means "not specified".
 * - Format-zero (F clear): V (bit 8) set marks a TPM 2.0 code, clear a TPM 1.2 one; T (bit 10)
 *   marks a vendor-defined code; S (bit 11) marks a warning (`RC_WARN + E`) rather than an error
 *   (`RC_VER1 + E`).
 * - Layer 0 is the TPM itself. Layers 11 and 12 are resource managers, which forward TPM-format
 *   codes; layers 6 to 10 and 13 are TSS software layers whose low 16 bits are TSS base codes.
 *
 * This module is pure: no I/O.
 *
 * @module
 */

/**
 * Every TPM 2.0 response code, with the full value as it appears on the wire.
 * Format-one values are the bare code (handle, session and parameter number 0); a TPM adds
 * `TPM_RC_FIELD.P`/`TPM_RC_FIELD.S` and a number shifted by 8 to them.
 *
 * Source: TPM 2.0 Library Part 2, Table "Definition of UINT32 TPM_RC Constants", up to
 * revision 1.85 (READ_ONLY, CHANNEL, CHANNEL_KEY from 1.84; PARMS, EXT_MU, ONE_SHOT_SIGNATURE,
 * SIGN_CONTEXT_KEY from 1.85; FW_LIMITED, SVN_LIMITED from 1.83).
 */
export const TPM_RC = {
  SUCCESS: 0x000,
  /** Defined for compatibility with TPM 1.2 (`TPM_BADTAG`). */
  BAD_TAG: 0x01e,

  // Format-zero errors: RC_VER1 (0x100) + n
  INITIALIZE: 0x100,
  FAILURE: 0x101,
  SEQUENCE: 0x103,
  PRIVATE: 0x10b,
  HMAC: 0x119,
  DISABLED: 0x120,
  EXCLUSIVE: 0x121,
  AUTH_TYPE: 0x124,
  AUTH_MISSING: 0x125,
  POLICY: 0x126,
  PCR: 0x127,
  PCR_CHANGED: 0x128,
  UPGRADE: 0x12d,
  TOO_MANY_CONTEXTS: 0x12e,
  AUTH_UNAVAILABLE: 0x12f,
  REBOOT: 0x130,
  UNBALANCED: 0x131,
  COMMAND_SIZE: 0x142,
  COMMAND_CODE: 0x143,
  AUTHSIZE: 0x144,
  AUTH_CONTEXT: 0x145,
  NV_RANGE: 0x146,
  NV_SIZE: 0x147,
  NV_LOCKED: 0x148,
  NV_AUTHORIZATION: 0x149,
  NV_UNINITIALIZED: 0x14a,
  NV_SPACE: 0x14b,
  NV_DEFINED: 0x14c,
  BAD_CONTEXT: 0x150,
  CPHASH: 0x151,
  PARENT: 0x152,
  NEEDS_TEST: 0x153,
  NO_RESULT: 0x154,
  SENSITIVE: 0x155,
  READ_ONLY: 0x156,

  // Format-one errors: RC_FMT1 (0x080) + n
  ASYMMETRIC: 0x081,
  ATTRIBUTES: 0x082,
  HASH: 0x083,
  VALUE: 0x084,
  HIERARCHY: 0x085,
  KEY_SIZE: 0x087,
  MGF: 0x088,
  MODE: 0x089,
  TYPE: 0x08a,
  HANDLE: 0x08b,
  KDF: 0x08c,
  RANGE: 0x08d,
  AUTH_FAIL: 0x08e,
  NONCE: 0x08f,
  PP: 0x090,
  SCHEME: 0x092,
  SIZE: 0x095,
  SYMMETRIC: 0x096,
  TAG: 0x097,
  SELECTOR: 0x098,
  INSUFFICIENT: 0x09a,
  SIGNATURE: 0x09b,
  KEY: 0x09c,
  POLICY_FAIL: 0x09d,
  INTEGRITY: 0x09f,
  TICKET: 0x0a0,
  RESERVED_BITS: 0x0a1,
  BAD_AUTH: 0x0a2,
  EXPIRED: 0x0a3,
  POLICY_CC: 0x0a4,
  BINDING: 0x0a5,
  CURVE: 0x0a6,
  ECC_POINT: 0x0a7,
  FW_LIMITED: 0x0a8,
  SVN_LIMITED: 0x0a9,
  PARMS: 0x0aa,
  EXT_MU: 0x0ab,
  ONE_SHOT_SIGNATURE: 0x0ac,
  SIGN_CONTEXT_KEY: 0x0ad,
  CHANNEL: 0x0b0,
  CHANNEL_KEY: 0x0b1,

  // Format-zero warnings: RC_WARN (0x900) + n
  CONTEXT_GAP: 0x901,
  OBJECT_MEMORY: 0x902,
  SESSION_MEMORY: 0x903,
  MEMORY: 0x904,
  SESSION_HANDLES: 0x905,
  OBJECT_HANDLES: 0x906,
  LOCALITY: 0x907,
  YIELDED: 0x908,
  CANCELED: 0x909,
  TESTING: 0x90a,
  REFERENCE_H0: 0x910,
  REFERENCE_H1: 0x911,
  REFERENCE_H2: 0x912,
  REFERENCE_H3: 0x913,
  REFERENCE_H4: 0x914,
  REFERENCE_H5: 0x915,
  REFERENCE_H6: 0x916,
  REFERENCE_S0: 0x918,
  REFERENCE_S1: 0x919,
  REFERENCE_S2: 0x91a,
  REFERENCE_S3: 0x91b,
  REFERENCE_S4: 0x91c,
  REFERENCE_S5: 0x91d,
  REFERENCE_S6: 0x91e,
  NV_RATE: 0x920,
  LOCKOUT: 0x921,
  RETRY: 0x922,
  NV_UNAVAILABLE: 0x923,
  /** Reserved: shall not be returned by a TPM. */
  NOT_USED: 0x97f,
} as const;

/** Short name of a response code: a key of {@link TPM_RC}, e.g. `"POLICY_FAIL"`. */
export type TpmRcName = keyof typeof TPM_RC;

/**
 * The bit fields and offsets of Part 2's TPM_RC table that are not response codes themselves
 * (`RC_VER1`, `RC_FMT1`, `RC_WARN`, `RC_MAX_FM0`, `TPM_RC_H`, `TPM_RC_P`, `TPM_RC_S`, `TPM_RC_N_MASK`),
 * and the TSS layer field (`TSS2_RC_LAYER_SHIFT`/`_MASK`).
 */
export const TPM_RC_FIELD = {
  /** Set in every TPM 2.0 format-zero code (the V bit). */
  VER1: 0x100,
  /** Set in every format-one code (the F bit). */
  FMT1: 0x080,
  /** Set in every TPM 2.0 warning (S and V bits). */
  WARN: 0x900,
  /** Largest format-zero error that is not a warning. */
  MAX_FM0: 0x17f,
  /** Vendor-defined format-zero code (the T bit). */
  VENDOR: 0x400,
  /** Add to a handle-related format-one error. */
  H: 0x000,
  /** Add to a parameter-related format-one error (the P bit). */
  P: 0x040,
  /** Add to a session-related format-one error. */
  S: 0x800,
  /** Mask of the handle/session/parameter number N of a format-one code. */
  N_MASK: 0xf00,
  /** Shift of N. */
  N_SHIFT: 8,
  /** Mask of the format-one error number. */
  FMT1_ERROR_MASK: 0x03f,
  /** Mask of the format-zero error number. */
  FMT0_ERROR_MASK: 0x07f,
  /** Mask of the TSS layer byte. */
  LAYER_MASK: 0xff0000,
  /** Shift of the TSS layer byte. */
  LAYER_SHIFT: 16,
} as const;

/**
 * TSS layer numbers (bits 23..16 of a TSS2_RC), as tpm2-tss `tss2_common.h` names them.
 * tpm2-tss's own decoder (`Tss2_RC_Decode`, `tpm2_rc_decode`) labels layer 11 "rmt" and decodes it
 * as a TPM code, which is what the Linux in-kernel resource manager and tpm2-abrmd send there.
 */
export const TSS2_RC_LAYER = {
  TPM: 0,
  FAPI: 6,
  ESAPI: 7,
  SYS: 8,
  MU: 9,
  TCTI: 10,
  RESMGR: 11,
  RESMGR_TPM: 12,
  POLICY: 13,
} as const;

/** One-line description of every {@link TPM_RC} code: Part 2's text, shortened. */
const TPM_RC_DESCRIPTION: Readonly<Record<TpmRcName, string>> = {
  SUCCESS: "successful completion",
  BAD_TAG: "bad command tag (TPM 1.2 compatible code)",

  INITIALIZE: "TPM not initialized by TPM2_Startup or already initialized",
  FAILURE: "commands not being accepted because of a TPM failure",
  SEQUENCE: "improper use of a sequence handle",
  PRIVATE: "not currently used",
  HMAC: "not currently used",
  DISABLED: "the command is disabled",
  EXCLUSIVE: "command failed because audit sequence required exclusivity",
  AUTH_TYPE: "authorization handle is not correct for command",
  AUTH_MISSING: "command requires an authorization session for handle and it is not present",
  POLICY: "policy failure in math operation or an invalid authPolicy value",
  PCR: "PCR check fail",
  PCR_CHANGED: "PCR have changed since checked",
  UPGRADE:
    "for all commands other than TPM2_FieldUpgradeData, this code indicates that the TPM is in field upgrade mode; for TPM2_FieldUpgradeData, that it is not",
  TOO_MANY_CONTEXTS: "context ID counter is at maximum",
  AUTH_UNAVAILABLE: "authValue or authPolicy is not available for selected entity",
  REBOOT: "a _TPM_Init and Startup(CLEAR) is required before the TPM can resume operation",
  UNBALANCED:
    "the protection algorithms (hash and symmetric) are not reasonably balanced: the digest size of the hash must be larger than the key size of the symmetric algorithm",
  COMMAND_SIZE: "command commandSize value is inconsistent with contents of the command buffer or too small to hold a command header",
  COMMAND_CODE: "command code not supported",
  AUTHSIZE: "the value of authorizationSize is out of range or the number of octets in the Authorization Area is greater than required",
  AUTH_CONTEXT: "use of an authorization session with a context command or another command that cannot have an authorization session",
  NV_RANGE: "NV offset+size is out of range",
  NV_SIZE: "requested allocation size is larger than allowed",
  NV_LOCKED: "NV access locked",
  NV_AUTHORIZATION: "NV access authorization fails in command actions (does not affect lockout)",
  NV_UNINITIALIZED: "an NV Index is used before being initialized or the state saved by TPM2_Shutdown(STATE) could not be restored",
  NV_SPACE: "insufficient space for NV allocation",
  NV_DEFINED: "NV Index or persistent object already defined",
  BAD_CONTEXT: "context in TPM2_ContextLoad is not valid",
  CPHASH: "cpHash value already set or not correct for use",
  PARENT: "handle for parent is not a valid parent",
  NEEDS_TEST: "some function needs testing",
  NO_RESULT:
    "an internal function cannot process a request due to an unspecified problem, usually invalid parameters not filtered by the input unmarshaling code",
  SENSITIVE: "the sensitive area did not unmarshal correctly after decryption",
  READ_ONLY: "command failed because the TPM is in the Read-Only mode of operation",

  ASYMMETRIC: "asymmetric algorithm not supported or not correct",
  ATTRIBUTES: "inconsistent attributes",
  HASH: "hash algorithm not supported or not appropriate",
  VALUE: "value is out of range or is not correct for the context",
  HIERARCHY: "hierarchy is not enabled or is not correct for the use",
  KEY_SIZE: "key size is not supported",
  MGF: "mask generation function not supported",
  MODE: "mode of operation not supported",
  TYPE: "the type of the value is not appropriate for the use",
  HANDLE: "the handle is not correct for the use",
  KDF: "unsupported key derivation function or function not appropriate for use",
  RANGE: "value was out of allowed range",
  AUTH_FAIL: "the authorization HMAC check failed and DA counter incremented, or use of lockoutAuth is disabled",
  NONCE: "invalid nonce size or nonce value mismatch",
  PP: "authorization requires assertion of PP (physical presence)",
  SCHEME: "unsupported or incompatible scheme",
  SIZE: "structure is the wrong size",
  SYMMETRIC: "unsupported symmetric algorithm or key size, or not appropriate for instance",
  TAG: "incorrect structure tag",
  SELECTOR: "union selector is incorrect",
  INSUFFICIENT: "the TPM was unable to unmarshal a value because there were not enough octets in the input buffer",
  SIGNATURE: "the signature is not valid",
  KEY: "key fields are not compatible with the selected use",
  POLICY_FAIL: "a policy check failed",
  INTEGRITY: "integrity check failed",
  TICKET: "invalid ticket",
  RESERVED_BITS: "reserved bits not set to zero as required",
  BAD_AUTH: "authorization failure without DA implications",
  EXPIRED: "the policy has expired",
  POLICY_CC:
    "the commandCode in the policy is not the commandCode of the command, or the command code in a policy command references a command that is not implemented",
  BINDING: "public and sensitive portions of an object are not cryptographically bound",
  CURVE: "curve not supported",
  ECC_POINT: "point is not on the required curve",
  FW_LIMITED: "the hierarchy is firmware-limited but the Firmware Secret is unavailable",
  SVN_LIMITED: "the hierarchy is SVN-limited but the Firmware SVN Secret associated with the given SVN is unavailable",
  PARMS: "parameter set not supported",
  EXT_MU: "external mu is not supported",
  ONE_SHOT_SIGNATURE:
    "the TPM does not support signing arbitrarily long messages with this key: the whole message must be in the buffer of TPM2_SignSequenceComplete",
  SIGN_CONTEXT_KEY: "the key used to finish the signature context is not the one used to start it",
  CHANNEL: "command requires secure channel protection",
  CHANNEL_KEY: "secure channel was not established with the required requester or TPM key",

  CONTEXT_GAP: "gap for context ID is too large",
  OBJECT_MEMORY: "out of memory for object contexts",
  SESSION_MEMORY: "out of memory for session contexts",
  MEMORY: "out of shared object/session memory or need space for internal operations",
  SESSION_HANDLES: "out of session handles: a session must be flushed before a new session may be created",
  OBJECT_HANDLES: "out of object handles: the handle space for objects is depleted and a reboot is required",
  LOCALITY: "bad locality",
  YIELDED: "the TPM has suspended operation on the command; forward progress was made and the command may be retried",
  CANCELED: "the command was canceled",
  TESTING: "TPM is performing self-tests",
  REFERENCE_H0: "the 1st handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_H1: "the 2nd handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_H2: "the 3rd handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_H3: "the 4th handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_H4: "the 5th handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_H5: "the 6th handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_H6: "the 7th handle in the handle area references a transient object or session that is not loaded",
  REFERENCE_S0: "the 1st authorization session handle references a session that is not loaded",
  REFERENCE_S1: "the 2nd authorization session handle references a session that is not loaded",
  REFERENCE_S2: "the 3rd authorization session handle references a session that is not loaded",
  REFERENCE_S3: "the 4th authorization session handle references a session that is not loaded",
  REFERENCE_S4: "the 5th session handle references a session that is not loaded",
  REFERENCE_S5: "the 6th session handle references a session that is not loaded",
  REFERENCE_S6: "the 7th authorization session handle references a session that is not loaded",
  NV_RATE: "the TPM is rate-limiting accesses to prevent wearout of NV",
  LOCKOUT: "authorizations for objects subject to DA protection are not allowed at this time because the TPM is in DA lockout mode",
  RETRY: "the TPM was not able to start the command",
  NV_UNAVAILABLE: "the command may require writing of NV and NV is not currently accessible",
  NOT_USED: "reserved value that shall not be returned by the TPM",
};

/** TSS base return codes (tpm2-tss `TSS2_BASE_RC_*`), indexed by number: [name suffix, description]. */
const TSS2_BASE_RC: Readonly<Record<number, readonly [string, string]>> = {
  1: ["GENERAL_FAILURE", "catch all for all errors not otherwise specified"],
  2: ["NOT_IMPLEMENTED", "called functionality isn't implemented"],
  3: ["BAD_CONTEXT", "a context structure is bad"],
  4: ["ABI_MISMATCH", "passed in ABI version doesn't match called module's ABI version"],
  5: ["BAD_REFERENCE", "a pointer is NULL that isn't allowed to be NULL"],
  6: ["INSUFFICIENT_BUFFER", "a buffer isn't large enough"],
  7: ["BAD_SEQUENCE", "function called in the wrong order"],
  8: ["NO_CONNECTION", "fails to connect to next lower layer"],
  9: ["TRY_AGAIN", "operation timed out; function must be called again to be completed"],
  10: ["IO_ERROR", "IO failure"],
  11: ["BAD_VALUE", "a parameter has a bad value"],
  12: ["NOT_PERMITTED", "operation not permitted"],
  13: ["INVALID_SESSIONS", "session structures were sent, but command doesn't use them or doesn't use the specified number of them"],
  14: ["NO_DECRYPT_PARAM", "function called that uses decrypt parameter, but command doesn't support decrypt parameter"],
  15: ["NO_ENCRYPT_PARAM", "function called that uses encrypt parameter, but command doesn't support encrypt parameter"],
  16: ["BAD_SIZE", "size of a parameter is incorrect"],
  17: ["MALFORMED_RESPONSE", "response is malformed"],
  18: ["INSUFFICIENT_CONTEXT", "context not large enough"],
  19: ["INSUFFICIENT_RESPONSE", "response is not long enough"],
  20: ["INCOMPATIBLE_TCTI", "unknown or unusable TCTI version"],
  21: ["NOT_SUPPORTED", "functionality not supported"],
  22: ["BAD_TCTI_STRUCTURE", "TCTI context is bad"],
  23: ["MEMORY", "failed to allocate memory"],
  24: ["BAD_TR", "the ESYS_TR resource object is bad"],
  25: ["MULTIPLE_DECRYPT_SESSIONS", "multiple sessions were marked with attribute decrypt"],
  26: ["MULTIPLE_ENCRYPT_SESSIONS", "multiple sessions were marked with attribute encrypt"],
  27: ["RSP_AUTH_FAILED", "authorizing the TPM response failed"],
  28: ["NO_CONFIG", "no config is available"],
  29: ["BAD_PATH", "the provided path is bad"],
  30: ["NOT_DELETABLE", "the object is not deletable"],
  31: ["PATH_ALREADY_EXISTS", "the provided path already exists"],
  32: ["KEY_NOT_FOUND", "the key was not found"],
  33: ["SIGNATURE_VERIFICATION_FAILED", "signature verification failed"],
  34: ["HASH_MISMATCH", "hashes mismatch"],
  35: ["KEY_NOT_DUPLICABLE", "key is not duplicatable"],
  36: ["PATH_NOT_FOUND", "the path was not found"],
  37: ["NO_CERT", "no certificate"],
  38: ["NO_PCR", "no PCR"],
  39: ["PCR_NOT_RESETTABLE", "PCR not resettable"],
  40: ["BAD_TEMPLATE", "the template is bad"],
  41: ["AUTHORIZATION_FAILED", "authorization failed"],
  42: ["AUTHORIZATION_UNKNOWN", "authorization is unknown"],
  43: ["NV_NOT_READABLE", "NV is not readable"],
  44: ["NV_TOO_SMALL", "NV is too small"],
  45: ["NV_NOT_WRITEABLE", "NV is not writable"],
  46: ["POLICY_UNKNOWN", "the policy is unknown"],
  47: ["NV_WRONG_TYPE", "the NV type is wrong"],
  48: ["NAME_ALREADY_EXISTS", "the name already exists"],
  49: ["NO_TPM", "no TPM available"],
  50: ["BAD_KEY", "the key is bad"],
  51: ["NO_HANDLE", "no handle provided"],
  52: ["NOT_PROVISIONED", "provisioning was not executed"],
  53: ["ALREADY_PROVISIONED", "already provisioned"],
  54: ["CALLBACK_NULL", "a callback is NULL"],
};

/** How a layer's low 16 bits are read, and how tpm2-tss names the layer. */
interface LayerInfo {
  /** Name as `tpm2_rc_decode` prints it before the colon. */
  readonly short: string;
  /** Human label used in `text`. */
  readonly label: string;
  /** `tpm`: the low 16 bits are a TPM_RC; `tss`: a TSS base code. */
  readonly kind: "tpm" | "tss";
  /** Name prefix of TSS codes in this layer, e.g. `TSS2_ESYS_RC_`. */
  readonly prefix: string;
}

const LAYERS: Readonly<Record<number, LayerInfo>> = {
  0: { short: "tpm", label: "TPM", kind: "tpm", prefix: "TPM_RC_" },
  6: { short: "fapi", label: "feature API (FAPI)", kind: "tss", prefix: "TSS2_FAPI_RC_" },
  7: { short: "esapi", label: "enhanced system API (ESAPI)", kind: "tss", prefix: "TSS2_ESYS_RC_" },
  8: { short: "sys", label: "system API (SAPI)", kind: "tss", prefix: "TSS2_SYS_RC_" },
  9: { short: "mu", label: "marshaling (MU)", kind: "tss", prefix: "TSS2_MU_RC_" },
  10: { short: "tcti", label: "TPM command transmission interface (TCTI)", kind: "tss", prefix: "TSS2_TCTI_RC_" },
  11: { short: "rmt", label: "resource manager", kind: "tpm", prefix: "TPM_RC_" },
  12: { short: "rm", label: "resource manager (TPM)", kind: "tpm", prefix: "TPM_RC_" },
  13: { short: "policy", label: "policy", kind: "tss", prefix: "TSS2_POLICY_RC_" },
};

/** Format of a decoded response code. */
export type ResponseCodeFormat = "success" | "format-zero" | "format-one" | "tss" | "vendor";

/** A response code taken apart. Fields follow Part 2's Format-Zero/Format-One figures. */
export interface DecodedResponseCode {
  /** The response code as given (unsigned 32-bit). */
  code: number;
  /**
   * Stable name: `TPM_RC_POLICY_FAIL`, `TSS2_ESYS_RC_BAD_VALUE`, `TPM_RC_VENDOR_ERROR_0x05`,
   * or for a value no table defines `TPM_RC_0x1234 (unknown)` / `TSS2_RC_0x60037 (unknown)`.
   */
  name: string;
  /** `success` (low 16 bits zero), `format-zero`, `format-one`, `vendor` (T bit set) or `tss` (TSS software layer). */
  format: ResponseCodeFormat;
  /** True for format-zero codes with the S bit set (`RC_WARN` and TPM 1.2 non-fatal codes). */
  warning: boolean;
  /** TSS layer, bits 23..16 (0 = the TPM itself). */
  layer: number;
  /** Layer name as tpm2-tools `tpm2_rc_decode` prints it (`tpm`, `rmt`, `esapi`, ...), or its decimal number. */
  layerName: string;
  /**
   * The code without layer and without handle/session/parameter number: for a TPM-format code
   * the value to compare with {@link TPM_RC} (e.g. 0x9A2 gives 0x0A2 = `TPM_RC.BAD_AUTH`);
   * for a TSS layer the TSS base code.
   */
  baseCode: number;
  /** Format-one with P set: number of the parameter in error, 1..15 (0 = not specified). */
  parameter?: number;
  /** Format-one with P and S clear: number of the handle in error, 1..7 (absent when N is 0). */
  handle?: number;
  /** Format-one with P clear and S set: number of the session in error, 1..7 (0 = not specified). */
  session?: number;
  /** One-line description. */
  description: string;
  /** `name`, qualifier, layer and description, e.g. `TPM_RC_POLICY_FAIL (session 1): a policy check failed`. */
  text: string;
}

const NAME_BY_VALUE: ReadonlyMap<number, TpmRcName> = new Map((Object.entries(TPM_RC) as [TpmRcName, number][]).map(([name, value]) => [value, name]));

const VER1 = TPM_RC_FIELD.VER1;
const FMT1 = TPM_RC_FIELD.FMT1;
const P_BIT = TPM_RC_FIELD.P;
const S_BIT = TPM_RC_FIELD.S;
const T_BIT = TPM_RC_FIELD.VENDOR;
const FMT0_RESERVED_BIT = 0x200;
const TPM_RESERVED_BITS = 0xf000;

function hex(value: number, digits = 3): string {
  return "0x" + value.toString(16).toUpperCase().padStart(digits, "0");
}

function unknownName(prefix: "TPM_RC_" | "TSS2_RC_", code: number): string {
  return `${prefix}${hex(code)} (unknown)`;
}

/** The parts of a decoded code that come from its low 16 bits. */
type Body = Omit<DecodedResponseCode, "code" | "layer" | "layerName" | "text">;

/** Decodes the low 16 bits of a TPM-format code (layers 0, 11, 12). */
function decodeTpmBits(e: number): Body {
  if (e === 0) {
    return { name: "TPM_RC_SUCCESS", format: "success", warning: false, baseCode: 0, description: TPM_RC_DESCRIPTION.SUCCESS };
  }
  const reserved = (e & TPM_RESERVED_BITS) !== 0;

  if ((e & FMT1) !== 0) {
    const baseCode = FMT1 | (e & TPM_RC_FIELD.FMT1_ERROR_MASK);
    const n = (e & TPM_RC_FIELD.N_MASK) >> TPM_RC_FIELD.N_SHIFT;
    const position: Pick<Body, "parameter" | "handle" | "session"> =
      (e & P_BIT) !== 0 ? { parameter: n } : (e & S_BIT) !== 0 ? { session: n & 0x7 } : n !== 0 ? { handle: n } : {};
    const known = reserved ? undefined : NAME_BY_VALUE.get(baseCode);
    return {
      name: known === undefined ? unknownName("TPM_RC_", e) : `TPM_RC_${known}`,
      format: "format-one",
      warning: false,
      baseCode,
      ...position,
      description:
        known !== undefined
          ? TPM_RC_DESCRIPTION[known]
          : reserved
            ? "reserved bits 15..12 are set: not a TPM 2.0 response code"
            : `unassigned format-one error number ${hex(baseCode & TPM_RC_FIELD.FMT1_ERROR_MASK, 2)}`,
    };
  }

  const warning = (e & S_BIT) !== 0;
  const kind = warning ? "warning" : "error";
  const number = e & TPM_RC_FIELD.FMT0_ERROR_MASK;
  if (reserved) {
    return {
      name: unknownName("TPM_RC_", e),
      format: (e & T_BIT) !== 0 ? "vendor" : "format-zero",
      warning,
      baseCode: e,
      description: "reserved bits 15..12 are set: not a TPM 2.0 response code",
    };
  }
  if ((e & T_BIT) !== 0) {
    const tpm12 = (e & VER1) === 0 ? "TPM 1.2 " : "";
    return {
      name: `TPM_RC_VENDOR_${warning ? "WARNING" : "ERROR"}_${hex(number, 2)}`,
      format: "vendor",
      warning,
      baseCode: e,
      description: `${tpm12}vendor-defined ${kind} ${hex(number, 2)}`,
    };
  }
  const known = NAME_BY_VALUE.get(e);
  if (known !== undefined) {
    return { name: `TPM_RC_${known}`, format: "format-zero", warning, baseCode: e, description: TPM_RC_DESCRIPTION[known] };
  }
  let description: string;
  if ((e & FMT0_RESERVED_BIT) !== 0) description = "reserved bit 9 of a format-zero code is set";
  else if ((e & VER1) === 0) description = `TPM 1.2 ${warning ? "non-fatal (warning)" : "error"} code ${hex(number, 2)}, not defined by TPM 2.0`;
  else description = `unassigned TPM 2.0 ${kind} number ${hex(number, 2)}`;
  return { name: unknownName("TPM_RC_", e), format: "format-zero", warning, baseCode: e, description };
}

/** Decodes the low 16 bits of a TSS software-layer code. */
function decodeTssBits(e: number, info: LayerInfo): Body {
  if (e === 0) {
    return { name: "TSS2_RC_SUCCESS", format: "success", warning: false, baseCode: 0, description: TPM_RC_DESCRIPTION.SUCCESS };
  }
  const base = TSS2_BASE_RC[e];
  if (base !== undefined) {
    return { name: info.prefix + base[0], format: "tss", warning: false, baseCode: e, description: base[1] };
  }
  return {
    name: `${info.prefix}${hex(e)} (unknown)`,
    format: "tss",
    warning: false,
    baseCode: e,
    description: e >= 0xf800 ? `implementation-specific ${info.label} error ${hex(e)}` : `unknown ${info.label} error ${hex(e)}`,
  };
}

function qualifier(d: Body): string {
  if (d.parameter !== undefined) return d.parameter === 0 ? " (unspecified parameter)" : ` (parameter ${d.parameter})`;
  if (d.session !== undefined) return d.session === 0 ? " (unspecified session)" : ` (session ${d.session})`;
  if (d.handle !== undefined) return ` (handle ${d.handle})`;
  return "";
}

function finish(code: number, layer: number, layerName: string, layerLabel: string | undefined, body: Body): DecodedResponseCode {
  const where = layer === 0 ? "" : ` [layer ${layer}${layerLabel === undefined ? "" : ": " + layerLabel}]`;
  return { code, layer, layerName, ...body, text: `${body.name}${qualifier(body)}${where}: ${body.description}` };
}

/**
 * Takes a response code apart: layer, format, handle/session/parameter number, name and description.
 * Never throws. A value that is not an integer in [0, 2^32) is reported as an unknown format-zero
 * code (never as success); a value with reserved bits set, or one no table defines, gets a name
 * ending in ` (unknown)`.
 *
 * @param rc the responseCode of a TPM response header, or a TSS2_RC
 * @returns the decoded code; `text` is what {@link responseCodeText} returns
 * @example decodeResponseCode(0x9a2).text // "TPM_RC_BAD_AUTH (session 1): authorization failure without DA implications"
 */
export function decodeResponseCode(rc: number): DecodedResponseCode {
  if (!Number.isInteger(rc) || rc < 0 || rc > 0xffffffff) {
    const name = `TPM_RC_${String(rc)} (unknown)`;
    const description = "not an unsigned 32-bit response code";
    return { code: rc, name, format: "format-zero", warning: false, layer: 0, layerName: "tpm", baseCode: rc, description, text: `${name}: ${description}` };
  }
  const code = rc >>> 0;
  const layer = (code & TPM_RC_FIELD.LAYER_MASK) >>> TPM_RC_FIELD.LAYER_SHIFT;
  const e = code & 0xffff;
  const info = LAYERS[layer];
  const layerName = info?.short ?? String(layer);

  if (code >>> 24 !== 0) {
    const prefix = info?.kind === "tpm" ? "TPM_RC_" : "TSS2_RC_";
    const structure: Body | undefined = info?.kind === "tpm" && e !== 0 ? decodeTpmBits(e) : undefined;
    return finish(code, layer, layerName, info?.label, {
      ...(structure ?? { format: info?.kind === "tpm" ? "format-zero" : "tss", warning: false, baseCode: e }),
      name: unknownName(prefix, code),
      description: "reserved bits 31..24 are set: not a TPM or TSS response code",
    });
  }
  if (info === undefined) {
    const body: Body =
      e === 0
        ? { name: "TSS2_RC_SUCCESS", format: "success", warning: false, baseCode: 0, description: TPM_RC_DESCRIPTION.SUCCESS }
        : {
            name: unknownName("TSS2_RC_", code),
            format: "tss",
            warning: false,
            baseCode: e,
            description: `error ${hex(e)} from unknown software layer ${layer}`,
          };
    return finish(code, layer, layerName, undefined, body);
  }
  return finish(code, layer, layerName, info.label, info.kind === "tpm" ? decodeTpmBits(e) : decodeTssBits(e, info));
}

/**
 * One line for logs and error messages: name, handle/session/parameter, layer and description,
 * e.g. `TPM_RC_POLICY_FAIL (session 1): a policy check failed`, `TPM_RC_VALUE (parameter 2): ...`,
 * `TPM_RC_RETRY [layer 11: resource manager]: the TPM was not able to start the command`.
 *
 * @param rc the response code
 * @returns the `text` of {@link decodeResponseCode}
 */
export function responseCodeText(rc: number): string {
  return decodeResponseCode(rc).text;
}
