/**
 * Server-sent events with keep-alive comments.
 * @module
 */
import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";

/** Options of {@link sseStream}. */
export interface SseStreamOptions {
  /** Interval of `: keep-alive` comments, so proxies and clients do not time out an idle stream (default 15000 ms). */
  readonly keepAliveMs?: number;
}

/**
 * Hono's `streamSSE` plus a keep-alive comment every 15 s while `run` is going. `run` should return when
 * `stream.aborted` (the client left) or when it has nothing more to send.
 *
 * @example
 * ```ts
 * app.get("/api/v1/events", (c) => sseStream(c, async (s) => {
 *   for await (const e of events(s)) await s.writeSSE({ event: e.type, data: JSON.stringify(e) });
 * }));
 * ```
 */
export function sseStream(c: Context, run: (stream: SSEStreamingApi) => Promise<void>, options: SseStreamOptions = {}): Response {
  const every = options.keepAliveMs ?? 15_000;
  return streamSSE(c, async (stream) => {
    const timer = setInterval(() => {
      if (!stream.aborted && !stream.closed) void stream.write(": keep-alive\n\n").catch(() => {});
    }, every);
    try {
      await run(stream);
    } finally {
      clearInterval(timer);
    }
  });
}
