/**
 * RFC 9457 problem documents: every error a Tessera service answers is one.
 * @module
 */

/** Default titles by status (RFC 9110 reason phrases). */
const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** The problem code for a bare HTTP status (when the error carries none). */
export function problemCodeForStatus(status: number): string {
  const byStatus: Record<number, string> = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    503: "unavailable",
  };
  return byStatus[status] ?? (status >= 500 ? "internal" : "error");
}

/** Input of {@link problemResponse}. */
export interface ProblemInit {
  /** Stable problem code: `type` becomes `urn:tessera:problem:<code>`. */
  readonly code: string;
  /** HTTP status. */
  readonly status: number;
  /** Short summary; defaults to the status's reason phrase. */
  readonly title?: string;
  /** Explanation of this occurrence. */
  readonly detail: string;
  /** Extension members merged at the top level; they cannot replace type, title, status or detail. */
  readonly extra?: Record<string, unknown>;
  /** More response headers (e.g. `WWW-Authenticate`). */
  readonly headers?: Record<string, string>;
}

/** The media type of problem documents. */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/**
 * An RFC 9457 problem response.
 *
 * @example
 * ```ts
 * return problemResponse({ code: "not-found", status: 404, detail: "no host h1" });
 * // 404, application/problem+json: {"type":"urn:tessera:problem:not-found","title":"Not Found","status":404,"detail":"no host h1"}
 * ```
 */
export function problemResponse(init: ProblemInit): Response {
  const body = {
    ...init.extra,
    type: `urn:tessera:problem:${init.code}`,
    title: init.title ?? TITLES[init.status] ?? "Error",
    status: init.status,
    detail: init.detail,
  };
  return new Response(JSON.stringify(body), {
    status: init.status,
    headers: { ...init.headers, "content-type": PROBLEM_CONTENT_TYPE },
  });
}
