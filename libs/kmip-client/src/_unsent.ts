/**
 * Failures of `KmipConnection.send` that happened before any byte of the request was written: the client may
 * send such a request again, on another connection, whatever its operation.
 * @module
 */
export const UNSENT = new WeakSet<Error>();

/** Marks `e` as a failure before the request was written, and returns it. */
export function unsent<E extends Error>(e: E): E {
  UNSENT.add(e);
  return e;
}
