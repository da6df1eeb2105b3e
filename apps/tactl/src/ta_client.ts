/**
 * The HTTPS client of attestd's admin API (`tactl ta …`): JSON in and out, the server's certificate checked
 * against the session's CA (node:https with `ca`: no global state, and nothing to install), the admin token as a
 * Bearer. A refusal is the server's RFC 9457 problem as a {@link TaProblemError}; a server that cannot be
 * reached, or whose TLS fails, is a {@link TaTransportError} saying which.
 * @module
 */
import https from "node:https";

/** The server answered with an error: its RFC 9457 problem document. */
export class TaProblemError extends Error {
  /** Stable code: TACTL_PROBLEM. */
  readonly code = "TACTL_PROBLEM";
  /** HTTP status. */
  readonly status: number;
  /** The problem's `title` (e.g. "Forbidden"). */
  readonly title: string;
  /** The problem's `detail`. */
  readonly detail: string;
  /** The problem's `type` (`urn:tessera:problem:<code>`), when given. */
  readonly type?: string;
  /** The whole problem document (extension members such as `failures` or `field` included). */
  readonly problem: Readonly<Record<string, unknown>>;
  /** @param status HTTP status @param problem the parsed document (or one made from a non-problem answer) */
  constructor(status: number, problem: Record<string, unknown>) {
    const title = typeof problem.title === "string" ? problem.title : `HTTP ${status}`;
    const detail = typeof problem.detail === "string" ? problem.detail : "";
    super(detail === "" ? title : `${title}: ${detail}`);
    this.name = "TaProblemError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    if (typeof problem.type === "string") this.type = problem.type;
    this.problem = problem;
  }
  /** The problem code: the part of `type` after `urn:tessera:problem:`. */
  get problemCode(): string | undefined {
    return this.type?.startsWith("urn:tessera:problem:") ? this.type.slice("urn:tessera:problem:".length) : undefined;
  }
}

/** The server could not be reached, or TLS with it failed. Codes: TACTL_UNREACHABLE, TACTL_TLS, TACTL_PROTOCOL. */
export class TaTransportError extends Error {
  /** Stable code. */
  readonly code: string;
  /** @param code stable code @param message names the server and what failed */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TaTransportError";
    this.code = code;
  }
}

/** Where and how to reach attestd. */
export interface TaEndpoint {
  /** Base URL, `https://host:port`. */
  readonly server: string;
  /** PEM of the CA(s) for the server's certificate; absent: the system's trust store. */
  readonly ca?: string;
  /** The admin token; absent for sign-in. */
  readonly token?: string;
  /** Give up on a request after this long (default 30 s). */
  readonly timeoutMs?: number;
}

/** A successful answer. */
export interface TaAnswer {
  readonly status: number;
  /** The parsed JSON body (undefined for an empty body). */
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

// OpenSSL's certificate verification codes and Node's own TLS codes: a TLS failure, not an unreachable server.
const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);

function transportError(e: Error & { code?: string }, server: string, hasCa: boolean): TaTransportError {
  const code = e.code ?? "";
  if (TLS_CODES.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) {
    const hint =
      code === "EPROTO" || code.startsWith("ERR_SSL_")
        ? " (is it an HTTPS server?)"
        : hasCa
          ? " (is the session's CA the one that signed the server's certificate?)"
          : " (give the server's CA with --ca)";
    return new TaTransportError("TACTL_TLS", `TLS with ${server} failed: ${e.message}${hint}`, { cause: e });
  }
  if (code === "ETIMEDOUT_TACTL") return new TaTransportError("TACTL_UNREACHABLE", `${server} did not answer: ${e.message}`, { cause: e });
  return new TaTransportError("TACTL_UNREACHABLE", `cannot reach ${server}: ${e.message}`, { cause: e });
}

function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * One request to attestd: `method path` with an optional JSON `body`. Resolves with a 2xx answer; rejects with a
 * {@link TaProblemError} for any other status, a {@link TaTransportError} when the server is out of reach.
 */
export function taRequest(endpoint: TaEndpoint, method: string, pathAndQuery: string, body?: unknown): Promise<TaAnswer> {
  const url = endpoint.server.replace(/\/+$/, "") + pathAndQuery;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: "application/json, application/problem+json" };
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(payload.length);
  }
  if (endpoint.token !== undefined) headers.authorization = `Bearer ${endpoint.token}`;
  const timeoutMs = endpoint.timeoutMs ?? 30_000;
  return new Promise<TaAnswer>((resolve, reject) => {
    const req = https.request(url, { method, headers, agent: false, ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => reject(transportError(e, endpoint.server, endpoint.ca !== undefined)));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString("utf8");
        const parsed = parseBody(text);
        if (status >= 200 && status < 300) {
          if (text !== "" && parsed === undefined) {
            reject(new TaTransportError("TACTL_PROTOCOL", `${endpoint.server} answered ${method} ${pathAndQuery} with ${status} but not JSON`));
            return;
          }
          resolve({ status, body: parsed, headers: res.headers });
          return;
        }
        const problem =
          typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
            ? (parsed as Record<string, unknown>)
            : { title: `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""}`, detail: text.slice(0, 200).trim() };
        reject(new TaProblemError(status, problem));
      });
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "ETIMEDOUT_TACTL" }));
    });
    req.on("error", (e) => reject(transportError(e, endpoint.server, endpoint.ca !== undefined)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** One server-sent event. */
export interface TaEvent {
  /** The `event:` field (default "message"). */
  readonly event: string;
  /** The `data:` lines, joined by newlines. */
  readonly data: string;
  /** The `id:` field, when given. */
  readonly id?: string;
}

/**
 * Parses a server-sent event stream (the WHATWG format): feed it text chunks as they arrive; it calls `onEvent`
 * for each complete event. Comments (`: keep-alive`) and fields it does not know are skipped.
 */
export function sseParser(onEvent: (e: TaEvent) => void): (chunk: string) => void {
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  return (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.search(/\r\n|\r|\n/)) !== -1) {
      // A "\r" that ends the chunk may be the first half of "\r\n": wait for the next chunk to tell.
      if (nl === buffer.length - 1 && buffer[nl] === "\r") break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (data.length > 0 || event !== "") onEvent({ event: event || "message", data: data.join("\n"), ...(id === undefined ? {} : { id }) });
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  };
}

/**
 * Follows a server-sent event stream of attestd (`GET path`, Bearer token). `onEvent` returns false to stop;
 * resolves when it did or the server ended the stream; rejects as {@link taRequest} does when the server refuses
 * or cannot be reached.
 */
export function taFollow(endpoint: TaEndpoint, pathAndQuery: string, onEvent: (e: TaEvent) => boolean): Promise<void> {
  const url = endpoint.server.replace(/\/+$/, "") + pathAndQuery;
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (endpoint.token !== undefined) headers.authorization = `Bearer ${endpoint.token}`;
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const req = https.request(url, { method: "GET", headers, agent: false, ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const parsed = parseBody(Buffer.concat(chunks).toString("utf8"));
          reject(new TaProblemError(status, typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : { title: `HTTP ${status}` }));
        });
        return;
      }
      res.setEncoding("utf8");
      const feed = sseParser((e) => {
        if (done) return;
        if (!onEvent(e)) {
          done = true;
          req.destroy();
          resolve();
        }
      });
      res.on("data", (chunk: string) => feed(chunk));
      res.on("end", () => {
        done = true;
        resolve();
      });
      res.on("error", (e) => {
        if (!done) reject(transportError(e, endpoint.server, endpoint.ca !== undefined));
      });
    });
    req.on("error", (e) => {
      if (!done) reject(transportError(e, endpoint.server, endpoint.ca !== undefined));
    });
    req.end();
  });
}
