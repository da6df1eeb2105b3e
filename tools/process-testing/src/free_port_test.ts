import test from "ava";
import { connect, createServer } from "node:net";
import { freePort } from "./free_port.ts";

test("a free port can be bound, and nothing answers on it before", async (t) => {
  const port = await freePort();
  t.true(port > 0 && port < 65536);
  const refused = await new Promise<string>((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => (c.destroy(), resolve("connected")));
    c.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
  t.is(refused, "ECONNREFUSED");
  const s = createServer();
  await new Promise<void>((resolve, reject) => (s.once("error", reject), s.listen(port, "127.0.0.1", resolve)));
  await new Promise<void>((resolve) => s.close(() => resolve()));
});
