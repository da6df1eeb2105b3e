import test from "ava";
import { createService } from "./service.ts";
import { captureLogger } from "./_test_support.ts";

const SECRETS = ["Bearer eyJhbGciOiJFUzI1NiJ9.sekret.sig", "hunter2-password", "tok-123-secret", "-----BEGIN PRIVATE KEY-----abc", "d-value-of-jwk", "session=cookie-val", "api-secret-v"];

test("createLogger: Authorization, Cookie, password, token, key, secret and privateJwk values never reach the log", (t) => {
  const { logger, text, lines } = captureLogger();
  logger.info({ req: { headers: { authorization: SECRETS[0], cookie: SECRETS[5], "user-agent": "curl" } } }, "request");
  logger.info({ password: SECRETS[1], user: "admin" }, "login");
  logger.info({ body: { token: SECRETS[2], key: SECRETS[3] } }, "nested");
  logger.info({ signingKey: { kid: "k1", privateJwk: { kty: "EC", d: SECRETS[4] } } }, "key");
  logger.info({ config: { oidc: { secret: SECRETS[6] } } }, "config");
  logger.info({ headers: { authorization: SECRETS[0] } }, "bare headers");
  const out = text();
  for (const s of SECRETS) t.false(out.includes(s), `${s} leaked: ${out}`);
  t.is((lines[0].req as { headers: Record<string, string> }).headers.authorization, "[redacted]");
  t.is((lines[0].req as { headers: Record<string, string> }).headers["user-agent"], "curl");
  t.is(lines[1].password, "[redacted]");
  t.is(lines[1].user, "admin");
  t.is((lines[3].signingKey as { kid: string }).kid, "k1");
  t.is(lines.length, 6);
});

test("a service's request log and error log do not carry the Authorization header", async (t) => {
  const { logger, text } = captureLogger();
  const app = createService({ name: "svc", logger });
  app.get("/x", (c) => {
    c.get("log").info({ headers: c.req.header() }, "handler saw");
    throw new Error("boom");
  });
  await app.request("/x", { headers: { authorization: SECRETS[0] } });
  t.regex(text(), /handler saw/);
  t.false(text().includes("sekret"));
});

test("redaction copies instead of changing the caller's objects, walks arrays and Errors' own fields, and stops three levels down", (t) => {
  const { logger, lines } = captureLogger();
  const body = { user: "u", nested: { token: "tok-1", keep: 1 } };
  const err = Object.assign(new Error("refused"), { token: "tok-2", code: "E1" });
  logger.info({ body, list: [{ password: "pw-1" }, "plain"], err, deep: { a: { b: { c: { secret: "too deep" } } } } }, "line");
  t.deepEqual(body, { user: "u", nested: { token: "tok-1", keep: 1 } }, "the caller's object is left as it was");
  t.is(err.token, "tok-2");
  const l = lines[0] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  t.deepEqual(l.body, { user: "u", nested: { token: "[redacted]", keep: 1 } });
  t.deepEqual(l.list, [{ password: "[redacted]" }, "plain"]);
  t.is(l.err.message, "refused");
  t.is(l.err.token, "[redacted]");
  t.is(l.err.code, "E1");
  t.regex(l.err.stack, /refused/);
  // Four levels down is past the walk, as with the wildcard paths before (`*.*.*.secret`).
  t.is(l.deep.a.b.c.secret, "too deep");
  const child = logger.child({ requestId: "r-1", token: "tok-3" });
  child.info({ ok: true }, "child line");
  t.is((lines[1] as Record<string, unknown>).requestId, "r-1");
  t.is((lines[1] as Record<string, unknown>).token, "[redacted]");
});
