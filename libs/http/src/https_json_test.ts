/**
 * httpsJson against real HTTPS servers (node:https with a local CA from @tessera/service): JSON both ways, an error
 * status is an answer, and each way of getting no usable answer is its own HttpsJsonError code.
 */
import test from "ava";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import net from "node:net";
import { HttpsJsonError, httpsJson } from "./https_json.ts";
import { testTls } from "./_test_support.ts";

let tls: Awaited<ReturnType<typeof testTls>>;
let other: Awaited<ReturnType<typeof testTls>>;
let server: Server;
let base: string;
const hanging = new Set<import("node:http").ServerResponse>();

test.before(async () => {
  [tls, other] = await Promise.all([testTls(), testTls()]);
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "https://x");
      if (u.pathname === "/echo") {
        res.writeHead(200, { "content-type": "application/json", "x-repeated": ["a", "b"] });
        res.end(JSON.stringify({ method: req.method, contentType: req.headers["content-type"] ?? null, auth: req.headers.authorization ?? null, body: chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : null }));
      } else if (u.pathname === "/problem") {
        res.writeHead(403, { "content-type": "application/problem+json" });
        res.end(JSON.stringify({ type: "urn:tessera:problem:attestation-failed", status: 403, failures: [{ check: "log-replay" }] }));
      } else if (u.pathname === "/empty") {
        res.writeHead(204).end();
      } else if (u.pathname === "/html") {
        res.writeHead(502, { "content-type": "text/html" }).end("<html>bad gateway</html>");
      } else if (u.pathname === "/big") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ pad: "x".repeat(10_000) }));
      } else if (u.pathname === "/hang") {
        hanging.add(res);
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});

test.after.always(async () => {
  for (const r of hanging) r.destroy();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  for (const t of [tls, other]) if (t) await rm(t.dir, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HttpsJsonError) return e.code;
    throw e;
  }
  throw new Error("resolved");
}

test("POST sends the body as JSON with the caller's headers; the JSON answer comes back parsed, headers kept", async (t) => {
  const r = await httpsJson("POST", `${base}/echo`, { a: [1, "b"] }, { ca: tls.ca, headers: { authorization: "Bearer t" } });
  t.is(r.status, 200);
  t.deepEqual(r.body, { method: "POST", contentType: "application/json", auth: "Bearer t", body: { a: [1, "b"] } });
  t.is(r.headers.get("x-repeated"), "a, b");
});

test("without a body nothing is sent and no content-type claimed", async (t) => {
  const r = await httpsJson("GET", `${base}/echo`, undefined, { ca: tls.ca });
  t.deepEqual(r.body, { method: "GET", contentType: null, auth: null, body: null });
});

test("an error status is an answer: the problem document comes back parsed", async (t) => {
  const r = await httpsJson("POST", `${base}/problem`, {}, { ca: tls.ca });
  t.is(r.status, 403);
  t.like(r.body, { type: "urn:tessera:problem:attestation-failed", failures: [{ check: "log-replay" }] });
});

test("an empty body is undefined", async (t) => {
  const r = await httpsJson("DELETE", `${base}/empty`, undefined, { ca: tls.ca });
  t.is(r.status, 204);
  t.is(r.body, undefined);
});

test("a server whose certificate another CA issued is unreachable, the TLS failure named", async (t) => {
  const e = await t.throwsAsync(httpsJson("GET", `${base}/echo`, undefined, { ca: other.ca }), { instanceOf: HttpsJsonError });
  t.is(e.code, "HTTP_UNREACHABLE");
  t.regex(e.message, /^GET https:\/\/127\.0\.0\.1:\d+\/echo: no answer: /);
  t.regex(e.message, /certificate/i);
});

test("a closed port is unreachable, naming the connection error", async (t) => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  const e = await t.throwsAsync(httpsJson("GET", `https://127.0.0.1:${port}/`, undefined, { ca: tls.ca }), { instanceOf: HttpsJsonError });
  t.is(e.code, "HTTP_UNREACHABLE");
  t.regex(e.message, /ECONNREFUSED/);
});

test("no answer within timeoutMs is HTTP_TIMEOUT", async (t) => {
  t.is(await code(httpsJson("GET", `${base}/hang`, undefined, { ca: tls.ca, timeoutMs: 200 })), "HTTP_TIMEOUT");
});

test("the caller's signal aborts (before and during the request)", async (t) => {
  t.is(await code(httpsJson("GET", `${base}/echo`, undefined, { ca: tls.ca, signal: AbortSignal.abort() })), "HTTP_ABORTED");
  const ac = new AbortController();
  const p = httpsJson("GET", `${base}/hang`, undefined, { ca: tls.ca, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  t.is(await code(p), "HTTP_ABORTED");
});

test("an answer over maxResponseBytes is refused with its status", async (t) => {
  const e = await t.throwsAsync(httpsJson("GET", `${base}/big`, undefined, { ca: tls.ca, maxResponseBytes: 1000 }), { instanceOf: HttpsJsonError });
  t.is(e.code, "HTTP_RESPONSE_TOO_LARGE");
  t.is(e.status, 200);
  t.is((await httpsJson("GET", `${base}/big`, undefined, { ca: tls.ca, maxResponseBytes: 20_000 })).status, 200);
});

test("a body that is not JSON is HTTP_RESPONSE_INVALID, with the status and an excerpt", async (t) => {
  const e = await t.throwsAsync(httpsJson("GET", `${base}/html`, undefined, { ca: tls.ca }), { instanceOf: HttpsJsonError });
  t.is(e.code, "HTTP_RESPONSE_INVALID");
  t.is(e.status, 502);
  t.regex(e.message, /answered 502 with a body that is not JSON: "<html>bad gateway/);
});

test("only absolute https:// URLs", async (t) => {
  t.is(await code(httpsJson("GET", "http://127.0.0.1:1/", undefined)), "HTTP_URL_INVALID");
  t.is(await code(httpsJson("GET", "/relative", undefined)), "HTTP_URL_INVALID");
});
