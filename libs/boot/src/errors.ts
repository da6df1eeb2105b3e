/**
 * Errors of @tessera/boot, each with a stable `code`:
 *
 * | code | when |
 * | --- | --- |
 * | `BOOT_MANIFEST` | a host image manifest is malformed; `field` names the bad field (`manifest.bootChain[2].path`) |
 * | `BOOT_PCRS_NOT_RESET` | the TPM's boot PCRs are not at their reset value: booting again would make the log lie |
 * | `BOOT_TPM_BANKS` | the TPM has no active PCR bank the simulator can hash |
 * | `BOOT_LOG` | a log given to a variant helper has no such event, or the event cannot be edited |
 * @module
 */

/** Stable codes of {@link BootError}. */
export type BootErrorCode = "BOOT_MANIFEST" | "BOOT_PCRS_NOT_RESET" | "BOOT_TPM_BANKS" | "BOOT_LOG";

/** Options of {@link BootError}: the usual `cause`, plus the manifest field at fault. */
export interface BootErrorOptions extends ErrorOptions {
  /** The manifest field at fault, as a path: `manifest.bootChain[2].path`. */
  readonly field?: string;
}

/** An error of the measured-boot simulator. */
export class BootError extends Error {
  /** Which failure. */
  readonly code: BootErrorCode;
  /** For `BOOT_MANIFEST`: the field at fault (`manifest.secureBoot.pk[0]`). */
  readonly field: string | undefined;

  /** @param code which failure @param message what exactly @param options cause and field */
  constructor(code: BootErrorCode, message: string, options?: BootErrorOptions) {
    super(message, options);
    this.name = "BootError";
    this.code = code;
    this.field = options?.field;
  }
}
