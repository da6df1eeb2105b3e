/**
 * A loopback port nothing listens on: for a server to bind next (`--listen`), or for a client to find closed.
 * @module
 */
import { createServer } from "node:net";

/**
 * A TCP port on `host` that was free a moment ago (bound, then released). Another process may take it before the
 * caller binds it; where the server can be given port 0 and report its port, prefer that.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}
