/**
 * The round-trip floor of the KMIP benchmark: a TLS server, in its own process like the servers measured, that
 * answers each request with the response bytes recorded for it (from kmipd, before the run) and does no KMIP
 * work at all: no decoding, no store, no crypto beyond TLS. A server that, like kmipd and PyKMIP, sleeps in the
 * kernel between requests cannot answer the same client on the same machine faster, so the cells it gives bound
 * the ratios such servers can show.
 *
 * Started by kmip.ts with an IPC channel: it receives `{ cert, key, ca, table: [requestHex, responseHex][] }`,
 * listens on 127.0.0.1 with a port of the kernel's choosing and sends back `{ port }`.
 * @module
 */
import { createServer } from "node:tls";
import { ttlvMessageLength } from "@tessera/kmip";

interface Setup {
  cert: string;
  key: string;
  ca: string;
  table: [string, string][];
}

process.once("message", (setup: Setup) => {
  const answers = new Map(setup.table.map(([req, res]) => [req, Buffer.from(res, "hex")]));
  const server = createServer(
    { cert: setup.cert, key: setup.key, ca: setup.ca, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    (socket) => {
      socket.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        for (;;) {
          const need = ttlvMessageLength(buf);
          if (need < 0 || buf.length < need) return;
          const answer = answers.get(buf.subarray(0, need).toString("hex"));
          buf = buf.subarray(need);
          if (!answer) {
            socket.destroy();
            return;
          }
          socket.write(answer);
        }
      });
      socket.on("error", () => undefined);
    },
  );
  server.listen(0, "127.0.0.1", () => {
    const a = server.address();
    process.send!({ port: typeof a === "object" && a ? a.port : 0 });
  });
  process.once("disconnect", () => process.exit(0));
});
