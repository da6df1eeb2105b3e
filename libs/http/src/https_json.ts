/**
 * A JSON client over HTTPS that trusts a given CA: how one Tessera service (or agent) calls another whose TLS
 * certificate comes from the Trust Authority's own CA, which the system trust store does not hold. Any method,
 * a JSON body, and the answer parsed whatever its status: a 4xx/5xx problem document is an answer, not an error.
 * Only a request that got no usable answer throws, with an {@link HttpsJsonError} naming the URL and why.
 * @module
 */
import { type Agent, request } from "node:https";

/** Stable codes of {@link HttpsJsonError}. */
export type HttpsJsonErrorCode =
  /** The URL is not an absolute `https://` URL. */
  | "HTTP_URL_INVALID"
  /** No answer: connection refused or reset, DNS, a TLS failure (e.g. a certificate the CA did not issue). */
  | "HTTP_UNREACHABLE"
  /** No complete answer within `timeoutMs`. */
  | "HTTP_TIMEOUT"
  /** The caller's `signal` aborted the request. */
  | "HTTP_ABORTED"
  /** The answer's body is longer than `maxResponseBytes`. */
  | "HTTP_RESPONSE_TOO_LARGE"
  /** The answer's body is not JSON. */
  | "HTTP_RESPONSE_INVALID";

/** A request that got no usable answer. */
export class HttpsJsonError extends Error {
  /** Stable code. */
  readonly code: HttpsJsonErrorCode;
  /** The method and URL of the request. */
  readonly method: string;
  readonly url: string;
  /** The answer's status, when there was one (HTTP_RESPONSE_TOO_LARGE, HTTP_RESPONSE_INVALID). */
  readonly status: number | undefined;

  /**
   * @param code stable code; @param method the request's method; @param url its URL; @param problem what went wrong
   * @param options the answer's status and the underlying cause
   */
  constructor(code: HttpsJsonErrorCode, method: string, url: string, problem: string, options: { status?: number; cause?: unknown } = {}) {
    super(`${method} ${url}: ${problem}`, { cause: options.cause });
    this.name = "HttpsJsonError";
    this.code = code;
    this.method = method;
    this.url = url;
    this.status = options.status;
  }
}

/** Options of {@link httpsJson}. */
export interface HttpsJsonOptions {
  /** The CA certificate(s), PEM, that issued the server's certificate (default: the system's trust store). */
  readonly ca?: string | readonly string[];
  /** More request headers (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Aborts the request (HTTP_ABORTED). */
  readonly signal?: AbortSignal;
  /** Milliseconds for the whole exchange, connection to the last byte (default 30 000). */
  readonly timeoutMs?: number;
  /** The longest answer body accepted (default 4 MiB). */
  readonly maxResponseBytes?: number;
  /** A keep-alive agent to reuse connections (its own `ca` then applies; `ca` here is ignored). */
  readonly agent?: Agent;
}

/** An answer of {@link httpsJson}, whatever its status. */
export interface HttpsJsonResponse {
  readonly status: number;
  /** The answer's headers (lower-case names; repeated ones joined by `, `). */
  readonly headers: Headers;
  /** The parsed JSON body; `undefined` when the body was empty (e.g. 204). */
  readonly body: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Sends `method url` with `body` as JSON (none when `undefined`) and resolves with the status and the parsed JSON
 * answer, whatever the status.
 *
 * @example
 * ```ts
 * const r = await httpsJson("POST", `${attestd}/api/v1/hosts/${host}/challenges`, undefined, { ca });
 * if (r.status === 201) nonce = (r.body as { nonce: string }).nonce;
 * ```
 * @throws HttpsJsonError when there is no usable answer (the code says why; the message names the method and URL).
 */
export function httpsJson(method: string, url: string, body: unknown, options: HttpsJsonOptions = {}): Promise<HttpsJsonResponse> {
  let target: URL;
  try {
    target = new URL(url);
  } catch (cause) {
    return Promise.reject(new HttpsJsonError("HTTP_URL_INVALID", method, url, "is not a URL", { cause }));
  }
  if (target.protocol !== "https:") return Promise.reject(new HttpsJsonError("HTTP_URL_INVALID", method, url, "is not an https:// URL"));
  if (options.signal?.aborted) return Promise.reject(new HttpsJsonError("HTTP_ABORTED", method, url, "aborted before it was sent", { cause: options.signal.reason }));
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), "utf8");
  const headers: Record<string, string> = { accept: "application/json, application/problem+json", ...options.headers };
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(payload.length);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const ca = options.ca === undefined ? undefined : typeof options.ca === "string" ? options.ca : [...options.ca];

  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (outcome: { ok: HttpsJsonResponse } | { error: HttpsJsonError }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if ("ok" in outcome) resolve(outcome.ok);
      else {
        req.destroy();
        reject(outcome.error);
      }
    };
    const req = request(target, { method, headers, ...(options.agent !== undefined ? { agent: options.agent } : ca !== undefined ? { ca } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (d: Buffer) => {
        size += d.length;
        // Bounded: a peer that never stops talking must not fill this process's memory.
        if (size > maxBytes) finish({ error: new HttpsJsonError("HTTP_RESPONSE_TOO_LARGE", method, url, `answered more than ${maxBytes} bytes`, { status }) });
        else chunks.push(d);
      });
      res.on("error", (cause) => finish({ error: new HttpsJsonError("HTTP_UNREACHABLE", method, url, `the answer broke off: ${cause.message}`, { status, cause }) }));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        if (text.trim() !== "") {
          try {
            parsed = JSON.parse(text);
          } catch (cause) {
            const excerpt = text.length > 120 ? `${text.slice(0, 120)}…` : text;
            finish({ error: new HttpsJsonError("HTTP_RESPONSE_INVALID", method, url, `answered ${status} with a body that is not JSON: ${JSON.stringify(excerpt)}`, { status, cause }) });
            return;
          }
        }
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (typeof v === "string") h.set(k, v);
          else if (Array.isArray(v)) for (const one of v) h.append(k, one);
        }
        finish({ ok: { status, headers: h, body: parsed } });
      });
    });
    req.on("error", (cause: NodeJS.ErrnoException) =>
      finish({ error: new HttpsJsonError("HTTP_UNREACHABLE", method, url, `no answer: ${cause.code ? `${cause.code} ` : ""}${cause.message}`, { cause }) }),
    );
    const timer = setTimeout(() => finish({ error: new HttpsJsonError("HTTP_TIMEOUT", method, url, `no complete answer within ${timeoutMs} ms`) }), timeoutMs);
    const onAbort = (): void => finish({ error: new HttpsJsonError("HTTP_ABORTED", method, url, "aborted", { cause: options.signal?.reason }) });
    options.signal?.addEventListener("abort", onAbort, { once: true });
    req.end(payload);
  });
}
