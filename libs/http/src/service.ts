/**
 * The Hono application every Tessera service starts from: request ids, a logger per request, a body
 * limit enforced before any handler reads the body, and every error answered as an RFC 9457 problem.
 * @module
 */
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { describeZodError } from "./_zod.ts";
import { ProblemError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { problemCodeForStatus, problemResponse } from "./problem.ts";
import type { Principal } from "./auth.ts";

/** The Hono environment of a service: what `c.get(…)` returns. */
export interface ServiceEnv {
  Variables: {
    /** The request's logger (a child of the service's, with `requestId`). */
    log: Logger;
    /** The request id (the client's `x-request-id` when well-formed, else a new UUID); echoed in the response. */
    requestId: string;
    /** The authenticated caller, set by {@link bearerAuth}. */
    principal: Principal;
  };
}

/** Options of {@link createService}. */
export interface CreateServiceOptions {
  /** The service's name (for logs). */
  readonly name: string;
  /** The service's logger; each request gets a child. */
  readonly logger: Logger;
  /** Largest request body in bytes (default 1 MiB). */
  readonly bodyLimit?: number;
}

/** The default request body limit: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function withHeader(res: Response, name: string, value: string): Response {
  try {
    res.headers.set(name, value);
    return res;
  } catch {
    // A Response from fetch() has immutable headers: copy it.
    const copy = new Response(res.body, res);
    copy.headers.set(name, value);
    return copy;
  }
}

/**
 * A Hono app with the service plumbing. Routes are added to it as usual; handlers read bodies with
 * {@link readJson} and refuse requests by throwing {@link ProblemError}.
 *
 * - every response carries `x-request-id`; `c.get("log")` is the request's logger; one `request` line is
 *   logged per request (method, path, status, ms).
 * - a body over the limit is refused with 413 `body-too-large` before the handler runs: by Content-Length
 *   when it is sent, else counted while it streams (chunked), the whole body being read before the handler.
 * - errors: {@link ProblemError} as it is; a ZodError → 400 `bad-request` naming the field; Hono's
 *   HTTPException → its status; anything else → 500 `internal` (logged with its stack; the client sees
 *   only the request id). Unknown routes → 404 `not-found`; a known path with another method → 405
 *   `method-not-allowed` with `Allow`.
 *
 * @example
 * ```ts
 * const app = createService({ name: "attestd", logger });
 * app.post("/api/v1/things", async (c) => c.json(await store.add(await readJson(c, Thing)), 201));
 * ```
 */
export function createService(options: CreateServiceOptions): Hono<ServiceEnv> {
  const app = new Hono<ServiceEnv>();
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;

  app.use(async (c, next) => {
    const given = c.req.header("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    const log = options.logger.child({ requestId });
    c.set("requestId", requestId);
    c.set("log", log);
    const start = performance.now();
    await next();
    // Assigned only when it is another Response: Hono's setter copies even the same one (through its body), which
    // turned @hono/node-server's cached response (status, string body, headers written at once) into a web Response
    // written through its stream.
    const res = withHeader(c.res, "x-request-id", requestId);
    if (res !== c.res) c.res = res;
    log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - start) }, "request");
  });

  const tooLarge = (): Response => problemResponse({ code: "body-too-large", status: 413, detail: `the request body exceeds ${limit} bytes` });
  // A chunked body is counted while it streams (Hono's limit, over the web Request's body stream).
  const streamingLimit = bodyLimit({
    maxSize: limit,
    // The rest of an oversized body is drained (or the connection cut) by @hono/node-server after the answer.
    onError: tooLarge,
  });
  app.use(async (c, next) => {
    // A body of a stated length (HTTP/1.1 framing holds it to that length) is checked by the header alone and not
    // touched here: the handler's readJson then reads it straight from the socket (@hono/node-server's direct read),
    // instead of through a web Request and its stream, which cost kmxd and attestd 10–15% of their CPU per request.
    // A request with neither Content-Length nor Transfer-Encoding has no body. (Without a Node request under it —
    // app.request() in tests — a body has no such headers: the streaming limit then.)
    const fromSocket = (c.env as { incoming?: unknown } | undefined)?.incoming !== undefined;
    if (fromSocket && c.req.header("transfer-encoding") === undefined) {
      const length = c.req.header("content-length");
      if (length !== undefined && !(/^\d+$/.test(length) && Number(length) <= limit)) return tooLarge();
      await next();
      return;
    }
    return streamingLimit(c, next);
  });

  app.onError((err, c) => {
    if (err instanceof ProblemError) {
      return problemResponse({ code: err.code, status: err.status, detail: err.detail, ...(err.extra ? { extra: err.extra } : {}) });
    }
    if (err instanceof z.ZodError) {
      const { detail, errors } = describeZodError(err, "bad");
      return problemResponse({ code: "bad-request", status: 400, detail, extra: { errors } });
    }
    if (err instanceof HTTPException && err.status < 500) {
      return problemResponse({ code: problemCodeForStatus(err.status), status: err.status, detail: err.message || "refused" });
    }
    c.get("log").error({ err }, "unexpected error");
    return problemResponse({
      code: "internal",
      status: 500,
      detail: `internal error in ${options.name}; the service's log has it under request id ${c.get("requestId")}`,
    });
  });

  app.notFound((c) => {
    // A path that has routes for other methods is 405 with Allow, not 404. Middleware (method ALL) do not count.
    const allow = METHODS.filter((m) => m !== c.req.method && app.router.match(m, c.req.path)[0].some(([[, route]]) => route.method !== "ALL"));
    if (allow.length > 0) {
      if (allow.includes("GET")) allow.push("HEAD");
      return problemResponse({
        code: "method-not-allowed",
        status: 405,
        detail: `${c.req.method} is not allowed on ${c.req.path} (allowed: ${allow.join(", ")})`,
        headers: { allow: allow.join(", ") },
      });
    }
    return problemResponse({ code: "not-found", status: 404, detail: `no route for ${c.req.method} ${c.req.path}` });
  });
  return app;
}
