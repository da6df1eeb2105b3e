import test from "ava";
import { ensureLocalTls, readPem } from "@tessera/service";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:https";
import os from "node:os";
import path from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { z } from "zod";
import { readJson } from "./read_json.ts";
import { serveHttps, serveHttpsFirst, type HttpsService } from "./serve_https.ts";
import { createService } from "./service.ts";
import { captureLogger, httpsRequest, testTls } from "./_test_support.ts";

const MiB = 1024 * 1024;
const jsonOfSize = (n: number) => `{"pad":"${"x".repeat(n - 10)}"}`;

async function start(t: { teardown(fn: () => Promise<void>): void }) {
  const tls = await testTls();
  const app = createService({ name: "t", logger: captureLogger().logger });
  const calls = { handler: 0 };
  app.get("/hello", (c) => c.json({ hello: "world" }));
  app.post("/echo", async (c) => {
    calls.handler++;
    const b = await readJson(c, z.object({ pad: z.string() }));
    return c.json({ length: b.pad.length });
  });
  const s: HttpsService = await serveHttps(app.fetch, { host: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  t.teardown(async () => {
    await s.close();
    await rm(tls.dir, { recursive: true, force: true });
  });
  return { s, tls, calls };
}

function handshake(port: number, ca: string, opts: { maxVersion?: "TLSv1.2" | "TLSv1.3"; ciphers?: string }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port, ca, servername: "localhost", ...opts }, () => resolve(sock));
    sock.on("error", reject);
  });
}

test("serveHttps: a real TLS 1.3 request verified with the CA from ensureLocalTls", async (t) => {
  const { s, tls } = await start(t);
  t.regex(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.true(s.port > 0);
  const r = await httpsRequest(`${s.url}/hello`, { ca: tls.ca });
  t.is(r.status, 200);
  t.deepEqual(JSON.parse(r.body), { hello: "world" });
  const sock = await handshake(s.port, tls.ca, {});
  t.is(sock.getProtocol(), "TLSv1.3");
  t.true(sock.authorized);
  sock.destroy();
  // Without the CA, the client refuses the server.
  await t.throwsAsync(httpsRequest(`${s.url}/hello`, { ca: "" }));
});

test("serveHttps: TLS 1.2 with a CBC suite is refused; TLS 1.2 with AES-GCM is accepted", async (t) => {
  const { s, tls } = await start(t);
  await t.throwsAsync(handshake(s.port, tls.ca, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA" }), {
    message: /handshake failure|no shared cipher|alert/i,
  });
  const ok = await handshake(s.port, tls.ca, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" });
  t.is(ok.getProtocol(), "TLSv1.2");
  t.is(ok.getCipher().name, "ECDHE-ECDSA-AES128-GCM-SHA256");
  ok.destroy();
});

test("serveHttps: keep-alive reuses one connection; close() ends it", async (t) => {
  const { s, tls } = await start(t);
  let connections = 0;
  s.server.on("secureConnection", () => connections++);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const a = await httpsRequest(`${s.url}/hello`, { ca: tls.ca, agent });
  const b = await httpsRequest(`${s.url}/hello`, { ca: tls.ca, agent });
  t.is(a.status, 200);
  t.is(b.status, 200);
  t.is(a.localPort, b.localPort);
  t.is(connections, 1);
  const [socket] = Object.values(agent.freeSockets).flat();
  t.truthy(socket);
  const closed = new Promise<void>((resolve) => socket!.once("close", () => resolve()));
  await s.close();
  await closed;
  t.true(socket!.destroyed);
  await t.throwsAsync(httpsRequest(`${s.url}/hello`, { ca: tls.ca }), { code: "ECONNREFUSED" });
  agent.destroy();
});

test("serveHttps body limit over TLS: 1 MiB + 1 is 413 before the handler, with Content-Length and chunked; exactly 1 MiB passes both ways", async (t) => {
  const { s, tls, calls } = await start(t);
  const headers = { "content-type": "application/json" };
  const over = jsonOfSize(MiB + 1);
  const withLength = await httpsRequest(`${s.url}/echo`, { ca: tls.ca, method: "POST", headers, body: over });
  t.is(withLength.status, 413);
  t.is(withLength.headers["content-type"], "application/problem+json");
  t.is((JSON.parse(withLength.body) as { type: string }).type, "urn:tessera:problem:body-too-large");
  const chunked = await httpsRequest(`${s.url}/echo`, { ca: tls.ca, method: "POST", headers, body: over, chunked: true });
  t.is(chunked.status, 413);
  t.is((JSON.parse(chunked.body) as { type: string }).type, "urn:tessera:problem:body-too-large");
  t.is(calls.handler, 0);
  const exact = jsonOfSize(MiB);
  const a = await httpsRequest(`${s.url}/echo`, { ca: tls.ca, method: "POST", headers, body: exact });
  const b = await httpsRequest(`${s.url}/echo`, { ca: tls.ca, method: "POST", headers, body: exact, chunked: true });
  t.deepEqual([a.status, b.status], [200, 200]);
  t.deepEqual(JSON.parse(b.body), { length: MiB - 10 });
  t.is(calls.handler, 2);
});

test("serveHttps bodies on one keep-alive connection: each read straight from the socket, one left unread by its handler, bad JSON, then the next ones still answered", async (t) => {
  const { s, tls, calls } = await start(t);
  let connections = 0;
  s.server.on("secureConnection", () => connections++);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { "content-type": "application/json" };
  const post = (body: string, path = "/echo") => httpsRequest(`${s.url}${path}`, { ca: tls.ca, method: "POST", headers, body, agent });
  const first = await post(jsonOfSize(100));
  t.deepEqual([first.status, JSON.parse(first.body)], [200, { length: 90 }]);
  // /hello is GET only: 405, its body never read; the connection must still frame the next request right.
  const unread = await post(jsonOfSize(50_000), "/hello");
  t.is(unread.status, 405);
  const bad = await post("{not json");
  t.is(bad.status, 400);
  t.regex(bad.body, /not valid JSON/);
  const big = await post(jsonOfSize(300_000));
  t.deepEqual([big.status, JSON.parse(big.body)], [200, { length: 300_000 - 10 }]);
  const chunked = await httpsRequest(`${s.url}/echo`, { ca: tls.ca, method: "POST", headers, body: jsonOfSize(70_000), chunked: true, agent });
  t.deepEqual([chunked.status, JSON.parse(chunked.body)], [200, { length: 70_000 - 10 }]);
  const last = await post(jsonOfSize(20));
  t.is(last.status, 200);
  t.is(calls.handler, 5);
  t.true(connections <= 2, `${connections} connections (the one left with an unread body may be closed by the server)`);
  agent.destroy();
});

test("serveHttps requestClientCert: a client certificate from the CA is seen as authorized by the handler; none is not", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tessera-mtls-"));
  const g = await ensureLocalTls(dir, { service: "mtls-test", hosts: [], client: { commonName: "host-1" } });
  const ca = await readPem(g.caCertFile, "CA");
  const app = createService({ name: "t", logger: captureLogger().logger });
  app.get("/peer", (c) => {
    const socket = (c.env as { incoming: { socket: TLSSocket } }).incoming.socket;
    return c.json({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject?.CN ?? null });
  });
  const s = await serveHttps(app.fetch, { host: "127.0.0.1", port: 0, cert: await readPem(g.serverCertFile, "c"), key: await readPem(g.serverKeyFile, "k"), ca, requestClientCert: true });
  t.teardown(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const get = (cert?: { cert: string; key: string }) =>
    new Promise<string>((resolve, reject) => {
      const req = request(`${s.url}/peer`, { ca, agent: false, ...cert }, (res) => {
        let b = "";
        res.on("data", (d: Buffer) => (b += d.toString()));
        res.on("end", () => resolve(b));
      });
      req.on("error", reject);
      req.end();
    });
  t.deepEqual(JSON.parse(await get({ cert: await readPem(g.clientCertFile, "c"), key: await readPem(g.clientKeyFile, "k") })), { authorized: true, cn: "host-1" });
  t.deepEqual(JSON.parse(await get()), { authorized: false, cn: null });
});

test("serveHttpsFirst: bound before the app exists — 503 with Retry-After until routed, then the app answers", async (t) => {
  const tls = await testTls();
  t.teardown(() => rm(tls.dir, { recursive: true, force: true }));
  const s = await serveHttpsFirst({ host: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  t.teardown(() => s.close());
  t.true(s.port > 0);
  const before = await httpsRequest(`${s.url}/x`, { ca: tls.ca });
  t.is(before.status, 503);
  t.is(before.headers["retry-after"], "1");
  const app = createService({ name: "t", logger: captureLogger().logger });
  app.get("/x", (c) => c.json({ port: s.port }));
  s.route((request, env) => app.fetch(request, env));
  const after = await httpsRequest(`${s.url}/x`, { ca: tls.ca });
  t.is(after.status, 200);
  t.deepEqual(JSON.parse(after.body), { port: s.port });
});
