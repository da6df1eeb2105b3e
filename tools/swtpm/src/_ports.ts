/**
 * Free loopback TCP ports for swtpm, which listens on a data port P and its control port P+1.
 * @module
 */
import net from "node:net";
import { SwtpmError } from "./errors.ts";

/** Binds 127.0.0.1:port (0 = any) exclusively, and resolves with the bound port after closing it again, or 0 when it cannot bind. */
function bindOnce(port: number): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(0));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * An ephemeral loopback port P such that P and P+1 can be bound right now. Another process may still
 * take them before swtpm does: the launcher retries on SWTPM_ADDRESS_IN_USE.
 *
 * @throws SwtpmError SWTPM_NO_FREE_PORTS after 64 tries
 */
export async function findFreePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const port = await bindOnce(0);
    if (port > 0 && port < 65535 && (await bindOnce(port + 1)) === port + 1) return port;
  }
  throw new SwtpmError("SWTPM_NO_FREE_PORTS", "Could not find two consecutive free loopback TCP ports");
}
