/**
 * The KMIP client against a real KMIP server it did not come with (PyKMIP), plus the transport's failure
 * modes against loopback servers that misbehave on purpose: what is sent again after a failure and what is not,
 * aborting, and the pool. (The same against kmipd, behind a proxy that cuts a chosen operation, is in
 * apps/kmipd/src/kmip_client_test.ts: a lib's tests may not depend on an app.)
 */
import test from "ava";
import { createCipheriv } from "node:crypto";
import { once } from "node:events";
import { createServer as createTlsServer } from "node:tls";
import { item, KmipResultError, KmipTransportError } from "@tessera/kmip";
import { type PykmipServer, startPykmipServer } from "@tessera/pykmip-testing";
import { KmipClient } from "./client.ts";
import { KmipOutcomeUnknownError } from "./errors.ts";
import { misbehavingServer, tcpProxy } from "./_test_servers.ts";
import { freePort } from "@tessera/process-testing";

let py: PykmipServer;
let tls: { cert: string; key: string; ca: string };

test.before(async () => {
  py = await startPykmipServer({ loggingLevel: "ERROR" });
  tls = { cert: py.pki.clients.alice.certPem, key: py.pki.clients.alice.keyPem, ca: py.pki.ca.certPem };
});

test.after.always(async () => {
  await py?.stop();
});


test.serial("fails over to the next server when the first cannot be reached, and reuses pooled connections", async (t) => {
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: await freePort() },
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
  const a = await freePort();
  const b = await freePort();
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

function serverTls() {
  return { cert: py.pki.server.certPem, key: py.pki.server.keyPem, ca: py.pki.ca.certPem };
}

test.serial("a Create whose connection drops after it was written is outcome-unknown and is not sent to the next server", async (t) => {
  const dropper = await misbehavingServer(serverTls(), "drop");
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: dropper.port },
      { host: "127.0.0.1", port: py.port },
    ],
    tls,
    version: { major: 1, minor: 2 },
  });
  try {
    const name = `at-most-once-${Date.now()}`;
    const e = await t.throwsAsync(client.create({ algorithm: "AES", length: 128, name }), { instanceOf: KmipOutcomeUnknownError });
    t.is(e!.code, "KMIP_OUTCOME_UNKNOWN");
    t.deepEqual(e!.operations, ["Create"]);
    t.is(e!.server, `127.0.0.1:${dropper.port}`);
    t.regex(e!.message, new RegExp(`Create sent to 127\\.0\\.0\\.1:${dropper.port}: outcome unknown`));
    t.true(e!.cause instanceof KmipTransportError);
    t.deepEqual(dropper.requests, [["Create"]]);
    t.deepEqual(await client.locate({ name }), [], "the Create was not sent to the second server");
  } finally {
    client.close();
    await dropper.stop();
  }
});

test.serial("outcome-unknown keeps each server's failure: the unreachable first one and the one that dropped the Register", async (t) => {
  const dropper = await misbehavingServer(serverTls(), "drop");
  const closed = await freePort();
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: closed },
      { host: "127.0.0.1", port: dropper.port },
    ],
    tls,
  });
  try {
    const e = await t.throwsAsync(client.register({ objectType: "SecretData", material: new Uint8Array(8) }), { instanceOf: KmipOutcomeUnknownError });
    t.is(e!.errors.length, 2);
    t.regex(e!.errors[0].message, new RegExp(String(closed)));
    t.true(e!.cause instanceof AggregateError);
    t.deepEqual((e!.cause as AggregateError).errors, e!.errors);
    t.deepEqual(dropper.requests, [["Register"]]);
  } finally {
    client.close();
    await dropper.stop();
  }
});

test.serial("an idempotent Get (and a batch of only idempotent operations) is sent again on the next server", async (t) => {
  const dropper = await misbehavingServer(serverTls(), "drop");
  const direct = new KmipClient({ servers: [{ host: "127.0.0.1", port: py.port }], tls, version: { major: 1, minor: 2 } });
  const client = new KmipClient({
    servers: [
      { host: "127.0.0.1", port: dropper.port },
      { host: "127.0.0.1", port: py.port },
    ],
    tls,
    version: { major: 1, minor: 2 },
  });
  try {
    const id = await direct.create({ algorithm: "AES", length: 128 });
    t.is((await client.get(id)).material?.length, 16);
    const [a, b] = await client.batch([
      { operation: "Get", payload: [item("UniqueIdentifier", id)] },
      { operation: "GetAttributes", payload: [item("UniqueIdentifier", id)] },
    ]);
    t.false(a instanceof Error);
    t.false(b instanceof Error);
    t.deepEqual(dropper.requests, [["Get"], ["Get", "GetAttributes"]]);
    // A batch with one operation that is not idempotent is not.
    await t.throwsAsync(
      client.batch([
        { operation: "Get", payload: [item("UniqueIdentifier", id)] },
        { operation: "Activate", payload: [item("UniqueIdentifier", id)] },
      ]),
      { instanceOf: KmipOutcomeUnknownError },
    );
  } finally {
    client.close();
    direct.close();
    await dropper.stop();
  }
});

test.serial("an aborted signal rejects with its reason without connecting or sending", async (t) => {
  const silent = await misbehavingServer(serverTls(), "silent");
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: silent.port }], tls });
  try {
    const ac = new AbortController();
    ac.abort();
    const e = await t.throwsAsync(client.create({ algorithm: "AES", length: 128, signal: ac.signal }));
    t.is(e!.name, "AbortError");
    const reason = new Error("stop");
    await t.throwsAsync(client.get("x", { signal: AbortSignal.abort(reason) }), { is: reason });
    t.is(silent.connections, 0);
    t.deepEqual(silent.requests, []);
  } finally {
    client.close();
    await silent.stop();
  }
});

test.serial("aborting while the response is awaited closes that connection and rejects with the reason; the next call uses a new one", async (t) => {
  const silent = await misbehavingServer(serverTls(), "silent");
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: silent.port }], tls, timeoutMs: 60_000 });
  try {
    for (const [i, op] of ["Get", "Create"].entries()) {
      const ac = new AbortController();
      const call = op === "Get" ? client.get("x", { signal: ac.signal }) : client.create({ algorithm: "AES", length: 128, signal: ac.signal });
      while (silent.requests.length <= i) await new Promise((r) => setTimeout(r, 10));
      const closed = silent.closed();
      ac.abort();
      const e = await t.throwsAsync(call);
      t.is(e!.name, "AbortError");
      await closed;
      t.deepEqual(client.connections, { opened: i + 1, idle: 0 });
    }
    t.is(silent.connections, 2);
    t.deepEqual(silent.requests, [["Get"], ["Create"]]);
  } finally {
    client.close();
    await silent.stop();
  }
});

test.serial("the pool reuses one connection and replaces one the server closed while idle, even for a Create", async (t) => {
  const proxy = await tcpProxy({ host: "127.0.0.1", port: py.port });
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: proxy.port }], tls, version: { major: 1, minor: 2 } });
  try {
    for (let i = 0; i < 4; i++) await client.discoverVersions();
    t.is(proxy.connections, 1);
    t.deepEqual(client.connections, { opened: 1, idle: 1 });
    await proxy.closeAll();
    const name = `stale-${Date.now()}`;
    const id = await client.create({ algorithm: "AES", length: 128, name });
    t.is(proxy.connections, 2);
    t.deepEqual(await client.locate({ name }), [id]);
    t.deepEqual(client.connections, { opened: 2, idle: 1 });
  } finally {
    client.close();
    await proxy.stop();
  }
});

test.serial("a burst above the pool waits for its connections instead of opening more: 24 requests over 3 connections", async (t) => {
  const proxy = await tcpProxy({ host: "127.0.0.1", port: py.port });
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: proxy.port }], tls, version: { major: 1, minor: 2 }, poolSize: 3 });
  try {
    const answers = await Promise.all(Array.from({ length: 24 }, () => client.discoverVersions()));
    t.true(answers.every((a) => a.length > 0));
    t.is(proxy.connections, 3, "never more than the pool open at once, and none opened and closed per request");
    t.deepEqual(client.connections, { opened: 3, idle: 3 });
    // A connection the server closed is replaced for the request waiting on it.
    await proxy.closeAll();
    await Promise.all(Array.from({ length: 8 }, () => client.discoverVersions()));
    t.is(proxy.connections, 6);
    t.deepEqual(client.connections, { opened: 6, idle: 3 });
  } finally {
    client.close();
    await proxy.stop();
  }
});

test.serial("a request waiting for a busy pool: aborting it rejects with the reason without sending; closing the client fails it", async (t) => {
  const silent = await misbehavingServer(serverTls(), "silent");
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: silent.port }], tls, poolSize: 1, timeoutMs: 60_000 });
  try {
    const first = client.get("held");
    while (silent.requests.length < 1) await new Promise((r) => setTimeout(r, 10));
    const ac = new AbortController();
    const waiting = client.get("waiting", { signal: ac.signal });
    const reason = new Error("not any more");
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(reason);
    await t.throwsAsync(waiting, { is: reason });
    const second = client.get("after close");
    await new Promise((r) => setTimeout(r, 20));
    t.is(silent.connections, 1, "the waiting requests opened nothing");
    t.deepEqual(silent.requests, [["Get"]]);
    client.close();
    const e = await t.throwsAsync(second, { instanceOf: KmipTransportError });
    t.regex(e!.message, /closed/);
    first.catch(() => undefined);
  } finally {
    client.close();
    await silent.stop();
  }
});

test.serial("AES-GCM with AAD through PyKMIP's server (a strict parser: Cryptographic Parameters in the order of KMIP 1.4 §3.6)", async (t) => {
  const client = new KmipClient({ servers: [{ host: "127.0.0.1", port: py.port }], tls, version: { major: 1, minor: 4 } });
  try {
    const id = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt" });
    await client.activate(id);
    const key = (await client.get(id)).material!;
    const iv = new Uint8Array(12).fill(7);
    const aad = new TextEncoder().encode("tessera");
    const plain = new Uint8Array(32).fill(0x5a);
    const e = await client.encrypt(id, plain, { iv, aad });
    const gcm = createCipheriv("aes-256-gcm", key, iv);
    gcm.setAAD(aad);
    t.deepEqual(new Uint8Array(Buffer.concat([gcm.update(plain), gcm.final()])), e.data);
    t.deepEqual(new Uint8Array(gcm.getAuthTag()), e.tag);
    t.deepEqual(await client.decrypt(id, e.data, { iv, aad, tag: e.tag! }), plain);
    await t.throwsAsync(client.decrypt(id, e.data, { iv, aad: new TextEncoder().encode("other"), tag: e.tag! }), { instanceOf: KmipResultError });
  } finally {
    client.close();
  }
});
