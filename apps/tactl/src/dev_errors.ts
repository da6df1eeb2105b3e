/**
 * The error of `tactl dev`.
 * @module
 */

/**
 * A dev environment failure, with a stable code: DEV_SPAWN, DEV_START_FAILED, DEV_START_TIMEOUT, DEV_TOOL_MISSING,
 * DEV_SWTPM_SETUP, DEV_DIR_IN_USE, DEV_DIR_NOT_EMPTY, DEV_NO_ENV, DEV_ENV_INVALID, DEV_NOT_GREEN, DEV_REPO_NOT_FOUND,
 * DEV_SOCKET_PATH, DEV_STOP_FAILED, DEV_STEP (a step of the set-up refused: the message names the step).
 */
export class DevError extends Error {
  /** Stable code. */
  readonly code: string;
  /** @param code stable code @param message what failed, where, and what to do */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DevError";
    this.code = code;
  }
}
