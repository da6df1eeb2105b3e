/**
 * Every RFC 9457 problem code attestd answers with, and its HTTP status: the host protocol's codes of
 * PROTOCOL.md, the ones it adds (enrollment-used, enrollment-unknown, ek-mismatch, ek-malformed, body limits, media
 * type, sign-in throttling), the admin API's, and those @tessera/http's service plumbing sends (authentication,
 * routing, internal errors). The OpenAPI document lists this table; a test checks that every code the sources can
 * emit is in it with the same status.
 * @module
 */

/** One problem code. */
export interface ProblemCode {
  readonly code: string;
  readonly status: number;
  /** When it is answered, in words. */
  readonly meaning: string;
  /** Whether PROTOCOL.md names it (the others are attestd's additions or its admin API's). */
  readonly inProtocol: boolean;
}

const p = (code: string, status: number, meaning: string, inProtocol = false): ProblemCode => Object.freeze({ code, status, meaning, inProtocol });

/** The table, by code. */
export const PROBLEM_CODES: readonly ProblemCode[] = Object.freeze([
  // Host protocol (PROTOCOL.md §1–3).
  p("ak-attributes", 400, "the AK is not a restricted, fixed signing key (or does not decode)", true),
  p("ek-untrusted", 403, "the EK certificate does not chain to a trusted TPM CA, or is expired, revoked or not an EK certificate", true),
  p("ek-not-pinned", 403, "the configuration trusts only pinned EKs, and this one is not", true),
  p("ek-mismatch", 400, "the EK certificate and the EK public area sent are not the same key"),
  p("ek-malformed", 400, "the EK certificate or public area does not decode, or no credential can be made to it"),
  p("credential-mismatch", 403, "the activation's secret is not the one protected to the host's EK for its AK", true),
  p("enrollment-expired", 410, "the enrollment expired before its activation", true),
  p("enrollment-used", 409, "the enrollment was answered already (an enrollment is answered once)"),
  p("enrollment-unknown", 404, "no such enrollment for this host"),
  p("attestation-failed", 403, "the attestation was refused; `failures` lists every failed check", true),
  p("body-too-large", 413, "the request body is over 1 MiB (refused before it is parsed)", true),
  p("unsupported-media-type", 415, "the request body is not application/json"),
  p("bad-request", 400, "a field of the request (body, path or query) is missing or wrong; the detail names it"),
  p("settings-changing", 503, "the settings changed again and again while a challenge was made (by other requests or nodes): ask again"),
  // Admin API.
  p("unauthorized", 401, "no bearer token, or a wrong user or password at sign-in"),
  p("token-invalid", 401, "the bearer token is not valid here (signature, issuer, audience, type)"),
  p("token-expired", 401, "the bearer token has expired"),
  p("forbidden", 403, "the caller is in none of the groups the route needs"),
  p("too-many-attempts", 429, "too many failed sign-ins of this user from this address; wait for the oldest to age out"),
  p("auth-unavailable", 503, "the keys to check an external issuer's token cannot be fetched now"),
  p("not-found", 404, "no such resource, or no such route"),
  p("method-not-allowed", 405, "the route exists with other methods"),
  p("account-exists", 409, "an account with that user name exists"),
  p("image-exists", 409, "an image with that name and version exists"),
  p("conflict", 409, "the change contradicts the current state (an administrator removing their own account)"),
  p("internal", 500, "an unexpected error (logged with the request id; no internals are sent)"),
]);

/** The table by code. */
export const PROBLEMS: ReadonlyMap<string, ProblemCode> = new Map(PROBLEM_CODES.map((x) => [x.code, x]));
