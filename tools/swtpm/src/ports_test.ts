import test from "ava";
import net from "node:net";
import { findFreePortPair } from "./_ports.ts";

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => resolve(server));
  });
}

test("findFreePortPair finds a port P where P and P+1 can both be bound", async (t) => {
  const port = await findFreePortPair();
  t.true(Number.isInteger(port) && port > 0 && port < 65535);
  const servers = await Promise.all([listen(port), listen(port + 1)]);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  t.pass();
});
