/**
 * Who may administer kmxd, with a real attestd process and kmxd process: attestd's admin tokens (also after attestd
 * rotated its signing key: kmxd refetches the JWKS once for the unknown kid), and an OIDC issuer's tokens (groups
 * from the `groups` claim, audience checked, its own keys only), with the actor named `subject (issuer)` in the
 * audit trail.
 */
import test from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startOidcIssuer, type TestOidcIssuer } from "@tessera/oidc-testing";
import { decodeProtectedHeader } from "jose";
import { type AttestdProc, call, type KmxdProc, signIn, startAttestdProcess, startKmxdProcess } from "../_admin_test_support.ts";

let dir: string;
let attestd: AttestdProc;
let kmxd: KmxdProc;
let idp: TestOidcIssuer;


test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmxd-auth-"));
  [attestd, idp] = await Promise.all([startAttestdProcess(path.join(dir, "attestd")), startOidcIssuer("kmxd")]);
  const idpCa = path.join(dir, "idp-ca.pem");
  await writeFile(idpCa, idp.ca);
  kmxd = await startKmxdProcess(
    ["--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--oidc-issuer", idp.issuer, "--oidc-audience", "kmxd", "--oidc-ca", idpCa],
    path.join(dir, "kmxd"),
  );
});

test.after.always(async () => {
  await kmxd?.stop();
  await attestd?.stop();
  await idp?.server.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const put = (token: string, cluster: string) => call(kmxd.url, kmxd.ca, "PUT", `/api/v1/clusters/${cluster}`, { token, body: { rules: [{ host: `${cluster}-*` }] } });

test.serial("attestd rotates its signing key: kmxd accepts admin tokens under the new kid (one JWKS refetch), and the old ones while they live", async (t) => {
  const before = await signIn(attestd, "admin", attestd.adminPassword);
  t.is((await put(before, "a")).status, 201);
  const rotated = await call(attestd.url, attestd.ca, "POST", "/api/v1/signing-keys/rotate", { token: before, body: {} });
  t.is(rotated.status, 200, JSON.stringify(rotated.body));
  const after = await signIn(attestd, "admin", attestd.adminPassword);
  t.is(decodeProtectedHeader(after).kid, rotated.body.kid);
  t.not(decodeProtectedHeader(after).kid, decodeProtectedHeader(before).kid);
  // The new kid is fetched on first sight, right after the rotation, without a restart: only refreshes are spaced
  // (at most one per jwksMinRefreshMs), not the fetch the first token made.
  t.is((await put(after, "b")).status, 201, "the new kid is fetched");
  t.is((await put(before, "c")).status, 201, "the retired key stays published while its tokens live");
  const who = await call(kmxd.url, kmxd.ca, "GET", "/api/v1/whoami", { token: after });
  t.deepEqual(who.body, { subject: "admin", groups: ["TrustedAdmins"], issuer: attestd.url });
});

test.serial("an OIDC issuer's administrators are admitted, named with their issuer in the audit; others are refused", async (t) => {
  const alice = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"] });
  const r = await put(alice, "oidc");
  t.is(r.status, 201, JSON.stringify(r.body));
  const audit = await call(kmxd.url, kmxd.ca, "GET", "/api/v1/audit?limit=5", { token: alice });
  t.is(audit.body.entries[0].actor, `alice (${idp.issuer})`);
  t.is(audit.body.entries[0].operation, "cluster.put");

  const reader = await idp.sign({ sub: "bob", groups: ["TrustedReaders"] });
  t.is((await call(kmxd.url, kmxd.ca, "GET", "/api/v1/clusters", { token: reader })).status, 200);
  const denied = await put(reader, "bob");
  t.is(denied.status, 403);
  t.is(denied.body.type, "urn:tessera:problem:forbidden");
  const noGroups = await idp.sign({ sub: "carol" });
  t.is((await call(kmxd.url, kmxd.ca, "GET", "/api/v1/clusters", { token: noGroups })).status, 403);
  const wrongAudience = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"], aud: "attestd" });
  t.is((await put(wrongAudience, "x")).status, 401);
  const otherKey = await idp.sign({ sub: "alice", groups: ["TrustedAdmins"] }, "other");
  const forged = await put(otherKey, "y");
  t.is(forged.status, 401);
  t.is(forged.body.type, "urn:tessera:problem:token-invalid");
  const names = (await call(kmxd.url, kmxd.ca, "GET", "/api/v1/clusters", { token: alice })).body.clusters.map((c: { name: string }) => c.name);
  t.false(names.includes("bob") || names.includes("x") || names.includes("y"), "nothing refused was made");
});
