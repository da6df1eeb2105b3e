/**
 * For the tests: a key server without AES-GCM, made from a real one. A TLS front (with the real server's
 * certificate) passes every request on to the real server over its own client connection, except an Encrypt or
 * Decrypt in GCM mode, which it refuses as a server without GCM would.
 * @module
 */
import { once } from "node:events";
import { createServer, type TLSSocket } from "node:tls";
import { child, decodeRequest, decodeTtlv, encodeResponse, encodeTtlv, enumName, enumText, enumValue, ttlvMessageLength } from "@tessera/kmip";
import { type ClientTls, KmipConnection } from "@tessera/kmip-client";

/** A running front. */
export interface GcmRefusingServer {
  port: number;
  /** GCM requests refused so far. */
  refused: number;
  stop(): Promise<void>;
}

/**
 * Starts the front on a loopback port, serving with `serverTls` and passing requests on to `upstream` with
 * `clientTls`.
 */
export async function gcmRefusingServer(
  serverTls: { cert: string; key: string; ca: string },
  upstream: { host: string; port: number },
  clientTls: ClientTls,
): Promise<GcmRefusingServer> {
  const sockets = new Set<TLSSocket>();
  const server = createServer({ ...serverTls, requestCert: true, rejectUnauthorized: true }, (socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    const up = KmipConnection.open(upstream, clientTls);
    up.catch(() => socket.destroy());
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let n = ttlvMessageLength(buf); n > 0 && buf.length >= n; n = ttlvMessageLength(buf)) {
        const msg = new Uint8Array(buf.subarray(0, n));
        buf = buf.subarray(n);
        chain = chain
          .then(async () => {
            const refused = refusal(msg);
            if (refused) front.refused++;
            socket.write(refused ?? (await (await up).send(msg)));
          })
          .catch(() => {
            socket.destroy();
          });
      }
    });
    socket.on(
      "close",
      () =>
        void up.then(
          (c) => c.close(),
          () => undefined,
        ),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const front: GcmRefusingServer = {
    port: (server.address() as { port: number }).port,
    refused: 0,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return front;
}

/** The refusal of a GCM Encrypt/Decrypt request, or undefined for any other request. */
function refusal(msg: Uint8Array): Uint8Array | undefined {
  const req = decodeRequest(decodeTtlv(msg));
  const gcm = req.items.some((i) => {
    const op = enumName("Operation", i.operation);
    const mode = child(child(i.payload, "CryptographicParameters"), "BlockCipherMode");
    return (op === "Encrypt" || op === "Decrypt") && mode !== undefined && enumText(mode) === "GCM";
  });
  if (!gcm) return undefined;
  return encodeTtlv(
    encodeResponse({
      header: { protocolVersion: req.header.protocolVersion, timeStamp: BigInt(Math.floor(Date.now() / 1000)), batchCount: req.items.length },
      items: req.items.map((i) => ({
        operation: i.operation,
        uniqueBatchItemId: i.uniqueBatchItemId,
        resultStatus: 1,
        resultReason: enumValue("ResultReason", "InvalidField"),
        resultMessage: "this server has no AES-GCM",
      })),
    }),
  );
}
