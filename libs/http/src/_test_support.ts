/**
 * Test helpers: TLS material from @tessera/service, a logger whose lines tests can read, HTTPS requests.
 * @module
 */
import { ensureLocalTls, readPem } from "@tessera/service";
import { mkdtemp } from "node:fs/promises";
import { Agent, request } from "node:https";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger, type Logger } from "./logger.ts";

/** A local CA and a server certificate for 127.0.0.1/localhost. */
export async function testTls(): Promise<{ dir: string; ca: string; cert: string; key: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tessera-http-"));
  const g = await ensureLocalTls(dir, { service: "http-test", hosts: ["127.0.0.1"] });
  return { dir, ca: await readPem(g.caCertFile, "CA"), cert: await readPem(g.serverCertFile, "cert"), key: await readPem(g.serverKeyFile, "key") };
}

/** A logger writing JSON lines into `lines` (and `text`, everything as written). */
export function captureLogger(name = "test"): { logger: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = chunk.toString("utf8");
      raw.push(s);
      for (const l of s.split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ name, level: "debug", destination: stream }), lines, text: () => raw.join("") };
}

/** The answer of {@link httpsRequest}. */
export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  localPort: number;
}

/**
 * One HTTPS request. `body` is sent with Content-Length unless `chunked`, which writes it in 16 KiB chunks
 * (Transfer-Encoding: chunked).
 */
export function httpsRequest(
  url: string,
  opts: { ca: string; method?: string; headers?: Record<string, string>; body?: Uint8Array | string; chunked?: boolean; agent?: Agent },
): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : typeof opts.body === "string" ? Buffer.from(opts.body) : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    if (body && !opts.chunked) headers["content-length"] = String(body.length);
    const req = request(url, { method: opts.method ?? "GET", ca: opts.ca, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), localPort: req.socket?.localPort ?? 0 }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body && opts.chunked) {
      for (let i = 0; i < body.length; i += 16384) req.write(body.subarray(i, i + 16384));
    } else if (body) req.write(body);
    req.end();
  });
}
