/**
 * @tessera/kmip-client against kmipd: a request that is not idempotent is sent at most once, an idempotent one is
 * sent again, and the pool reuses and replaces connections. A TLS proxy in front of kmipd reads each request's
 * operations and, for the ones it is told to cut, forwards the request (so kmipd applies it), waits for kmipd's
 * response and then closes the client's connection instead of forwarding it (or holds the response back).
 *
 * These tests live here rather than in libs/kmip-client because a lib's tests may not depend on an app
 * (module-boundaries rule); the client's own tests there use PyKMIP and loopback servers.
 */
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import test from "ava";
import { decodeRequest, decodeTtlv, enumName, ttlvMessageLength } from "@tessera/kmip";
import { KmipClient, KmipOutcomeUnknownError } from "@tessera/kmip-client";
import { freePort, kmipdForTests } from "./_test_support.ts";

const k = kmipdForTests();

/** A TLS proxy to kmipd that cuts the connection after kmipd answered a chosen operation. */
interface CuttingProxy {
  port: number;
  /** Client connections accepted so far. */
  connections: number;
  /** The operations of each request it read, in order. */
  seen: string[][];
  /** Operation → how many more of its requests to cut. */
  cut: Map<string, number>;
  /** Operations whose answers it keeps instead of forwarding, leaving the connection open. */
  hold: Set<string>;
  /** Closes every open connection (both sides), as a server closing idle connections does. */
  closeAll(): Promise<void>;
  stop(): Promise<void>;
}

/** Splits `buf` into the complete TTLV messages at its start and the rest. */
function frames(buf: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  for (let n = ttlvMessageLength(buf); n > 0 && buf.length >= n; n = ttlvMessageLength(buf)) {
    messages.push(buf.subarray(0, n));
    buf = buf.subarray(n);
  }
  return { messages, rest: buf };
}

async function cuttingProxy(cut: Record<string, number> = {}): Promise<CuttingProxy> {
  const tlsDir = path.join(k.dataDir, "tls");
  const pairs = new Set<TLSSocket[]>();
  const closeAll = async () => {
    const open = [...pairs].flat().filter((s) => !s.destroyed || !s.closed);
    await Promise.all(open.map((s) => (s.closed ? undefined : (s.destroy(), once(s, "close")))));
  };
  const server = createServer(
    {
      cert: await readFile(path.join(tlsDir, "server.pem"), "utf8"),
      key: await readFile(path.join(tlsDir, "server-key.pem"), "utf8"),
      ca: k.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (down) => {
      p.connections++;
      const up = connect({ host: k.host, port: k.port, cert: k.alice.cert, key: k.alice.key, ca: k.alice.ca });
      const pair = [down, up];
      pairs.add(pair);
      for (const s of pair) {
        s.on("error", () => {});
        s.on("close", () => {
          pairs.delete(pair);
          down.destroy();
          up.destroy();
        });
      }
      // One action per request forwarded and not yet answered: forward kmipd's answer, cut the connection
      // instead, or hold the answer back.
      const actions: ("pass" | "cut" | "hold")[] = [];
      let req: Buffer = Buffer.alloc(0);
      let res: Buffer = Buffer.alloc(0);
      down.on("data", (chunk: Buffer) => {
        const f = frames(Buffer.concat([req, chunk]));
        req = f.rest;
        for (const m of f.messages) {
          const ops = decodeRequest(decodeTtlv(m)).items.map((i) => enumName("Operation", i.operation));
          p.seen.push(ops);
          const op = ops.find((o) => (p.cut.get(o) ?? 0) > 0);
          if (op) p.cut.set(op, p.cut.get(op)! - 1);
          actions.push(op !== undefined ? "cut" : ops.some((o) => p.hold.has(o)) ? "hold" : "pass");
          up.write(m);
        }
      });
      up.on("data", (chunk: Buffer) => {
        const f = frames(Buffer.concat([res, chunk]));
        res = f.rest;
        for (const m of f.messages) {
          const action = actions.shift();
          if (action === "cut") {
            down.destroy();
            return;
          }
          if (action === "pass") down.write(m);
        }
      });
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const p: CuttingProxy = {
    port: (server.address() as { port: number }).port,
    connections: 0,
    seen: [],
    cut: new Map(Object.entries(cut)),
    hold: new Set(),
    closeAll,
    stop: async () => {
      await closeAll();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return p;
}

const uniqueName = (what: string) => `${what}-${process.hrtime.bigint()}`;

test.serial("a Create cut after kmipd applied it is outcome-unknown and not sent to the second server: one object", async (t) => {
  const proxy = await cuttingProxy({ Create: Infinity });
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: proxy.port },
      { host: k.host, port: k.port },
    ],
    tls: k.alice,
  });
  try {
    const name = uniqueName("cut-create");
    const e = await t.throwsAsync(client.create({ algorithm: "AES", length: 256, name }), { instanceOf: KmipOutcomeUnknownError });
    t.is(e!.code, "KMIP_OUTCOME_UNKNOWN");
    t.is(e!.server, `127.0.0.1:${proxy.port}`);
    t.regex(e!.message, /Create sent to 127\.0\.0\.1:\d+: outcome unknown/);
    t.deepEqual(proxy.seen, [["Create"]]);
    t.is((await k.client().locate({ name })).length, 1, "kmipd holds exactly one object of that name");
  } finally {
    client.close();
    await proxy.stop();
  }
});

test.serial("a Get cut after it was sent is sent again: on a fresh connection after a pooled one, on the next server after a fresh one", async (t) => {
  const id = await k.client().create({ algorithm: "AES", length: 256 });
  const proxy = await cuttingProxy({ Get: 1 });
  const alone = new KmipClient({ servers: [{ host: "127.0.0.1", port: proxy.port }], tls: k.alice });
  const two = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: proxy.port },
      { host: k.host, port: k.port },
    ],
    tls: k.alice,
  });
  try {
    await alone.discoverVersions();
    t.is((await alone.get(id)).material?.length, 32, "the pooled connection was cut; a fresh one to the same server answered");
    t.is(proxy.connections, 2);
    proxy.cut.set("Get", Infinity);
    t.is((await two.get(id)).material?.length, 32, "the proxy cut it; kmipd itself answered");
    t.deepEqual(proxy.seen, [["DiscoverVersions"], ["Get"], ["Get"], ["Get"]]);
  } finally {
    alone.close();
    two.close();
    await proxy.stop();
  }
});

test.serial("a Create fails over to the second server when the first refuses connections", async (t) => {
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: await freePort() },
      { host: k.host, port: k.port },
    ],
    tls: k.alice,
  });
  try {
    const name = uniqueName("failover-create");
    const id = await client.create({ algorithm: "AES", length: 128, name });
    t.deepEqual(await k.client().locate({ name }), [id]);
  } finally {
    client.close();
  }
});

test.serial("the pool sends sequential calls on one connection and replaces one closed while idle, a Create included", async (t) => {
  const proxy = await cuttingProxy();
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: proxy.port }], tls: k.alice });
  try {
    const first = await client.create({ algorithm: "AES", length: 256, name: uniqueName("pool") });
    await client.activate(first);
    await client.get(first);
    await client.getAttributes(first);
    await client.query();
    t.is(proxy.connections, 1);
    t.deepEqual(client.connections, { opened: 1, idle: 1 });
    await proxy.closeAll();
    const name = uniqueName("after-idle-close");
    const id = await client.create({ algorithm: "AES", length: 256, name });
    t.is(proxy.connections, 2);
    t.deepEqual(client.connections, { opened: 2, idle: 1 });
    t.deepEqual(await k.client().locate({ name }), [id], "created exactly once");
  } finally {
    client.close();
    await proxy.stop();
  }
});

test.serial("aborting a Create while its answer is held back closes that connection and rejects with the reason", async (t) => {
  const proxy = await cuttingProxy();
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: proxy.port }], tls: k.alice });
  try {
    await client.query();
    const ac = new AbortController();
    const reason = new Error("caller gave up");
    proxy.hold.add("Create");
    const call = client.create({ algorithm: "AES", length: 256, signal: ac.signal });
    while (proxy.seen.length < 2) await new Promise((r) => setImmediate(r));
    ac.abort(reason);
    await t.throwsAsync(call, { is: reason });
    t.deepEqual(client.connections, { opened: 1, idle: 0 });
    await client.query();
    t.is(proxy.connections, 2);
  } finally {
    client.close();
    await proxy.stop();
  }
});
