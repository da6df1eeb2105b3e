/**
 * CLI errors. Exit codes: 0 success, 1 a verification failed (or attestd refused: its problem, or no valid
 * session), 2 bad usage or input, 3 the TPM or transport failed (attestd unreachable, TLS), 4 the KMIP server
 * answered an operation with a failure.
 * @module
 */

/** An error the CLI reports as one line, with a stable code. */
export class CliError extends Error {
  /** Stable code, e.g. TACTL_USAGE, TACTL_FILE, TACTL_INPUT. */
  readonly code: string;
  /** @param code stable code @param message the line to print */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CliError";
    this.code = code;
  }
}

/** Exit codes. */
export const EXIT = { OK: 0, VERIFY_FAILED: 1, REFUSED: 1, USAGE: 2, TPM: 3, KMIP_FAILED: 4 } as const;
