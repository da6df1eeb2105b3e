/**
 * Hostile admin input (fast-check): whatever an administrator's client sends to the parsing routes — CA
 * bundles, CRLs, EK pins, images, settings, sign-in — the answer is a success or a 4xx problem document, never
 * a 500; and the sign-in and a call over real HTTPS work end to end.
 */
import test from "ava";
import fc from "fast-check";
import { adminHarness, httpsRequest, type AdminHarness } from "./admin_test_support.ts";

let h: AdminHarness;
let admin: string;

test.before(async () => {
  h = await adminHarness();
  admin = await h.adminToken();
});

test.after.always(async () => {
  await h?.close();
});

const pemish = fc.oneof(
  fc.string(),
  fc.base64String(),
  fc
    .tuple(fc.constantFrom("CERTIFICATE", "X509 CRL", "CRL", "PUBLIC KEY"), fc.base64String())
    .map(([t, b]) => `-----BEGIN ${t}-----\n${b}\n-----END ${t}-----\n`),
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from([0x30, 0x82, b.length >> 8, b.length & 0xff, ...b]).toString("base64")),
);

async function expectHandled(method: string, p: string, body: unknown): Promise<boolean> {
  const r = await h.call(method, p, body, admin);
  if (r.status >= 500) throw new Error(`${method} ${p} ${JSON.stringify(body).slice(0, 200)} → ${r.status} ${JSON.stringify(r.json)}`);
  if (r.status >= 400 && !String(r.json?.type ?? "").startsWith("urn:tessera:problem:")) throw new Error(`not a problem document: ${JSON.stringify(r.json)}`);
  return true;
}

test.serial("CA bundles, CRLs and EK pins of any shape: 2xx or a 4xx problem, never 500", async (t) => {
  await fc.assert(
    fc.asyncProperty(pemish, pemish, fc.string(), async (a, b, host) => {
      await expectHandled("POST", "/api/v1/tpm-cas", { certificates: a });
      await expectHandled("POST", "/api/v1/tpm-crls", { crl: b });
      await expectHandled("POST", "/api/v1/ek-pins", { host: host.toLowerCase().replace(/[^a-z0-9.-]/g, "") || "h", ekCertificate: a });
      await expectHandled("POST", "/api/v1/ek-pins", { host: "h.example", ekPublic: b });
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test.serial("image and settings bodies of any shape: 2xx or a 4xx problem, never 500", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), fc.uint8Array({ maxLength: 400 }), async (manifest, settings, log) => {
      await expectHandled("POST", "/api/v1/images", { name: "fuzz", version: "1", manifest });
      await expectHandled("POST", "/api/v1/images", { name: "fuzz", version: "2", image: manifest });
      await expectHandled("POST", "/api/v1/images", { name: "fuzz", version: "3", eventLog: Buffer.from(log).toString("base64") });
      await expectHandled("PATCH", "/api/v1/settings", settings);
      await expectHandled("POST", "/api/v1/auth/token", settings);
      return true;
    }),
    { numRuns: 150 },
  );
  t.is((await h.store.listImages()).length, 0, "no random input became an accepted image");
});

test.serial("over HTTPS: sign in, then a guarded call with the token; a plain-HTTP client gets no answer", async (t) => {
  const server = await h.serve();
  const login = await httpsRequest(`${server.url}/api/v1/auth/token`, {
    method: "POST",
    ca: h.caCert,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: "admin", password: h.adminPassword }),
  });
  t.is(login.status, 200);
  const { token } = JSON.parse(login.text) as { token: string };
  const hosts = await httpsRequest(`${server.url}/api/v1/hosts`, { ca: h.caCert, headers: { authorization: `Bearer ${token}` } });
  t.is(hosts.status, 200);
  t.deepEqual(JSON.parse(hosts.text).summary, { green: 0, red: 0, stale: 0, unknown: 0, total: 0 });
  await t.throwsAsync(fetch(server.url.replace("https:", "http:") + "/api/v1/hosts"));
});
