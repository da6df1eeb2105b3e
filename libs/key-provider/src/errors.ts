/**
 * Errors of @tessera/key-provider, each with a stable `code`:
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `WRAPPED_MALFORMED` | {@link WrappedKeyError} | a wrapped form that is not base64 of the version-1 JSON, or one of its fields is wrong (`field` names it) |
 * | `KEY_NOT_FOUND` | {@link ProviderKeyError} | the key server has no such key (or does not let this client see it) |
 * | `KEY_NOT_ACTIVE` | {@link ProviderKeyError} | the key exists but is not Active |
 * | `MODE_UNSUPPORTED` | {@link ProviderKeyError} | the key server (or the key's usage mask) cannot do the wrap mode asked for |
 * | `KEY_VERSION_UNKNOWN` | {@link ProviderKeyError} | a wrapped key names a key version the provider does not have |
 * | `UNWRAP_FAILED` | {@link ProviderKeyError} | a wrapped key fails authentication (tampered, another provider's, or the AAD does not match) |
 * | `KEY_SERVERS_UNREACHABLE` | {@link KeyServersUnreachableError} | no key server could be reached; `servers` names each one tried |
 * | `CSR_NAME_INVALID`, `CERT_MALFORMED`, `KEY_MALFORMED`, `CERT_KEY_MISMATCH`, `CERT_EXPIRED`, `CERT_NOT_YET_VALID`, `CERT_NOT_CLIENT_AUTH` | {@link TrustSetupError} | the client certificate set-up with a key server |
 * | `CONFIG_INVALID` | {@link KeyProviderConfigError} | bad options (server addresses, rate limits) |
 *
 * Also passed through unchanged: `KmipOutcomeUnknownError` (`KMIP_OUTCOME_UNKNOWN`, from @tessera/kmip-client:
 * an Encrypt/Decrypt/MAC whose answer was lost; never retried) and `KmipResultError` (`KMIP_RESULT`) for refusals of
 * Encrypt/MAC other than a missing or inactive key.
 * @module
 */

/** A wrapped form that cannot be read. `field` names the part that is wrong (`wrapped` for the whole text). */
export class WrappedKeyError extends Error {
  /** Stable code. */
  readonly code = "WRAPPED_MALFORMED";
  /** The field at fault: `wrapped`, `json`, `v`, `provider`, `kv`, `mode`, `iv`, `ct` or `tag`. */
  readonly field: string;
  /** @param field the field at fault @param message what is wrong with it @param options cause */
  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`Cannot read the wrapped key: ${field}: ${message}`, options);
    this.name = "WrappedKeyError";
    this.field = field;
  }
}

/** Codes of {@link ProviderKeyError}. */
export type ProviderKeyErrorCode = "KEY_NOT_FOUND" | "KEY_NOT_ACTIVE" | "MODE_UNSUPPORTED" | "KEY_VERSION_UNKNOWN" | "UNWRAP_FAILED";

/** The provider's key cannot do what was asked (see the codes in the module table). */
export class ProviderKeyError extends Error {
  /** Stable code. */
  readonly code: ProviderKeyErrorCode;
  /** @param code stable code @param message what, naming the key, provider and version @param options cause */
  constructor(code: ProviderKeyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProviderKeyError";
    this.code = code;
  }
}

/**
 * No key server could be reached (connection refused, TLS failure, timeout, on each one in turn). `servers` has one
 * entry per server tried, in order, as `host:port: <its failure>`; `cause` is the client's KmipTransportError.
 */
export class KeyServersUnreachableError extends Error {
  /** Stable code. */
  readonly code = "KEY_SERVERS_UNREACHABLE";
  /** Each server tried, `host:port: <failure>`, in the order they were tried. */
  readonly servers: string[];
  /** @param servers each server tried with its failure @param options cause */
  constructor(servers: string[], options?: ErrorOptions) {
    super(`No key server could be reached: ${servers.join("; ")}`, options);
    this.name = "KeyServersUnreachableError";
    this.servers = servers;
  }
}

/** Codes of {@link TrustSetupError}. */
export type TrustSetupErrorCode =
  "CSR_NAME_INVALID" | "CERT_MALFORMED" | "KEY_MALFORMED" | "CERT_KEY_MISMATCH" | "CERT_EXPIRED" | "CERT_NOT_YET_VALID" | "CERT_NOT_CLIENT_AUTH";

/** A client key, CSR or certificate for a key server that cannot be used. */
export class TrustSetupError extends Error {
  /** Stable code. */
  readonly code: TrustSetupErrorCode;
  /** @param code stable code @param message what is wrong @param options cause */
  constructor(code: TrustSetupErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TrustSetupError";
    this.code = code;
  }
}

/** Options given to this lib that cannot work (`field` names the option). */
export class KeyProviderConfigError extends Error {
  /** Stable code. */
  readonly code = "CONFIG_INVALID";
  /** The option at fault, e.g. `servers[1].port`. */
  readonly field: string;
  /** @param field the option @param message what is wrong */
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = "KeyProviderConfigError";
    this.field = field;
  }
}
