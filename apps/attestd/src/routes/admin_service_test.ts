/**
 * Accounts, settings, the audit trail, the identity export, signing-key rotation and the OpenAPI document.
 */
import test from "ava";
import { ClusterIdentity } from "../identity.ts";
import { adminHarness, PUBLIC_URL, type AdminHarness } from "./admin_test_support.ts";

let h: AdminHarness;
let admin: string;

test.before(async () => {
  h = await adminHarness({ admin: { cluster: "ta-prod", keyProviderService: "https://kmx.example:7888" } });
  admin = await h.adminToken();
});

test.after.always(async () => {
  await h?.close();
});

test.serial("accounts: a generated password is returned once and signs in; no hashes are listed; duplicates 409; no self-removal", async (t) => {
  const r = await h.call("POST", "/api/v1/accounts", { user: "manager", groups: ["TrustedReaders"] }, admin);
  t.is(r.status, 201, JSON.stringify(r.json));
  t.true(typeof r.json.password === "string" && r.json.password.length >= 16);
  const token = await h.login("manager", r.json.password);
  t.deepEqual((await h.call("GET", "/api/v1/whoami", undefined, token)).json.groups, ["TrustedReaders"]);
  t.regex((await h.store.getAccount("manager"))!.passwordHash, /^scrypt\$/);
  const list = await h.call("GET", "/api/v1/accounts", undefined, admin);
  t.deepEqual(list.json.accounts.map((a: { user: string }) => a.user).sort(), ["admin", "manager"]);
  t.false(JSON.stringify(list.json).includes("scrypt"), "no password hash leaves the service");
  t.is((await h.call("POST", "/api/v1/accounts", { user: "manager", groups: ["TrustedAdmins"] }, admin)).status, 409);
  t.is((await h.call("POST", "/api/v1/accounts", { user: "x", groups: ["Root"] }, admin)).status, 400);
  t.is((await h.call("POST", "/api/v1/accounts", { user: "x", password: "short", groups: ["TrustedAdmins"] }, admin)).status, 400);
  t.is((await h.call("DELETE", "/api/v1/accounts/admin", undefined, admin)).status, 409);
  t.is((await h.call("DELETE", "/api/v1/accounts/manager", undefined, admin)).status, 200);
  t.is((await h.call("POST", "/api/v1/auth/token", { user: "manager", password: r.json.password })).status, 401, "a removed account cannot sign in");
});

test.serial("settings: defaults, a validated PATCH merged into the stored ones, audited with the changes", async (t) => {
  const defaults = await h.call("GET", "/api/v1/settings", undefined, admin);
  t.like(defaults.json, { ekTrustMode: "ca", pcrSelection: "sha256:0,1,2,3,4,5,6,7,8,9,14", secureBootRequired: true, tokenLifetimeSeconds: 600 });
  const r = await h.call("PATCH", "/api/v1/settings", { ekTrustMode: "pin", pcrSelection: "sha256:0-7,14", tokenLifetimeSeconds: 300 }, admin);
  t.is(r.status, 200, JSON.stringify(r.json));
  t.like(r.json, { ekTrustMode: "pin", pcrSelection: "sha256:0-7,14", tokenLifetimeSeconds: 300, secureBootRequired: true });
  const second = await h.call("PATCH", "/api/v1/settings", { hashAlgorithms: ["sha256", "sha384"] }, admin);
  t.like(second.json, { ekTrustMode: "pin", tokenLifetimeSeconds: 300 });
  t.deepEqual(second.json.hashAlgorithms, ["sha256", "sha384"]);
  t.like(await h.deps.settings(), { ekTrustMode: "pin", pcrSelection: "sha256:0-7,14" });
  const audit = (await h.store.listAudit(2)).map((a) => a.details?.changes);
  t.deepEqual(audit, [{ hashAlgorithms: ["sha256", "sha384"] }, { ekTrustMode: "pin", pcrSelection: "sha256:0-7,14", tokenLifetimeSeconds: 300 }]);
});

test.serial("settings: bad values are a 400 naming the field and change nothing", async (t) => {
  const before = await h.store.getSettings();
  const cases: [unknown, RegExp][] = [
    [{ pcrSelection: "sha256:0,99" }, /pcrSelection/],
    [{ pcrSelection: "md5:0" }, /pcrSelection/],
    [{ pcrSelection: "sha256:0+sha256:1" }, /pcrSelection/],
    [{ ekTrustMode: "none" }, /ekTrustMode/],
    [{ tokenLifetimeSeconds: 0 }, /tokenLifetimeSeconds/],
    [{ nonceLifetimeSeconds: 1.5 }, /nonceLifetimeSeconds/],
    [{ hashAlgorithms: ["md5"] }, /hashAlgorithms/],
    [{ acceptAll: true }, /acceptAll/],
    [{}, /nothing to change/],
  ];
  for (const [body, field] of cases) {
    const r = await h.call("PATCH", "/api/v1/settings", body, admin);
    t.is(r.status, 400, JSON.stringify(body));
    t.regex(r.json.detail, field);
  }
  t.deepEqual(await h.store.getSettings(), before);
});

test.serial("the audit trail: who, what, when, on what; newest first; limit", async (t) => {
  const r = await h.call("GET", "/api/v1/audit?limit=3", undefined, admin);
  t.is(r.status, 200);
  t.is(r.json.entries.length, 3);
  const [newest] = r.json.entries;
  t.like(newest, { actor: "admin", action: "settings.update", target: "settings" });
  t.true(Math.abs(Date.parse(newest.at) - Date.now()) < 600_000);
  t.true(r.json.entries[0].id > r.json.entries[1].id);
  t.is((await h.call("GET", "/api/v1/audit?limit=0", undefined, admin)).status, 400);
  t.is((await h.call("GET", "/api/v1/audit?limit=abc", undefined, admin)).status, 400);
  const all = await h.call("GET", "/api/v1/audit", undefined, admin);
  t.true(all.json.entries.some((e: { action: string; target: string }) => e.action === "account.add" && e.target === "manager"));
  t.true(all.json.entries.some((e: { action: string; target: string }) => e.action === "account.remove" && e.target === "manager"));
});

test.serial("the identity export: cluster, service URLs, TLS CA and JWKS, as one file", async (t) => {
  const r = await h.call("GET", "/api/v1/identity", undefined, admin);
  t.is(r.status, 200);
  t.notThrows(() => ClusterIdentity.parse(r.json));
  t.is(r.json.cluster, "ta-prod");
  t.is(r.json.attestationService, PUBLIC_URL);
  t.is(r.json.keyProviderService, "https://kmx.example:7888");
  t.is(r.json.tlsCa, h.caCert);
  t.deepEqual(r.json.jwks, JSON.parse(JSON.stringify(await h.deps.signing.jwks())));
  t.false(JSON.stringify(r.json.jwks).includes('"d"'), "no private key material");
  t.regex(r.headers.get("content-disposition") ?? "", /ta-prod-identity\.json/);
});

test.serial("signing-key rotation: a new active key, the old one retired and still published, audited", async (t) => {
  const before = await h.call("GET", "/api/v1/signing-keys", undefined, admin);
  const oldKid = before.json.keys.find((k: { active: boolean }) => k.active).kid;
  const r = await h.call("POST", "/api/v1/signing-keys/rotate", undefined, admin);
  t.is(r.status, 200);
  t.is(r.json.retired, oldKid);
  t.not(r.json.kid, oldKid);
  const after = await h.call("GET", "/api/v1/signing-keys", undefined, admin);
  t.is(after.json.keys.find((k: { active: boolean }) => k.active).kid, r.json.kid);
  t.truthy(after.json.keys.find((k: { kid: string }) => k.kid === oldKid).retiredAt);
  const identity = await h.call("GET", "/api/v1/identity", undefined, admin);
  const kids = identity.json.jwks.keys.map((k: { kid: string }) => k.kid);
  t.true(kids.includes(r.json.kid));
  t.true(kids.includes(oldKid), "the old key signed a live admin token: still published");
  t.like((await h.store.listAudit(1))[0], { action: "signing-key.rotate", target: r.json.kid });
});

test.serial("the OpenAPI document is public and covers every admin route and the host protocol", async (t) => {
  const r = await h.call("GET", "/api/v1/openapi.json");
  t.is(r.status, 200);
  t.is(r.json.openapi, "3.1.0");
  const documented = new Set<string>();
  for (const [p, ops] of Object.entries(r.json.paths as Record<string, Record<string, unknown>>)) {
    for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p}`);
  }
  const served = h.app.routes.filter((x) => x.method !== "ALL").map((x) => `${x.method} ${x.path.replace(/:(\w+)/g, "{$1}")}`);
  t.true(served.length >= 28);
  for (const s of served) t.true(documented.has(s), `${s} is documented`);
  for (const hostRoute of [
    "POST /api/v1/hosts/{host}/enrollments",
    "POST /api/v1/hosts/{host}/enrollments/{id}/activation",
    "POST /api/v1/hosts/{host}/challenges",
    "POST /api/v1/hosts/{host}/attestations",
    "GET /.well-known/jwks.json",
  ]) {
    t.true(documented.has(hostRoute), hostRoute);
  }
  const patch = r.json.paths["/api/v1/settings"].patch;
  t.deepEqual(patch["x-tessera-groups"], ["TrustedAdmins"]);
  t.truthy(patch.requestBody.content["application/json"].schema.properties.ekTrustMode);
  t.truthy(patch.responses["403"]);
  t.deepEqual(r.json.paths["/api/v1/hosts"].get["x-tessera-groups"], ["TrustedAdmins", "TrustedReaders"]);
  t.deepEqual(r.json.paths["/api/v1/auth/token"].post.security, [], "sign-in needs no token");
  t.deepEqual(r.json.paths["/api/v1/hosts/{host}/attestations"].post.security, []);
  t.truthy(r.json.paths["/api/v1/hosts/{host}/attestations"].post.requestBody.content["application/json"].schema.properties.quote);
});
