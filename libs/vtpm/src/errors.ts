/**
 * Errors of @tessera/vtpm, each with a stable `code`:
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `ENVELOPE_MALFORMED` | {@link EnvelopeError} | not an envelope, truncated, or a field out of range (`field` and `offset` say where) |
 * | `ENVELOPE_VERSION` | {@link EnvelopeError} | an envelope of a version or algorithm this code does not know |
 * | `ENVELOPE_AUTH` | {@link EnvelopeError} | authentication failed: the data key is not this envelope's, or a byte of it was changed |
 * | `ENVELOPE_INPUT` | {@link EnvelopeError} | bad arguments to seal or rewrap (a key of the wrong length, a field too long) |
 * @module
 */

/** Codes of {@link EnvelopeError}. */
export type EnvelopeErrorCode = "ENVELOPE_MALFORMED" | "ENVELOPE_VERSION" | "ENVELOPE_AUTH" | "ENVELOPE_INPUT";

/** An envelope that cannot be read, opened or made. No plaintext, whole or partial, ever accompanies it. */
export class EnvelopeError extends Error {
  /** Stable code. */
  readonly code: EnvelopeErrorCode;
  /** The field at fault (`magic`, `version`, `provider.name`, `content`, …), or `envelope` for the whole. */
  readonly field: string;
  /** The byte offset of the field, when known. */
  readonly offset: number | undefined;
  /** @param code stable code @param field the field at fault @param message what is wrong @param options cause, offset */
  constructor(code: EnvelopeErrorCode, field: string, message: string, options?: ErrorOptions & { offset?: number }) {
    super(`envelope ${field}${options?.offset === undefined ? "" : ` (byte ${options.offset})`}: ${message}`, options);
    this.name = "EnvelopeError";
    this.code = code;
    this.field = field;
    this.offset = options?.offset;
  }
}

/** Codes of {@link VmConfigError}. */
export type VmConfigErrorCode = "VM_CONFIG_INVALID" | "VTPM_NOT_ALLOWED";

/** A VM's configuration that cannot be read (`field` names the part), or a VM that may not have a vTPM (and why). */
export class VmConfigError extends Error {
  /** Stable code. */
  readonly code: VmConfigErrorCode;
  /** The field at fault (`firmware`, `hwVersion`, `vtpm.provider.name`, …). */
  readonly field: string;
  /** @param code stable code @param field the field at fault @param message what is wrong @param options cause */
  constructor(code: VmConfigErrorCode, field: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VmConfigError";
    this.code = code;
    this.field = field;
  }
}
