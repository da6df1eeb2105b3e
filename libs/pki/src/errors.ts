/**
 * Errors of @tessera/pki. Every failure is a {@link PkiError} with a stable `code`:
 *
 * | code | when |
 * | --- | --- |
 * | `PKI_PARSE` | a certificate, key or extension does not decode (names the input and the field) |
 * | `PKI_CHAIN` | no path to a trusted root, a broken signature, or an issuer that is not a CA |
 * | `PKI_KEY` | a key is unusable: wrong type, unsupported algorithm, or not the certificate's key |
 * | `PKI_EXPIRED` | a certificate of the chain is outside its validity period at the checked time |
 * | `PKI_PROFILE` | the request does not fit the profile (bad name, bad SAN, issuer not a CA, bad validity) |
 *
 * @module
 */

/** The stable codes a {@link PkiError} carries. */
export const PKI_ERROR_CODES = ["PKI_PARSE", "PKI_CHAIN", "PKI_KEY", "PKI_EXPIRED", "PKI_PROFILE"] as const;

/** One of {@link PKI_ERROR_CODES}. */
export type PkiErrorCode = (typeof PKI_ERROR_CODES)[number];

/** Options of {@link PkiError}: the standard `cause`, and the certificate the error is about. */
export interface PkiErrorOptions extends ErrorOptions {
  /** Subject DN (RFC 4514 string) of the certificate that failed, when there is one. */
  readonly subject?: string;
}

/**
 * A PKI failure with a stable {@link PkiErrorCode}.
 *
 * @example
 * ```ts
 * try {
 *   await verifyChain(leafPem, { roots: [rootPem] });
 * } catch (e) {
 *   if (e instanceof PkiError && e.code === "PKI_EXPIRED") console.log(`${e.subject} expired`);
 * }
 * ```
 */
export class PkiError extends Error {
  /** Stable error code. */
  readonly code: PkiErrorCode;
  /** Subject DN of the certificate the error is about (e.g. the one whose validity ended). */
  readonly subject: string | undefined;

  /** @param code stable code @param message what failed, naming the input @param options cause and subject */
  constructor(code: PkiErrorCode, message: string, options?: PkiErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PkiError";
    this.code = code;
    this.subject = options?.subject;
  }
}
