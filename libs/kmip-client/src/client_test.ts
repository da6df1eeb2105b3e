/**
 * The KMIP client against a real KMIP server it did not come with (PyKMIP), plus the transport's failure
 * modes against loopback servers that misbehave on purpose.
 */
import test from "ava";
import { once } from "node:events";
import { createServer as createTcpServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { item, KmipResultError, KmipTransportError } from "@tessera/kmip";
import { type PykmipServer, startPykmipServer } from "@tessera/pykmip-testing";
import { KmipClient } from "./client.ts";

let py: PykmipServer;
let tls: { cert: string; key: string; ca: string };

test.before(async () => {
  py = await startPykmipServer({ loggingLevel: "ERROR" });
  tls = { cert: py.pki.clients.alice.certPem, key: py.pki.clients.alice.keyPem, ca: py.pki.ca.certPem };
});

test.after.always(async () => {
  await py?.stop();
});

async function closedPort(): Promise<number> {
  const s = createTcpServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.serial("fails over to the next server when the first cannot be reached, and reuses pooled connections", async (t) => {
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: await closedPort() },
      { host: "127.0.0.1", port: py.port },
    ],
    tls,
    version: { major: 1, minor: 2 },
  });
  try {
    const id = await client.create({ algorithm: "AES", length: 128, name: "failover" });
    await client.activate(id);
    t.is((await client.get(id)).material?.length, 16);
    t.deepEqual(await client.locate({ name: "failover" }), [id]);
  } finally {
    client.close();
  }
});

test.serial("a batch returns each item's payload or its KmipResultError, in order", async (t) => {
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: py.port }], tls, version: { major: 1, minor: 2 } });
  try {
    const id = await client.create({ algorithm: "AES", length: 256 });
    const r = await client.batch([
      { operation: "Get", payload: [item("UniqueIdentifier", id)] },
      { operation: "Get", payload: [item("UniqueIdentifier", "no-such-object")] },
    ]);
    t.false(r[0] instanceof Error);
    t.true(r[1] instanceof KmipResultError);
    await t.throwsAsync(client.get("no-such-object"), { instanceOf: KmipResultError });
  } finally {
    client.close();
  }
});

test.serial("no server answering is a KmipTransportError naming every attempt", async (t) => {
  const a = await closedPort();
  const b = await closedPort();
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: a },
      { host: "127.0.0.1", port: b },
    ],
    tls,
    connectTimeoutMs: 2000,
  });
  const e = await t.throwsAsync(client.discoverVersions(), { instanceOf: KmipTransportError });
  t.regex(e!.message, new RegExp(`${a}.*${b}`));
});

test.serial("a server that accepts TLS but never answers times out", async (t) => {
  const silent = createTlsServer({ cert: py.pki.server.certPem, key: py.pki.server.keyPem, ca: py.pki.ca.certPem, requestCert: true }, () => {});
  silent.listen(0, "127.0.0.1");
  await once(silent, "listening");
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: (silent.address() as { port: number }).port }], tls, timeoutMs: 500 });
  try {
    const e = await t.throwsAsync(client.discoverVersions(), { instanceOf: KmipTransportError });
    t.regex(e!.message, /no response within 500 ms/);
  } finally {
    client.close();
    silent.close();
  }
});
