import test from "ava";
import { z } from "zod";
import { readJson } from "./read_json.ts";
import { createService } from "./service.ts";
import { captureLogger } from "./_test_support.ts";

const MiB = 1024 * 1024;

/** A JSON document of exactly `n` bytes. */
function jsonOfSize(n: number): string {
  return `{"pad":"${"x".repeat(n - 10)}"}`;
}

function appWithCounter() {
  const cap = captureLogger();
  const app = createService({ name: "t", logger: cap.logger });
  const calls = { handler: 0, parsed: 0 };
  app.post("/echo", async (c) => {
    calls.handler++;
    const body = await readJson(c, z.object({ pad: z.string() }));
    calls.parsed++;
    return c.json({ length: body.pad.length });
  });
  return { app, calls, cap };
}

test("onError: an unexpected throw is 500 internal; the body has no message or stack of it, the log has both", async (t) => {
  const { logger, lines, text } = captureLogger();
  const app = createService({ name: "svc", logger });
  app.get("/boom", () => {
    throw new Error("db password hunter2 leaked in message");
  });
  const r = await app.request("/boom", { headers: { "x-request-id": "req-42" } });
  t.is(r.status, 500);
  t.is(r.headers.get("content-type"), "application/problem+json");
  t.is(r.headers.get("x-request-id"), "req-42");
  const body = await r.text();
  const doc = JSON.parse(body) as Record<string, unknown>;
  t.is(doc.type, "urn:tessera:problem:internal");
  t.is(doc.status, 500);
  t.false(body.includes("hunter2"));
  t.false(body.includes("service_test.ts"), "no stack frames");
  t.regex(doc.detail as string, /req-42/);
  const logged = lines.find((l) => l.msg === "unexpected error");
  t.truthy(logged, text());
  t.is(logged?.requestId, "req-42");
  const err = logged?.err as { message: string; stack: string };
  t.is(err.message, "db password hunter2 leaked in message");
  t.regex(err.stack, /service_test\.ts/);
});

test("unknown route: 404 not-found problem; every answer has an x-request-id and one request log line", async (t) => {
  const { logger, lines } = captureLogger();
  const app = createService({ name: "svc", logger });
  const r = await app.request("/nope");
  t.is(r.status, 404);
  t.like(await r.json(), { type: "urn:tessera:problem:not-found", detail: "no route for GET /nope" });
  const id = r.headers.get("x-request-id") ?? "";
  t.regex(id, /^[0-9a-f-]{36}$/);
  t.like(lines.find((l) => l.msg === "request"), { requestId: id, method: "GET", path: "/nope", status: 404 });
  // A malformed client request id is replaced, not echoed.
  const r2 = await app.request("/nope", { headers: { "x-request-id": "bad id\u0001" } });
  t.regex(r2.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
});

test("a ZodError thrown by a handler is 400 bad-request naming the field path", async (t) => {
  const app = createService({ name: "svc", logger: captureLogger().logger });
  app.get("/q", (c) => c.json(z.object({ limit: z.coerce.number().int().max(100) }).parse({ limit: c.req.query("limit") })));
  const r = await app.request("/q?limit=500");
  t.is(r.status, 400);
  const doc = (await r.json()) as { type: string; detail: string; errors: { path: string }[] };
  t.is(doc.type, "urn:tessera:problem:bad-request");
  t.regex(doc.detail, /field limit:/);
  t.deepEqual(doc.errors.map((e) => e.path), ["limit"]);
});

test("body limit (no socket): 1 MiB + 1 is 413 body-too-large before the handler runs, by Content-Length and streamed; exactly 1 MiB passes", async (t) => {
  const { app, calls } = appWithCounter();
  const over = jsonOfSize(MiB + 1);
  const withLength = await app.request("/echo", { method: "POST", body: over, headers: { "content-type": "application/json", "content-length": String(MiB + 1) } });
  t.is(withLength.status, 413);
  t.like(await withLength.json(), { type: "urn:tessera:problem:body-too-large", status: 413 });
  // No Content-Length: the body is counted as it streams.
  const stream = new Blob([over]).stream();
  const streamed = await app.request("/echo", { method: "POST", body: stream, headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit);
  t.is(streamed.status, 413);
  t.deepEqual(calls, { handler: 0, parsed: 0 });
  const exact = await app.request("/echo", { method: "POST", body: new Blob([jsonOfSize(MiB)]).stream(), headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit);
  t.is(exact.status, 200);
  t.deepEqual(await exact.json(), { length: MiB - 10 });
  t.deepEqual(calls, { handler: 1, parsed: 1 });
});

test("bodyLimit option: a smaller limit is enforced", async (t) => {
  const app = createService({ name: "svc", logger: captureLogger().logger, bodyLimit: 10 });
  app.post("/x", (c) => c.text("ok"));
  t.is((await app.request("/x", { method: "POST", body: "01234567890", headers: { "content-length": "11" } })).status, 413);
  t.is((await app.request("/x", { method: "POST", body: "0123456789", headers: { "content-length": "10" } })).status, 200);
});

test("a path routed for other methods is 405 method-not-allowed with Allow; middleware alone do not make a path known", async (t) => {
  const app = createService({ name: "svc", logger: captureLogger().logger });
  app.use("/api/*", async (_c, next) => next());
  app.get("/api/v1/hosts/:host", (c) => c.text("h"));
  app.delete("/api/v1/hosts/:host", (c) => c.text("d"));
  const r = await app.request("/api/v1/hosts/h1", { method: "POST" });
  t.is(r.status, 405);
  t.is(r.headers.get("allow"), "GET, DELETE, HEAD");
  t.like(await r.json(), { type: "urn:tessera:problem:method-not-allowed" });
  t.is((await app.request("/api/v1/nothing", { method: "POST" })).status, 404);
  t.is((await app.request("/api/v1/hosts/h1", { method: "DELETE" })).status, 200);
});
