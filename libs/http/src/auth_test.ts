import test from "ava";
import { bearerAuth, requireGroups, type Principal } from "./auth.ts";
import { BearerTokenError } from "./errors.ts";
import { createService } from "./service.ts";
import { captureLogger } from "./_test_support.ts";

// A verifier over a fixed table: the point here is the middleware's mapping, not token cryptography
// (oidc_test.ts checks real JWTs).
const TOKENS: Record<string, Principal> = {
  "admin-token": { subject: "alice", groups: ["TrustedAdmins"], issuer: "https://ta" },
  "reader-token": { subject: "bob", groups: ["TrustedReaders"], issuer: "https://ta" },
};

function app() {
  const { logger, lines } = captureLogger();
  const a = createService({ name: "t", logger });
  a.use(
    "/api/*",
    bearerAuth({
      realm: "attestd",
      async verify(token) {
        if (token === "expired-token") throw new BearerTokenError("TOKEN_EXPIRED", "expired");
        const p = TOKENS[token];
        if (!p) throw new BearerTokenError("TOKEN_INVALID", "bad signature");
        return p;
      },
    }),
  );
  a.get("/api/whoami", (c) => c.json(c.get("principal")));
  a.get("/api/read", requireGroups(["TrustedAdmins", "TrustedReaders"]), (c) => c.text("read"));
  a.post("/api/change", requireGroups(["TrustedAdmins"]), (c) => c.text("changed"));
  return { a, lines };
}

const problemType = async (r: Response) => ((await r.json()) as { type: string }).type;

test("bearerAuth: no token (or not Bearer) → 401 unauthorized with a WWW-Authenticate challenge", async (t) => {
  const { a } = app();
  for (const authorization of [undefined, "Basic YWxpY2U6cHc=", "Bearer", "Bearer a b"]) {
    const r = await a.request("/api/whoami", { headers: authorization ? { authorization } : {} });
    t.is(r.status, 401, authorization);
    t.is(r.headers.get("www-authenticate"), 'Bearer realm="attestd"');
    t.is(await problemType(r), "urn:tessera:problem:unauthorized");
  }
});

test("bearerAuth: an invalid token → 401 token-invalid; an expired one → 401 token-expired; the reason is logged, not sent", async (t) => {
  const { a, lines } = app();
  const bad = await a.request("/api/whoami", { headers: { authorization: "Bearer forged" } });
  t.is(bad.status, 401);
  t.is(bad.headers.get("www-authenticate"), 'Bearer realm="attestd", error="invalid_token"');
  const doc = (await bad.json()) as { type: string; detail: string };
  t.is(doc.type, "urn:tessera:problem:token-invalid");
  t.false(doc.detail.includes("bad signature"));
  t.like(lines.find((l) => l.msg === "bearer token refused"), { code: "TOKEN_INVALID", reason: "bad signature" });
  const exp = await a.request("/api/whoami", { headers: { authorization: "bearer expired-token" } });
  t.is(exp.status, 401);
  t.is(await problemType(exp), "urn:tessera:problem:token-expired");
});

test("bearerAuth sets the principal; requireGroups lets any of its groups in and refuses others with 403 naming the group", async (t) => {
  const { a } = app();
  const who = await a.request("/api/whoami", { headers: { authorization: "Bearer reader-token" } });
  t.deepEqual(await who.json(), { subject: "bob", groups: ["TrustedReaders"], issuer: "https://ta" });
  t.is((await a.request("/api/read", { headers: { authorization: "Bearer reader-token" } })).status, 200);
  t.is((await a.request("/api/change", { method: "POST", headers: { authorization: "Bearer admin-token" } })).status, 200);
  const denied = await a.request("/api/change", { method: "POST", headers: { authorization: "Bearer reader-token" } });
  t.is(denied.status, 403);
  const doc = (await denied.json()) as { type: string; detail: string; requiredGroups: string[] };
  t.is(doc.type, "urn:tessera:problem:forbidden");
  t.is(doc.detail, "bob is not in the group TrustedAdmins");
  t.deepEqual(doc.requiredGroups, ["TrustedAdmins"]);
});

test("requireGroups without bearerAuth before it → 401 unauthorized (never open by mistake)", async (t) => {
  const a = createService({ name: "t", logger: captureLogger().logger });
  a.get("/x", requireGroups(["TrustedAdmins"]), (c) => c.text("x"));
  const r = await a.request("/x");
  t.is(r.status, 401);
  t.is(await problemType(r), "urn:tessera:problem:unauthorized");
});
