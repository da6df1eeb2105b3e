/**
 * The HTTPS plumbing of the bound servers (attest_bound_server.ts, kmx_bound_server.ts): Node's https server with
 * libs/http's TLS settings (as attestd and kmxd serve), keep-alive, and nothing else — no framework, no logging. The
 * child's side of _child_server.ts: it answers its port over the IPC channel and closes when the channel does.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { TLS12_CIPHERS } from "@tessera/http";

/** Answers `body` (JSON text) with `status`. */
export function answerJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The request's body as text. */
export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Serves `handle` on 127.0.0.1 (a port of the kernel's choosing, sent to the parent as `{ port }`); a handler that
 * throws is answered 500 with the error. When the parent closes the channel: `onClose`, then the server closes.
 */
export function serveBound(
  tls: { readonly cert: string; readonly key: string },
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onClose?: () => void,
): void {
  const server = createServer(
    { cert: tls.cert, key: tls.key, minVersion: "TLSv1.2", ciphers: TLS12_CIPHERS, honorCipherOrder: true, keepAlive: true },
    (req, res) => {
      handle(req, res).catch((e: unknown) => answerJson(res, 500, JSON.stringify({ detail: String(e) })));
    },
  );
  server.keepAliveTimeout = 30_000;
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.once("disconnect", () => {
    onClose?.();
    server.closeAllConnections();
    server.close();
  });
}
