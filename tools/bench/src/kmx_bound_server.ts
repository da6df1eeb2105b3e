/**
 * The least a key-release server can do for one unwrap, as a bound for the kmx suite: an HTTPS server, in its own
 * process like kmxd, with kmxd's TLS settings (libs/http's), that answers `POST …/unwrap` with exactly the three
 * things an unwrap cannot avoid and nothing else: it reads the JSON body, sends the KMIP Decrypt of the wrapped key
 * on a pooled connection to the key server (the same client and pool size kmxd uses), and answers the key as a JWE
 * to a binding key (`encryptToJwk`, as kmxd does). No token check, no audit row, no routing, no logging, no
 * validation beyond what the wrapped form's decoder does. A kmxd that does more cannot be faster on the same
 * machine, so the ratios this server shows against the floor bound the ratios any kmxd can show there.
 *
 * Started by kmx.ts with an IPC channel: it receives {@link Setup}, listens on 127.0.0.1 on a port of the kernel's
 * choosing and sends back `{ port }`; it exits when the channel closes.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { JWK } from "jose";
import { TLS12_CIPHERS } from "@tessera/http";
import { createProviderClient, decodeWrapped, wrapAad } from "@tessera/key-provider";
import { encryptToJwk } from "@tessera/tokens";

/** What kmx.ts sends: the server's TLS, the key server and its client TLS, the primary key, the binding key. */
export interface Setup {
  readonly cert: string;
  readonly key: string;
  readonly kmip: { readonly host: string; readonly port: number; readonly cert: string; readonly key: string; readonly ca: string };
  readonly keyId: string;
  readonly poolSize: number;
  readonly bindingKey: JWK;
}

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

process.once("message", (setup: Setup) => {
  const kmip = createProviderClient({
    servers: [{ host: setup.kmip.host, port: setup.kmip.port }],
    tls: { cert: setup.kmip.cert, key: setup.kmip.key, ca: setup.kmip.ca },
    poolSize: setup.poolSize,
  });
  const unwrap = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const { wrapped } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { wrapped: string };
    const w = decodeWrapped(wrapped);
    const key = await kmip.decrypt(setup.keyId, w.ct, { iv: w.iv, aad: wrapAad(w.provider, w.kv), tag: w.tag });
    answer(res, 200, JSON.stringify({ key: await encryptToJwk(key, setup.bindingKey) }));
  };
  const server = createServer(
    { cert: setup.cert, key: setup.key, minVersion: "TLSv1.2", ciphers: TLS12_CIPHERS, honorCipherOrder: true, keepAlive: true },
    (req, res) => {
      unwrap(req, res).catch((e: unknown) => answer(res, 500, JSON.stringify({ detail: String(e) })));
    },
  );
  server.keepAliveTimeout = 30_000;
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.once("disconnect", () => {
    kmip.close();
    server.closeAllConnections();
    server.close();
  });
});
