/**
 * Errors of @tessera/host-image, each with a stable `code`:
 *
 * | code | when |
 * | --- | --- |
 * | `HOST_IMAGE_MANIFEST` | a host image manifest (libs/boot's format) is malformed; `field` names the bad field |
 * | `HOST_IMAGE_INVALID` | an accepted image (JSON) is malformed; `field` names the bad field (`image.bootChain[1].digests.sha256`) |
 * | `HOST_IMAGE_LOG` | the event log an image is made from does not parse |
 * @module
 */

/** Stable codes of {@link HostImageError}. */
export type HostImageErrorCode = "HOST_IMAGE_MANIFEST" | "HOST_IMAGE_INVALID" | "HOST_IMAGE_LOG";

/** Options of {@link HostImageError}: the usual `cause`, plus the field at fault. */
export interface HostImageErrorOptions extends ErrorOptions {
  /** The field at fault, as a path: `manifest.bootChain[2].path`, `image.secureBoot.db[0]`. */
  readonly field?: string;
}

/** An error of the host-image model. */
export class HostImageError extends Error {
  /** Which failure. */
  readonly code: HostImageErrorCode;
  /** The field at fault, when one is. */
  readonly field: string | undefined;

  /** @param code which failure @param message what exactly @param options cause and field */
  constructor(code: HostImageErrorCode, message: string, options?: HostImageErrorOptions) {
    super(message, options);
    this.name = "HostImageError";
    this.code = code;
    this.field = options?.field;
  }
}
