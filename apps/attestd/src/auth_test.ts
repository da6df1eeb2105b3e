/**
 * Sign-in and principal resolution: local accounts (scrypt) → admin tokens verified against attestd's JWKS,
 * expiry, forged and foreign tokens, tokens surviving a key rotation, and an external OIDC issuer served over
 * real HTTPS whose `groups` claim decides.
 */
import { startOidcIssuer } from "@tessera/oidc-testing";
import { decodeProtectedHeader } from "jose";
import { verifyAdminToken } from "@tessera/tokens";
import test from "ava";
import { ADMIN_TOKEN_AUDIENCE } from "./auth.ts";
import { request, startTestNode } from "./_test_support.ts";
import { adminHarness, PUBLIC_URL, type AdminHarness } from "./routes/admin_test_support.ts";

let h: AdminHarness;

test.before(async () => {
  h = await adminHarness();
});

test.after.always(async () => {
  await h?.close();
});

test.serial("admin signs in: an admin token (TrustedAdmins) that verifies against attestd's JWKS and names the caller", async (t) => {
  const r = await h.call("POST", "/api/v1/auth/token", { user: "admin", password: h.adminPassword });
  t.is(r.status, 200, JSON.stringify(r.json));
  t.is(r.json.subject, "admin");
  t.deepEqual(r.json.groups, ["TrustedAdmins"]);
  const claims = await verifyAdminToken(r.json.token, await h.deps.signing.jwks(), { issuer: PUBLIC_URL, audience: ADMIN_TOKEN_AUDIENCE });
  t.is(claims.subject, "admin");
  t.is(new Date(r.json.expiresAt).getTime(), claims.expiresAt);
  t.true(claims.expiresAt > Date.now() + 3_000_000 && claims.expiresAt <= Date.now() + 3_600_000);
  const me = await h.call("GET", "/api/v1/whoami", undefined, r.json.token);
  t.deepEqual(me.json, { subject: "admin", groups: ["TrustedAdmins"], issuer: PUBLIC_URL });
});

test.serial("a wrong password and an unknown user get the same 401; a malformed body 400", async (t) => {
  const wrong = await h.call("POST", "/api/v1/auth/token", { user: "admin", password: `${h.adminPassword}x` });
  const unknown = await h.call("POST", "/api/v1/auth/token", { user: "nobody", password: "whatever" });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  t.is(wrong.json.detail, unknown.json.detail);
  t.is(wrong.json.type, "urn:tessera:problem:unauthorized");
  const bad = await h.call("POST", "/api/v1/auth/token", { user: "admin" });
  t.is(bad.status, 400);
  t.regex(bad.json.detail, /password/);
});

test.serial("an expired admin token is refused with token-expired", async (t) => {
  const token = await h.adminToken();
  h.clock.skewMs = 2 * 3_600_000;
  try {
    const r = await h.call("GET", "/api/v1/whoami", undefined, token);
    t.is(r.status, 401);
    t.is(r.json.type, "urn:tessera:problem:token-expired");
  } finally {
    h.clock.skewMs = 0;
  }
  t.is((await h.call("GET", "/api/v1/whoami", undefined, token)).status, 200);
});

test.serial("another attestd's admin token is not valid here", async (t) => {
  const other = await adminHarness();
  try {
    const foreign = await other.adminToken();
    const r = await h.call("GET", "/api/v1/whoami", undefined, foreign);
    t.is(r.status, 401);
    t.is(r.json.type, "urn:tessera:problem:token-invalid");
  } finally {
    await other.close();
  }
});

test.serial("a token issued before a key rotation keeps working; new tokens are signed by the new key", async (t) => {
  const before = await h.adminToken();
  const oldKid = decodeProtectedHeader(before).kid;
  const rotated = await h.call("POST", "/api/v1/signing-keys/rotate", undefined, before);
  t.is(rotated.status, 200);
  t.is(rotated.json.retired, oldKid);
  t.is((await h.call("GET", "/api/v1/whoami", undefined, before)).status, 200, "the retired key stays published while its tokens live");
  const after = await h.adminToken();
  t.is(decodeProtectedHeader(after).kid, rotated.json.kid);
});


test.serial("an OIDC issuer configured on the node (config.oidc, as --oidc-issuer/--oidc-audience/--oidc-ca give it): its admins are admitted, its audience checked", async (t) => {
  const idp = await startOidcIssuer("tessera");
  const n = await startTestNode({ config: { oidc: { issuer: idp.issuer, audience: "tessera", ca: idp.ca } } });
  try {
    const alice = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"] });
    const me = await request(`${n.url}/api/v1/whoami`, "GET", undefined, n.node.caCert, { authorization: `Bearer ${alice}` });
    t.is(me.status, 200, JSON.stringify(me.json));
    t.is(me.json.issuer, idp.issuer);
    const wrongAudience = await startTestNode({ config: { oidc: { issuer: idp.issuer, audience: "someone-else", ca: idp.ca } } });
    try {
      t.is((await request(`${wrongAudience.url}/api/v1/whoami`, "GET", undefined, wrongAudience.node.caCert, { authorization: `Bearer ${alice}` })).status, 401);
      const own = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"], aud: "someone-else" });
      t.is((await request(`${wrongAudience.url}/api/v1/whoami`, "GET", undefined, wrongAudience.node.caCert, { authorization: `Bearer ${own}` })).status, 200, "its own audience passes");
    } finally {
      await wrongAudience.remove();
    }
  } finally {
    await n.remove();
    await idp.server.close();
  }
});

test.serial("an OIDC issuer's token (over HTTPS): TrustedAdmins in its groups may change; others may not; forgeries are refused", async (t) => {
  const idp = await startOidcIssuer("tessera");
  const node = await adminHarness({ admin: { oidc: { issuer: idp.issuer, audience: "tessera", ca: idp.ca } } });
  try {
    const alice = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"] });
    const me = await node.call("GET", "/api/v1/whoami", undefined, alice);
    t.is(me.status, 200, JSON.stringify(me.json));
    t.deepEqual(me.json, { subject: "alice", groups: ["TrustedAdmins"], issuer: idp.issuer });
    const patch = await node.call("PATCH", "/api/v1/settings", { secureBootRequired: false }, alice);
    t.is(patch.status, 200, JSON.stringify(patch.json));
    t.is((await node.store.listAudit(1))[0].actor, `alice (${idp.issuer})`, "an external principal is named with its issuer");

    const bob = await idp.sign({ sub: "bob", groups: ["Developers"] });
    const refused = await node.call("PATCH", "/api/v1/settings", { secureBootRequired: true }, bob);
    t.is(refused.status, 403);
    t.is((await node.call("GET", "/api/v1/hosts", undefined, bob)).status, 403, "not a reader either");
    const manager = await idp.sign({ sub: "vcenter", groups: ["TrustedReaders"] });
    t.is((await node.call("GET", "/api/v1/hosts", undefined, manager)).status, 200);
    t.is((await node.call("PATCH", "/api/v1/settings", { secureBootRequired: true }, manager)).status, 403);

    const forged = await idp.sign({ sub: "mallory", groups: ["TrustedAdmins"] }, "other");
    t.is((await node.call("PATCH", "/api/v1/settings", { secureBootRequired: true }, forged)).status, 401);
    t.false((await node.deps.settings()).secureBootRequired, "nothing but alice's change happened");
    t.is((await node.call("GET", "/api/v1/whoami", undefined, await node.adminToken())).status, 200, "local tokens still work beside OIDC");
  } finally {
    await node.close();
    await idp.server.close();
  }
});

test.serial("sign-in throttle: after too many failures even the right password waits; the window passing lets it in", async (t) => {
  const node = await adminHarness({ admin: { maxFailedLogins: 3, failedLoginWindowMs: 60_000 } });
  try {
    const attempt = (password: string) => node.call("POST", "/api/v1/auth/token", { user: "admin", password });
    t.is((await attempt("wrong 1")).status, 401);
    t.is((await attempt(node.adminPassword)).status, 200, "a success before the limit resets the count");
    for (const p of ["wrong 2", "wrong 3", "wrong 4"]) t.is((await attempt(p)).status, 401);
    const refused = await attempt(node.adminPassword);
    t.is(refused.status, 429);
    t.is(refused.json.type, "urn:tessera:problem:too-many-attempts");
    t.true(refused.json.retryAfterSeconds > 0 && refused.json.retryAfterSeconds <= 60);
    t.is((await node.call("POST", "/api/v1/auth/token", { user: "other", password: "x" })).status, 401, "other users are not held");
    node.clock.skewMs = 61_000;
    t.is((await attempt(node.adminPassword)).status, 200);
  } finally {
    await node.close();
  }
});
