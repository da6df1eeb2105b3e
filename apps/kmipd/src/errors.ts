/**
 * Operation failures: every one becomes a KMIP result (ResultStatus OperationFailed, a ResultReason and a
 * message) in the batch item, never a dropped connection.
 * @module
 */

/** KMIP ResultReason names this server answers with. */
export type ResultReasonName =
  | "ItemNotFound"
  | "ResponseTooLarge"
  | "AuthenticationNotSuccessful"
  | "InvalidMessage"
  | "OperationNotSupported"
  | "MissingData"
  | "InvalidField"
  | "FeatureNotSupported"
  | "OperationCanceledByRequester"
  | "CryptographicFailure"
  | "IllegalOperation"
  | "PermissionDenied"
  | "ObjectArchived"
  | "IndexOutOfBounds"
  | "ApplicationNamespaceNotSupported"
  | "KeyFormatTypeNotSupported"
  | "KeyCompressionTypeNotSupported"
  | "EncodingOptionError"
  | "KeyValueNotPresent"
  | "AttestationRequired"
  | "AttestationFailed"
  | "Sensitive"
  | "NotExtractable"
  | "ObjectAlreadyExists"
  | "WrongKeyLifecycleState"
  | "AttributeNotFound"
  | "AttributeReadOnly"
  | "AttributeSingleValued"
  | "BadCryptographicParameters"
  | "BadPassword"
  | "CodecError"
  | "IllegalObjectType"
  | "IncompatibleCryptographicUsageMask"
  | "InvalidObjectType"
  | "ObjectDestroyed"
  | "ObjectNotFound"
  | "ReadOnlyAttribute"
  | "UnsupportedCryptographicParameters"
  | "InvalidCorrelationValue"
  | "InvalidCSR"
  | "NonUniqueNameAttribute"
  | "AttributeInstanceNotFound"
  | "UnsupportedProtocolVersion"
  | "GeneralFailure";

/** An operation failure with the ResultReason to answer. */
export class OperationError extends Error {
  /** Stable code. */
  readonly code = "KMIP_OPERATION";
  /** The ResultReason. */
  readonly reason: ResultReasonName;
  /** @param reason ResultReason @param message ResultMessage */
  constructor(reason: ResultReasonName, message: string) {
    super(message);
    this.name = "OperationError";
    this.reason = reason;
  }
}
