import test from "ava";
import { z } from "zod";
import { openApiDocument } from "./openapi.ts";

const Host = z.object({ host: z.string(), status: z.enum(["green", "red", "stale", "unknown"]), lastAttempt: z.number().int().optional() });
const Pin = z.object({ host: z.string().min(1), ekCertificate: z.string().optional() });

test("openApiDocument: an OpenAPI 3.1 document; zod schemas become their JSON schemas", (t) => {
  const doc = openApiDocument({ title: "attestd", version: "1.0.0" }, [
    { method: "GET", path: "/api/v1/hosts/:host", summary: "One host", responses: { 200: Host, 404: "no such host" } },
    { method: "post", path: "/api/v1/ek-pins", summary: "Pin an EK", request: Pin, responses: { 201: "pinned", 400: "bad request" } },
    { method: "get", path: "/.well-known/jwks.json", summary: "JWKS", responses: { 200: "the keys" }, auth: false },
  ]) as {
    openapi: string;
    info: { title: string; version: string };
    paths: Record<string, Record<string, { operationId: string; parameters?: unknown[]; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>; security?: unknown[] }>>;
    components: { securitySchemes: Record<string, unknown> };
  };
  t.is(doc.openapi, "3.1.0");
  t.deepEqual(doc.info, { title: "attestd", version: "1.0.0" });
  t.deepEqual(Object.keys(doc.paths), ["/api/v1/hosts/{host}", "/api/v1/ek-pins", "/.well-known/jwks.json"]);
  const get = doc.paths["/api/v1/hosts/{host}"].get;
  t.deepEqual(get.parameters, [{ name: "host", in: "path", required: true, schema: { type: "string" } }]);
  t.deepEqual(get.responses["200"].content?.["application/json"].schema, {
    type: "object",
    properties: { host: { type: "string" }, status: { type: "string", enum: ["green", "red", "stale", "unknown"] }, lastAttempt: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 } },
    required: ["host", "status"],
    additionalProperties: false,
  });
  t.truthy(get.responses["404"].content?.["application/problem+json"]);
  const post = doc.paths["/api/v1/ek-pins"].post;
  t.deepEqual(post.requestBody?.content["application/json"].schema, {
    type: "object",
    properties: { host: { type: "string", minLength: 1 }, ekCertificate: { type: "string" } },
    required: ["host"],
  });
  t.deepEqual(doc.paths["/.well-known/jwks.json"].get.security, []);
  t.deepEqual(doc.components.securitySchemes.bearer, { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  const ids = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
  t.is(new Set(ids).size, ids.length);
  // JSON all the way (what /openapi.json serves).
  t.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
  // Every operation has responses, each with a description (required by OpenAPI).
  for (const p of Object.values(doc.paths)) for (const o of Object.values(p)) for (const r of Object.values(o.responses)) t.is(typeof r.description, "string");
});
