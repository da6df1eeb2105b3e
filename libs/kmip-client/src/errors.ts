/**
 * Errors of @tessera/kmip-client beyond those of @tessera/kmip, each with a stable `code`:
 *
 * | code | class | when |
 * | --- | --- | --- |
 * | `KMIP_OUTCOME_UNKNOWN` | {@link KmipOutcomeUnknownError} | a request that is not safe to repeat was written to a server and then no response came (connection lost, timeout): the server may or may not have applied it, so it was not sent again |
 *
 * The client also throws `KmipTransportError` (`KMIP_TRANSPORT`: no server could be reached, or an idempotent
 * request failed on every server), `KmipResultError` (`KMIP_RESULT`: the server refused) from @tessera/kmip,
 * and an aborted call rejects with its signal's reason (an `AbortError` DOMException unless the caller chose one).
 * @module
 */

/**
 * A request that must not be applied twice (Create, Register, Re-key, Encrypt with usage limits, …) was written
 * to a server and its response never came. It may have been applied: find out (e.g. Locate by name) before
 * repeating it. `cause` is the failure of that server, or an AggregateError of every server's failure when
 * earlier servers were tried first; `errors` lists them in the order the servers were tried.
 */
export class KmipOutcomeUnknownError extends Error {
  /** Stable code. */
  readonly code = "KMIP_OUTCOME_UNKNOWN";
  /** The operations of the request (one unless it was a batch). */
  readonly operations: string[];
  /** The server (`host:port`) that may have applied it. */
  readonly server: string;
  /** Every server's failure, in the order they were tried; the last is `server`'s. */
  readonly errors: Error[];
  /** @param operations the request's operations @param server `host:port` @param errors failures in order */
  constructor(operations: string[], server: string, errors: Error[]) {
    const last = errors[errors.length - 1];
    super(
      `KMIP ${operations.join(", ")} sent to ${server}: outcome unknown, not retried (it may have been applied): ${last?.message ?? "no response"}`,
      { cause: errors.length === 1 ? last : new AggregateError(errors, `failures of ${operations.join(", ")} on each KMIP server tried`) },
    );
    this.name = "KmipOutcomeUnknownError";
    this.operations = operations;
    this.server = server;
    this.errors = errors;
  }
}
