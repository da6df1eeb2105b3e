/**
 * Errors of @tessera/kmip, each with a stable `code`:
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `KMIP_DECODE` | {@link KmipDecodeError} | TTLV bytes (or JSON/XML renderings) that do not decode: bad length, type, padding, depth, size |
 * | `KMIP_ENCODE` | {@link KmipEncodeError} | a value that does not fit its TTLV type |
 * | `KMIP_REGISTRY` | {@link KmipRegistryError} | an unknown tag, type or enumeration name |
 * | `KMIP_RESULT` | {@link KmipResultError} | a KMIP peer answered an operation with a failure result (reason and message kept) |
 * | `KMIP_TRANSPORT` | {@link KmipTransportError} | connection, TLS, timeout or framing failures talking to a KMIP server |
 * @module
 */

/** Bytes that are not valid TTLV. */
export class KmipDecodeError extends Error {
  /** Stable code. */
  readonly code = "KMIP_DECODE";
  /** Byte offset of the item (its tag) where the problem is. */
  readonly offset: number;
  /** The tag of that item (hex and name when known, e.g. `0x420078 RequestMessage`). */
  readonly tag: string;
  /** @param tag item tag text @param offset byte offset @param reason what is wrong */
  constructor(tag: string, offset: number, reason: string, options?: ErrorOptions) {
    super(`Cannot decode KMIP item ${tag} at byte ${offset}: ${reason}`, options);
    this.name = "KmipDecodeError";
    this.tag = tag;
    this.offset = offset;
  }
}

/** A value that cannot be encoded as its TTLV type. */
export class KmipEncodeError extends Error {
  /** Stable code. */
  readonly code = "KMIP_ENCODE";
  /** @param tag item tag text @param reason what is wrong */
  constructor(tag: string, reason: string, options?: ErrorOptions) {
    super(`Cannot encode KMIP item ${tag}: ${reason}`, options);
    this.name = "KmipEncodeError";
  }
}

/** An unknown tag, type, enumeration or mask name. */
export class KmipRegistryError extends Error {
  /** Stable code. */
  readonly code = "KMIP_REGISTRY";
  /** @param message what is unknown */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KmipRegistryError";
  }
}

/** A KMIP operation that the server answered with a failure. */
export class KmipResultError extends Error {
  /** Stable code. */
  readonly code = "KMIP_RESULT";
  /** ResultStatus name (OperationFailed, OperationPending, OperationUndone). */
  readonly status: string;
  /** ResultReason name, e.g. ItemNotFound, PermissionDenied. */
  readonly reason: string;
  /** The operation that failed. */
  readonly operation: string;
  /** @param operation op name @param status status name @param reason reason name @param message server's message */
  constructor(operation: string, status: string, reason: string, message: string, options?: ErrorOptions) {
    super(`${operation}: ${status} ${reason}${message ? `: ${message}` : ""}`, options);
    this.name = "KmipResultError";
    this.operation = operation;
    this.status = status;
    this.reason = reason;
  }
}

/** Connection, TLS, timeout or framing failures. */
export class KmipTransportError extends Error {
  /** Stable code. */
  readonly code = "KMIP_TRANSPORT";
  /** @param message what failed, naming the server */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KmipTransportError";
  }
}
