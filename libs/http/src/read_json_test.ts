import test from "ava";
import fc from "fast-check";
import { z } from "zod";
import { readJson } from "./read_json.ts";
import { createService } from "./service.ts";
import { captureLogger } from "./_test_support.ts";

const Image = z.object({ name: z.string().min(1), versions: z.array(z.object({ version: z.string(), firmware: z.boolean().optional() })) });

function app() {
  const a = createService({ name: "t", logger: captureLogger().logger });
  a.post("/images", async (c) => c.json(await readJson(c, Image), 201));
  return a;
}

const post = (body: string, type = "application/json") => app().request("/images", { method: "POST", body, headers: { "content-type": type } });

test("readJson: a valid body is returned as the schema's output", async (t) => {
  const r = await post(JSON.stringify({ name: "rhel", versions: [{ version: "9.4" }] }));
  t.is(r.status, 201);
  t.deepEqual(await r.json(), { name: "rhel", versions: [{ version: "9.4" }] });
});

test("readJson: a bad field is 400 bad-request naming the field path, every issue listed", async (t) => {
  const r = await post(JSON.stringify({ name: "", versions: [{ version: "1" }, { version: 2 }] }));
  t.is(r.status, 400);
  t.is(r.headers.get("content-type"), "application/problem+json");
  const doc = (await r.json()) as { type: string; detail: string; errors: { path: string; message: string }[] };
  t.is(doc.type, "urn:tessera:problem:bad-request");
  t.regex(doc.detail, /^bad request body field name: .* \(and 1 more\)$/);
  t.deepEqual(doc.errors.map((e) => e.path), ["name", "versions[1].version"]);
  t.regex(doc.errors[1].message, /expected string, received number/);
});

test("readJson: invalid JSON and an empty body are 400 bad-request", async (t) => {
  for (const body of ["{", "", "{'a':1}", "[1,]"]) {
    const r = await post(body);
    t.is(r.status, 400, body);
    const doc = (await r.json()) as { type: string; detail: string };
    t.is(doc.type, "urn:tessera:problem:bad-request");
    t.regex(doc.detail, /not valid JSON/);
  }
});

test("readJson: a body that is not application/json is 415; +json and a charset are accepted", async (t) => {
  t.is((await post("{}", "text/plain")).status, 415);
  t.is((await post("{}", "application/x-www-form-urlencoded")).status, 415);
  t.is((await app().request("/images", { method: "POST", body: "{}" })).status, 415);
  const ok = JSON.stringify({ name: "a", versions: [] });
  t.is((await post(ok, "application/json; charset=utf-8")).status, 201);
  t.is((await post(ok, "application/merge-patch+json")).status, 201);
});

test("readJson on any text: 201 or a 400 problem, never a 500 (property)", async (t) => {
  const a = app();
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ name: v, versions: [v] }))), async (body) => {
      const r = await a.request("/images", { method: "POST", body, headers: { "content-type": "application/json" } });
      if (r.status === 201) return true;
      const doc = (await r.json()) as { type: string };
      return r.status === 400 && doc.type === "urn:tessera:problem:bad-request";
    }),
    { numRuns: 300 },
  );
  t.pass();
});
