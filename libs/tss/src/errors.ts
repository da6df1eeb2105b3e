/**
 * Errors of @tessera/tss. TPM response codes arrive as `TpmResponseError` from @tessera/tpm2; the
 * transport and session layer adds these, each with a stable `code`:
 *
 * | code | when |
 * | --- | --- |
 * | `TSS_TCTI_CONFIG` | the TCTI string is malformed or names an unknown transport |
 * | `TSS_TPM_ABSENT` | nothing answers at the address or device (connection refused, no such file) |
 * | `TSS_TPM_BUSY` | the device is held by another process (EBUSY), or a command is already in flight |
 * | `TSS_PERMISSION` | the device exists but may not be opened (EACCES/EPERM): the user is not in the `tss` group |
 * | `TSS_TIMEOUT` | the TPM did not answer within the timeout; the transport closes its connection and reopens on the next command |
 * | `TSS_ABORTED` | the caller's AbortSignal fired; a command already sent is answered to nobody ({@link CommandAbortedError}) |
 * | `TSS_HANDLE_LOST` | a transient object or session was lost when the transport reopened ({@link HandlesLostError}) |
 * | `TSS_PERSISTENT` | a persistent handle is taken, not found, outside the persistent range, or none is free |
 * | `TSS_IO` | the connection broke, or the TPM sent a malformed/oversized response |
 * | `TSS_RESPONSE_HMAC` | a response's session HMAC did not verify: the response may have been tampered with |
 * | `TSS_EK` | the EK recreated from the template does not match the EK certificate, or no EK certificate |
 * | `TSS_CLOSED` | the transport was used after close() |
 * | `TSS_ARGUMENT` | a helper's argument names no algorithm it knows (e.g. an RSA decryption scheme or hash) |
 * @module
 */

/** Stable codes of {@link TssError}. */
export type TssErrorCode =
  | "TSS_TCTI_CONFIG"
  | "TSS_TPM_ABSENT"
  | "TSS_TPM_BUSY"
  | "TSS_PERMISSION"
  | "TSS_TIMEOUT"
  | "TSS_ABORTED"
  | "TSS_HANDLE_LOST"
  | "TSS_PERSISTENT"
  | "TSS_IO"
  | "TSS_RESPONSE_HMAC"
  | "TSS_EK"
  | "TSS_CLOSED"
  | "TSS_ARGUMENT";

/** An error of the TSS bridge. */
export class TssError extends Error {
  /** Which failure. */
  readonly code: TssErrorCode;
  /** @param code which failure @param message what exactly, naming the TCTI/device */
  constructor(code: TssErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TssError";
    this.code = code;
  }
}

/**
 * The caller aborted a command (TSS_ABORTED). When the command had already been written, the TPM still
 * runs it: its answer arrives later as `lateResponse` (rejecting if it never comes) and is kept from
 * the next command, which gets its own answer.
 */
export class CommandAbortedError extends TssError {
  /** The response of a command that was sent before the abort, or undefined when nothing was sent. */
  readonly lateResponse: Promise<Uint8Array> | undefined;
  /** @param message what was aborted @param lateResponse the answer still to come, if the command was sent */
  constructor(message: string, lateResponse?: Promise<Uint8Array>, options?: ErrorOptions) {
    super("TSS_ABORTED", message, options);
    this.name = "CommandAbortedError";
    this.lateResponse = lateResponse;
    lateResponse?.catch(() => undefined);
  }
}

/**
 * A command was sent but not answered within its timeout (TSS_TIMEOUT). The TPM may still answer:
 * `lateResponse` resolves with that answer, or rejects when it does not come within one more timeout
 * period (the transport then reopens its device/connection). The next command never receives it.
 */
export class CommandTimeoutError extends TssError {
  /** The answer still to come, if any. */
  readonly lateResponse: Promise<Uint8Array> | undefined;
  /** @param message what timed out @param lateResponse the answer still to come */
  constructor(message: string, lateResponse?: Promise<Uint8Array>, options?: ErrorOptions) {
    super("TSS_TIMEOUT", message, options);
    this.name = "CommandTimeoutError";
    this.lateResponse = lateResponse;
    lateResponse?.catch(() => undefined);
  }
}

/**
 * Transient objects or sessions that a {@link Tpm} had loaded and that are gone after its transport
 * reopened the device/connection (TSS_HANDLE_LOST), or a session whose nonces are unknown because a
 * command using it timed out. Passed to the Tpm's `onHandlesLost` and thrown when a lost handle is used.
 */
export class HandlesLostError extends TssError {
  /** The lost handles. */
  readonly handles: readonly number[];
  /** @param handles the lost handles @param message why they were lost */
  constructor(handles: readonly number[], message: string, options?: ErrorOptions) {
    super("TSS_HANDLE_LOST", message, options);
    this.name = "HandlesLostError";
    this.handles = handles;
  }
}
