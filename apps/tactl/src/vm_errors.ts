/**
 * Errors of `tactl vm`, each with a stable code and its exit code: 2 bad usage or input (a VM that may not have a
 * vTPM, no key provider, a VM directory in the wrong state), 1 refused (the key withheld, a state that fails
 * authentication), 3 a process or transport failed (swtpm, the agent out of reach).
 * @module
 */
import { EXIT } from "./errors.ts";

/** Codes of {@link VmError}. */
export type VmErrorCode =
  | "VM_INPUT"
  | "VM_EXISTS"
  | "VM_NOT_FOUND"
  | "VM_NOT_ALLOWED"
  | "VM_NO_PROVIDER"
  | "VM_NO_VTPM"
  | "VM_RUNNING"
  | "VM_NOT_RUNNING"
  | "VM_KEY_REFUSED"
  | "VM_STATE_REFUSED"
  | "VM_AGENT_UNREACHABLE"
  | "VM_AGENT_ANSWER"
  | "VM_SWTPM";

/** A `tactl vm` failure. */
export class VmError extends Error {
  /** Stable code. */
  readonly code: VmErrorCode;
  /** @param code stable code @param message what and where @param options cause */
  constructor(code: VmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VmError";
    this.code = code;
  }
}

const REFUSED: ReadonlySet<VmErrorCode> = new Set(["VM_KEY_REFUSED", "VM_STATE_REFUSED"]);
const TRANSPORT: ReadonlySet<VmErrorCode> = new Set(["VM_AGENT_UNREACHABLE", "VM_AGENT_ANSWER", "VM_SWTPM"]);

/** The exit code of a VmError. */
export function vmExit(e: VmError): number {
  return REFUSED.has(e.code) ? EXIT.REFUSED : TRANSPORT.has(e.code) ? EXIT.TPM : EXIT.USAGE;
}
