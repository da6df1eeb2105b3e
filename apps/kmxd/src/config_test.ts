/**
 * kmxd's configuration: defaults, flags over the environment over the file, files read at start, and every bad
 * value named with its field and source.
 */
import test from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError } from "@tessera/http";
import { loadConfig, withBoundPort } from "./config.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
let dir: string;
let caFile: string;
let pwFile: string;

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmxd-config-"));
  caFile = path.join(dir, "ca.pem");
  pwFile = path.join(dir, "pw");
  await writeFile(caFile, CA);
  await writeFile(pwFile, "s3cret password\n");
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const base = () => ["--attestd", "https://ta.example:7889/", "--attestd-ca", caFile];

function refused(t: import("ava").ExecutionContext, argv: string[], env: Record<string, string>, field: string, source: RegExp): void {
  const e = t.throws(() => loadConfig(argv, env), { instanceOf: ConfigError });
  t.is(e?.field, field, e?.message);
  t.regex(e?.message ?? "", source);
}

test("defaults: port 7888, SQLite in ./kmxd-data, the issuer is attestd's URL, 20 and 500 requests per second", (t) => {
  const c = loadConfig(base(), {});
  t.deepEqual(c.listen, { host: "127.0.0.1", port: 7888 });
  t.is(c.dataDir, path.resolve("kmxd-data"));
  t.is(c.database, undefined);
  t.is(c.publicUrl, "https://127.0.0.1:7888");
  t.is(c.masterKeyFile, path.join(path.resolve("kmxd-data"), "master.key"));
  t.deepEqual(c.attestd, { url: "https://ta.example:7889", ca: CA, issuer: "https://ta.example:7889" });
  t.is(c.hostRate, 20);
  t.is(c.providerRate, 500);
  t.is(c.kmipPoolSize, 16);
  t.true(Object.isFrozen(c) && Object.isFrozen(c.attestd));
});

test("flags win over the environment, which wins over the file", async (t) => {
  const file = path.join(dir, "kmxd.json");
  await writeFile(file, JSON.stringify({ listen: "0.0.0.0:1", hostRate: 5, providerRate: 7, attestd: "https://file.example", attestdCa: caFile }));
  const c = loadConfig(["--config", file, "--listen", "127.0.0.1:0"], { KMXD_HOST_RATE: "9", KMXD_ATTESTD_ISSUER: "https://issuer.example" });
  t.deepEqual(c.listen, { host: "127.0.0.1", port: 0 });
  t.is(c.hostRate, 9);
  t.is(c.providerRate, 7);
  t.is(loadConfig([...base(), "--kmip-pool", "4"], { KMXD_KMIP_POOL: "8" }).kmipPoolSize, 4);
  t.is(loadConfig(base(), { KMXD_KMIP_POOL: "8" }).kmipPoolSize, 8);
  t.is(c.attestd.url, "https://file.example");
  t.is(c.attestd.issuer, "https://issuer.example");
  t.is(withBoundPort(c, 4242).publicUrl, "https://127.0.0.1:4242");
  t.is(withBoundPort(loadConfig([...base(), "--listen", "127.0.0.1:0", "--public-url", "https://kmxd.example"], {}), 4242).publicUrl, "https://kmxd.example");
});

test("the attestd account: user and password file together, the password read at start", (t) => {
  const c = loadConfig([...base(), "--attestd-user", "kmxd", "--attestd-password-file", pwFile], {});
  t.is(c.attestd.user, "kmxd");
  t.is(c.attestd.password, "s3cret password");
  refused(t, [...base(), "--attestd-user", "kmxd"], {}, "attestdUser", /go together/);
  refused(t, [...base(), "--attestd-password-file", pwFile], {}, "attestdPasswordFile", /go together/);
  refused(t, [...base(), "--attestd-user", "kmxd", "--attestd-password-file", path.join(dir, "none")], {}, "attestdPasswordFile", /cannot read/);
});

test("bad values are named with their field and source", (t) => {
  refused(t, [], {}, "attestd", /defaults/);
  refused(t, ["--attestd", "http://plain.example", "--attestd-ca", caFile], {}, "attestd", /https/);
  refused(t, ["--attestd", "https://a.example", "--attestd-ca", pwFile], {}, "attestdCa", /no PEM certificate/);
  refused(t, [...base(), "--listen", "nohost"], {}, "listen", /HOST:PORT/);
  refused(t, base(), { KMXD_HOST_RATE: "0" }, "hostRate", /environment/);
  refused(t, base(), { KMXD_PROVIDER_RATE: "fast" }, "providerRate", /environment/);
  refused(t, base(), { KMXD_KMIP_POOL: "0" }, "kmipPoolSize", /environment/);
  refused(t, [...base(), "--kmip-pool", "2.5"], {}, "kmipPoolSize", /flags/);
  refused(t, [...base(), "--database", "mysql://x"], {}, "database", /postgres/);
  refused(t, [...base(), "--oidc-audience", "x"], {}, "oidcAudience", /without oidcIssuer/);
  t.throws(() => loadConfig([...base(), "--no-such-flag"], {}), { instanceOf: ConfigError, message: /usage: kmxd/ });
});
