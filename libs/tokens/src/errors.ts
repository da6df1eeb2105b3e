/**
 * The one error type of @tessera/tokens. Codes are stable; messages name the rule that failed.
 *
 * | code | when |
 * | --- | --- |
 * | `TOKEN_INVALID` | a token fails any rule but expiry: format, `alg`, `typ`, `kid`, signature, `iss`, `aud`, `iat`, claim shapes, `ear.status` |
 * | `TOKEN_EXPIRED` | a token whose signature is good is past `exp` (beyond the clock tolerance) |
 * | `TOKEN_INPUT` | what the caller asked to put in a token, or a signing key, is unusable |
 * | `BINDING_KEY_UNSUPPORTED` | a binding key is not an RSA-2048 decryption key that RSA-OAEP-256 can use |
 * | `BINDING_KEY_MALFORMED` | a binding key's bytes are not a TPM2B_PUBLIC / TPMT_PUBLIC |
 * | `JWE_INVALID` | a JWE cannot be made (bad recipient key) or opened (format, header, key, tag) |
 * @module
 */

/** The stable codes of {@link TokenError}. */
export type TokenErrorCode =
  | "TOKEN_INVALID"
  | "TOKEN_EXPIRED"
  | "TOKEN_INPUT"
  | "BINDING_KEY_UNSUPPORTED"
  | "BINDING_KEY_MALFORMED"
  | "JWE_INVALID";

/** A token, key or JWE was refused; `code` says which family of rule, the message says which rule. */
export class TokenError extends Error {
  override name = "TokenError";
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
