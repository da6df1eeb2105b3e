/**
 * The client of a host agent's local API over its Unix socket (`--agent SOCKET`: kmxa's `D/kmxa.sock`, 0600, plain
 * HTTP — the file's mode decides who may talk to it). Errors are those of `ta_client.ts`, so that the CLI reports
 * them the same way: the agent's RFC 9457 problem is a {@link TaProblemError} (exit 1); a socket that is not there,
 * not ours to open, or not answering is a {@link TaTransportError} naming it (exit 3).
 * @module
 */
import { request } from "node:http";
import { TaProblemError, TaTransportError } from "./ta_client.ts";

/** Largest answer read from the agent (an identity with its event log is well under it). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** Options of {@link agentRequest}. */
export interface AgentRequestOptions {
  /** Give up after this long, ms (default 60 s: importing an identity waits for an attestation). */
  readonly timeoutMs?: number;
}

function hint(code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return " (no such socket: is kmxa running, and is this its --socket?)";
    case "EACCES":
      return " (permission denied: the socket is 0600, run as the agent's user or root)";
    case "ECONNREFUSED":
      return " (nothing listens on it: kmxa is not running)";
    case "ENOTSOCK":
      return " (not a socket)";
    default:
      return "";
  }
}

/**
 * One JSON request to the agent at `socketPath`. Resolves with the parsed body of a 2xx answer (undefined when
 * empty); rejects with a {@link TaProblemError} for any other status, a {@link TaTransportError} otherwise.
 */
export function agentRequest(socketPath: string, method: string, pathAndQuery: string, body?: unknown, options: AgentRequestOptions = {}): Promise<unknown> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { host: "kmxa", accept: "application/json, application/problem+json" };
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(payload.length);
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  const where = `the agent at ${socketPath}`;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: pathAndQuery, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (d: Buffer) => {
        size += d.length;
        if (size > MAX_ANSWER_BYTES) {
          res.destroy(new Error(`its answer is over ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(d);
      });
      res.on("error", (e) => reject(new TaTransportError("TACTL_PROTOCOL", `${where}: ${e.message}`, { cause: e })));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        try {
          parsed = text === "" ? undefined : JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          if (text !== "" && parsed === undefined) {
            reject(new TaTransportError("TACTL_PROTOCOL", `${where} answered ${method} ${pathAndQuery} with ${status} but not JSON: is it kmxa?`));
            return;
          }
          resolve(parsed);
          return;
        }
        const problem =
          typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
            ? (parsed as Record<string, unknown>)
            : { title: `HTTP ${status}`, detail: `${where}: ${text.slice(0, 200).trim()}` };
        reject(new TaProblemError(status, problem));
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "ETIMEDOUT_TACTL" })));
    req.on("error", (e: NodeJS.ErrnoException) =>
      reject(new TaTransportError("TACTL_UNREACHABLE", `cannot reach ${where}: ${e.message}${hint(e.code)}`, { cause: e })),
    );
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
