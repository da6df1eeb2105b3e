/**
 * Errors of @tessera/ek-trust. {@link checkEk} never throws: it answers every input with a verdict.
 * {@link parseCaBundle} and {@link ekFingerprint} throw an {@link EkTrustError}:
 *
 * | code | when |
 * | --- | --- |
 * | `EK_TRUST_PARSE` | a CA bundle, certificate or EK public area does not decode (names which one and why) |
 * | `EK_TRUST_NOT_CA` | a certificate of a CA bundle is not a CA (no basicConstraints cA) |
 *
 * @module
 */

/** The stable codes an {@link EkTrustError} carries. */
export const EK_TRUST_ERROR_CODES = ["EK_TRUST_PARSE", "EK_TRUST_NOT_CA"] as const;

/** One of {@link EK_TRUST_ERROR_CODES}. */
export type EkTrustErrorCode = (typeof EK_TRUST_ERROR_CODES)[number];

/**
 * A failure of {@link parseCaBundle} or {@link ekFingerprint}, with a stable `code` and the underlying `cause`.
 * @example
 * ```ts
 * try { parseCaBundle(text); } catch (e) { if (e instanceof EkTrustError && e.code === "EK_TRUST_NOT_CA") … }
 * ```
 */
export class EkTrustError extends Error {
  /** Stable error code. */
  readonly code: EkTrustErrorCode;

  /** @param code stable code @param message what failed, naming the input @param options the cause */
  constructor(code: EkTrustErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EkTrustError";
    this.code = code;
  }
}
