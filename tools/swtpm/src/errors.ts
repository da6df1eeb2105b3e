/**
 * Errors of @tessera/swtpm-testing. Each carries a stable `code`; the message holds the command line and
 * the last output of the program that failed, so a failing test shows why.
 *
 * | code | when |
 * | --- | --- |
 * | `SWTPM_TOOL` | a short-lived helper (swtpm_setup, swtpm_localca) failed or timed out |
 * | `SWTPM_SETUP` | manufacturing finished but left something out (no RSA EK certificate, no CA certificate, an unexpected EK) |
 * | `SWTPM_START` | swtpm (or socat for a pty bridge) exited or was not ready in time |
 * | `SWTPM_ADDRESS_IN_USE` | swtpm could not bind its ports; {@link startSwtpm} retries on other ports |
 * | `SWTPM_NO_FREE_PORTS` | no pair of consecutive free loopback TCP ports was found |
 * | `SWTPM_SOCKET_PATH` | the temp folder is too deep for AF_UNIX socket paths |
 * | `SWTPM_STOPPED` | the instance was used after stop() |
 * @module
 */

/** Stable codes of {@link SwtpmError}. */
export type SwtpmErrorCode =
  "SWTPM_TOOL" | "SWTPM_SETUP" | "SWTPM_START" | "SWTPM_ADDRESS_IN_USE" | "SWTPM_NO_FREE_PORTS" | "SWTPM_SOCKET_PATH" | "SWTPM_STOPPED";

/** An error of the swtpm test harness. */
export class SwtpmError extends Error {
  /** Which failure. */
  readonly code: SwtpmErrorCode;

  /** @param code which failure @param message what exactly, with the program's output */
  constructor(code: SwtpmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SwtpmError";
    this.code = code;
  }
}
