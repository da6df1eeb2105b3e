import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseTcti, SwtpmTransport } from "@tessera/tss";
import { acceptsConnections, ctrlAddress, dataAddress, swtpmTransport, tctiOf, type Endpoint } from "./_endpoint.ts";

const TCP: Endpoint = { kind: "tcp", host: "127.0.0.1", port: 40000 };
const UNIX: Endpoint = { kind: "unix", path: "/tmp/x/swtpm.sock" };

test("addresses and TCTI strings agree with @tessera/tss's TCTI parser", (t) => {
  t.deepEqual(dataAddress(TCP), { host: "127.0.0.1", port: 40000 });
  t.deepEqual(ctrlAddress(TCP), { host: "127.0.0.1", port: 40001 });
  t.is(tctiOf(TCP), "swtpm:host=127.0.0.1,port=40000");
  t.deepEqual(parseTcti(tctiOf(TCP)), { kind: "swtpm-tcp", host: "127.0.0.1", port: 40000, ctrlPort: 40001 });
  t.deepEqual(dataAddress(UNIX), { path: "/tmp/x/swtpm.sock" });
  t.deepEqual(ctrlAddress(UNIX), { path: "/tmp/x/swtpm.sock.ctrl" });
  t.deepEqual(parseTcti(tctiOf(UNIX)), { kind: "swtpm-unix", path: "/tmp/x/swtpm.sock", ctrlPath: "/tmp/x/swtpm.sock.ctrl" });
  const transport = swtpmTransport(UNIX);
  t.true(transport instanceof SwtpmTransport);
  t.is(transport.description, "swtpm:path=/tmp/x/swtpm.sock");
});

test("acceptsConnections tells a listening socket from a missing or refusing one", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tessera-endpoint-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sock = path.join(dir, "s.sock");
  t.false(await acceptsConnections({ kind: "unix", path: sock }, 1000));
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.true(await acceptsConnections({ kind: "unix", path: sock }, 1000));
  const address = await new Promise<net.AddressInfo>((resolve) => {
    const tcp = net.createServer((c) => c.destroy());
    tcp.listen({ host: "127.0.0.1", port: 0 }, () => {
      const a = tcp.address() as net.AddressInfo;
      tcp.close(() => resolve(a));
    });
  });
  t.false(await acceptsConnections({ kind: "tcp", host: "127.0.0.1", port: address.port }, 1000));
  await new Promise((resolve) => server.close(resolve));
});
