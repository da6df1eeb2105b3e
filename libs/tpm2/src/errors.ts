/**
 * Errors of @tessera/tpm2. Every error carries a stable `code`:
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `TPM2_DECODE` | {@link TpmDecodeError} | bytes do not unmarshal (truncated, oversized, bad selector, trailing bytes) |
 * | `TPM2_ENCODE` | {@link TpmEncodeError} | a value does not fit its schema (out of range, too long, unknown selector) |
 * | `TPM_RC_*` | {@link TpmResponseError} | the TPM answered a command with a non-zero response code |
 * | `TPM2_VERIFY_*` | {@link TpmVerifyError} | a signature, quote or credential check failed |
 * | `TPM2_UNSUPPORTED` | {@link TpmUnsupportedError} | an algorithm or key type this library does not handle |
 *
 * @module
 */
import { decodeResponseCode, type DecodedResponseCode } from "./response_code.ts";

/** Bytes that do not unmarshal into the schema they were read as. */
export class TpmDecodeError extends Error {
  /** Stable error code. */
  readonly code = "TPM2_DECODE";
  /** Name of the outermost structure being decoded, e.g. `TPMT_PUBLIC`. */
  readonly structure: string;
  /** Dotted field path inside that structure, e.g. `parameters.symmetric.algorithm` ("" when at top). */
  readonly field: string;
  /** Absolute byte offset in the input where the problem was found. */
  readonly offset: number;
  /** What was wrong, e.g. `size 48 exceeds 34 remaining`. */
  readonly reason: string;

  /** @param structure outermost structure name @param field dotted path @param offset byte offset @param reason what was wrong */
  constructor(structure: string, field: string, offset: number, reason: string, options?: ErrorOptions) {
    super(`Cannot decode ${structure}${field && !field.startsWith("[") ? "." : ""}${field} at byte ${offset}: ${reason}`, options);
    this.name = "TpmDecodeError";
    this.structure = structure;
    this.field = field;
    this.offset = offset;
    this.reason = reason;
  }
}

/** Joins field path segments: names with dots, list indexes (`[2]`) without. */
export function fieldPath(fields: readonly string[]): string {
  return fields.map((f, i) => (i === 0 || f.startsWith("[") ? f : "." + f)).join("");
}

/** A value that cannot be marshalled by its schema. */
export class TpmEncodeError extends Error {
  /** Stable error code. */
  readonly code = "TPM2_ENCODE";
  /** Outermost structure being encoded, e.g. `TPMT_PUBLIC`. */
  structure: string;
  /** Field path inside it, outermost first, e.g. ["parameters", "symmetric", "algorithm"]. */
  readonly fields: string[] = [];
  /** What was wrong. */
  readonly reason: string;
  /** @param structure what was being encoded @param reason what was wrong */
  constructor(structure: string, reason: string, options?: ErrorOptions) {
    super(`Cannot encode ${structure}: ${reason}`, options);
    this.name = "TpmEncodeError";
    this.structure = structure;
    this.reason = reason;
  }
  /** Structure and field path, e.g. `TPMT_PUBLIC.parameters.symmetric.algorithm`. */
  get path(): string {
    return this.fields.length === 0 ? this.structure : `${this.structure}${this.fields[0].startsWith("[") ? "" : "."}${fieldPath(this.fields)}`;
  }
  /** Internal: records that the failure happened in `field` of `structure` (called as the error unwinds). */
  within(structure: string, field: string): this {
    this.structure = structure;
    this.fields.unshift(field);
    this.message = `Cannot encode ${this.path}: ${this.reason}`;
    return this;
  }
}

/** The TPM returned a non-zero response code. `code` is the response code's name, e.g. `TPM_RC_POLICY_FAIL`. */
export class TpmResponseError extends Error {
  /** Stable error code: the TPM_RC name. */
  readonly code: string;
  /** The raw 32-bit response code. */
  readonly rc: number;
  /** The decoded response code (handle/parameter/session number, layer, description). */
  readonly decoded: DecodedResponseCode;
  /** The command that failed, e.g. `TPM2_Quote`, when known. */
  readonly command: string | undefined;
  /** @param rc raw response code @param command name of the command that failed */
  constructor(rc: number, command?: string, options?: ErrorOptions) {
    const decoded = decodeResponseCode(rc);
    super(`${command ? command + ": " : ""}${decoded.text} (rc 0x${rc.toString(16).padStart(3, "0")})`, options);
    this.name = "TpmResponseError";
    this.code = decoded.name;
    this.rc = rc;
    this.decoded = decoded;
    this.command = command;
  }
}

/** Codes of {@link TpmVerifyError}: which check failed. */
export type TpmVerifyCode =
  | "TPM2_VERIFY_SIGNATURE"
  | "TPM2_VERIFY_MAGIC"
  | "TPM2_VERIFY_TYPE"
  | "TPM2_VERIFY_NONCE"
  | "TPM2_VERIFY_PCR_SELECTION"
  | "TPM2_VERIFY_PCR_DIGEST"
  | "TPM2_VERIFY_SCHEME"
  | "TPM2_VERIFY_KEY"
  | "TPM2_VERIFY_INTEGRITY";

/** A cryptographic check failed. `code` names the check. */
export class TpmVerifyError extends Error {
  /** Which check failed. */
  readonly code: TpmVerifyCode;
  /** @param code which check failed @param message what exactly */
  constructor(code: TpmVerifyCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TpmVerifyError";
    this.code = code;
  }
}

/** An algorithm, curve or key type this library does not handle. */
export class TpmUnsupportedError extends Error {
  /** Stable error code. */
  readonly code = "TPM2_UNSUPPORTED";
  /** @param message what is unsupported */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TpmUnsupportedError";
  }
}
