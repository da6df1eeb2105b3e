/**
 * Errors of @tessera/tss. TPM response codes arrive as `TpmResponseError` from @tessera/tpm2; the
 * transport and session layer adds these, each with a stable `code`:
 *
 * | code | when |
 * | --- | --- |
 * | `TSS_TCTI_CONFIG` | the TCTI string is malformed or names an unknown transport |
 * | `TSS_TPM_ABSENT` | nothing answers at the address or device (connection refused, no such file) |
 * | `TSS_TPM_BUSY` | the device is held by another process (EBUSY), or a command is already in flight |
 * | `TSS_TIMEOUT` | the TPM did not answer within the timeout; the transport is closed |
 * | `TSS_IO` | the connection broke, or the TPM sent a malformed/oversized response |
 * | `TSS_RESPONSE_HMAC` | a response's session HMAC did not verify: the response may have been tampered with |
 * | `TSS_EK` | the EK recreated from the template does not match the EK certificate, or no EK certificate |
 * | `TSS_CLOSED` | the transport was used after close() |
 * @module
 */

/** Stable codes of {@link TssError}. */
export type TssErrorCode = "TSS_TCTI_CONFIG" | "TSS_TPM_ABSENT" | "TSS_TPM_BUSY" | "TSS_TIMEOUT" | "TSS_IO" | "TSS_RESPONSE_HMAC" | "TSS_EK" | "TSS_CLOSED";

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
