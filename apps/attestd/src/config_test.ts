/**
 * loadConfig: defaults, precedence (flags over environment over file), and a bad value failing with the
 * exact field and where it came from; the listen address parser holds for every host:port.
 */
import test from "ava";
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "@tessera/http";
import { clusterName, loadConfig, withBoundPort } from "./config.ts";

test("defaults: 127.0.0.1:7889, ./attestd-data, SQLite, https://<listen>, <data-dir>/master.key, info; frozen", (t) => {
  const c = loadConfig([], {});
  t.deepEqual(c.listen, { host: "127.0.0.1", port: 7889 });
  t.is(c.dataDir, path.resolve("attestd-data"));
  t.is(c.database, undefined);
  t.is(c.publicUrl, "https://127.0.0.1:7889");
  t.is(c.masterKeyFile, path.join(path.resolve("attestd-data"), "master.key"));
  t.is(c.logLevel, "info");
  t.is(c.historyDays, 30);
  t.true(Object.isFrozen(c) && Object.isFrozen(c.listen));
});

test("history days: from a flag or the environment; 0, a fraction or over ten years is refused naming the field", (t) => {
  t.is(loadConfig(["--history-days", "7"], {}).historyDays, 7);
  t.is(loadConfig([], { ATTESTD_HISTORY_DAYS: "400" }).historyDays, 400);
  for (const v of ["0", "1.5", "3651", "a week"]) {
    const e = t.throws(() => loadConfig(["--history-days", v], {}), { instanceOf: ConfigError }) as ConfigError;
    t.is(e.field, "historyDays", v);
  }
});

test("flags win over the environment, which wins over the file", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "attestd-config-"));
  try {
    const file = path.join(dir, "attestd.json");
    await writeFile(file, JSON.stringify({ listen: "0.0.0.0:1000", dataDir: "/from/file", logLevel: "debug", database: "postgres://file/db" }));
    const c = loadConfig(["--config", file, "--listen", "[::1]:7000"], { ATTESTD_DATA_DIR: "/from/env" });
    t.deepEqual(c.listen, { host: "::1", port: 7000 });
    t.is(c.dataDir, "/from/env");
    t.is(c.logLevel, "debug");
    t.is(c.database, "postgres://file/db");
    t.is(c.publicUrl, "https://[::1]:7000");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a bad value names the field and its source", (t) => {
  const bad = (argv: string[], env: Record<string, string> = {}) => t.throws(() => loadConfig(argv, env), { instanceOf: ConfigError }) as ConfigError;
  const port = bad(["--listen", "127.0.0.1:70000"]);
  t.is(port.field, "listen");
  t.is(port.source, "flags");
  const db = bad([], { ATTESTD_DATABASE: "mysql://x" });
  t.is(db.field, "database");
  t.is(db.source, "environment");
  t.regex(db.message, /postgres/);
  t.is(bad(["--public-url", "http://insecure.example"]).field, "publicUrl");
  t.is(bad(["--log-level", "loud"]).field, "logLevel");
  t.is(bad(["--nonsense", "1"]).source, "flags");
});

test("property: every host:port within range parses back to itself; ports beyond 65535 are refused", (t) => {
  fc.assert(
    fc.property(fc.domain(), fc.integer({ min: 0, max: 65535 }), (host, port) => {
      const c = loadConfig(["--listen", `${host}:${port}`], {});
      return c.listen.host === host && c.listen.port === port;
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 65536, max: 99999 }), (port) => {
      try {
        loadConfig(["--listen", `h:${port}`], {});
        return false;
      } catch (e) {
        return e instanceof ConfigError && e.field === "listen";
      }
    }),
  );
  t.pass();
});

test("withBoundPort: port 0 and the default public URL take the bound port; a configured URL or port stays", (t) => {
  t.is(withBoundPort(loadConfig(["--listen", "127.0.0.1:0"], {}), 41234).publicUrl, "https://127.0.0.1:41234");
  t.is(withBoundPort(loadConfig(["--listen", "[::1]:0"], {}), 41234).publicUrl, "https://[::1]:41234");
  t.is(withBoundPort(loadConfig(["--listen", "0.0.0.0:0"], {}), 41234).publicUrl, "https://127.0.0.1:41234");
  t.is(withBoundPort(loadConfig(["--listen", "127.0.0.1:0", "--public-url", "https://ta.example.com"], {}), 41234).publicUrl, "https://ta.example.com");
  t.is(withBoundPort(loadConfig(["--listen", "127.0.0.1:7000"], {}), 7000).publicUrl, "https://127.0.0.1:7000");
});

test("cluster, key provider URL and OIDC issuer (audience, CA file) from flags, the environment or the file; the cluster defaults to the public URL's host", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "attestd-config-"));
  try {
    const caFile = path.join(dir, "idp-ca.pem");
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    await writeFile(caFile, pem);
    const flags = loadConfig(
      ["--cluster", "ta-east", "--key-provider-url", "https://kmx.example.com:7888/", "--oidc-issuer", "https://idp.example.com/", "--oidc-audience", "tessera", "--oidc-ca", caFile],
      {},
    );
    t.is(flags.cluster, "ta-east");
    t.is(clusterName(flags), "ta-east");
    t.is(flags.keyProviderUrl, "https://kmx.example.com:7888");
    t.deepEqual(flags.oidc, { issuer: "https://idp.example.com", audience: "tessera", ca: pem });
    const env = loadConfig([], { ATTESTD_CLUSTER: "ta-west", ATTESTD_OIDC_ISSUER: "https://idp.example.com", ATTESTD_KEY_PROVIDER_URL: "https://kmx.example.com" });
    t.is(env.cluster, "ta-west");
    t.deepEqual(env.oidc, { issuer: "https://idp.example.com" });
    const file = path.join(dir, "attestd.json");
    await writeFile(file, JSON.stringify({ cluster: "ta-file", oidcIssuer: "https://idp.example.com", oidcAudience: "aud" }));
    const fromFile = loadConfig(["--config", file], {});
    t.is(fromFile.cluster, "ta-file");
    t.deepEqual(fromFile.oidc, { issuer: "https://idp.example.com", audience: "aud" });
    const plain = loadConfig(["--public-url", "https://ta.example.com:7889"], {});
    t.is(plain.cluster, undefined);
    t.is(plain.oidc, undefined);
    t.is(clusterName(plain), "ta.example.com");

    const bad = (argv: string[], env: Record<string, string> = {}) => t.throws(() => loadConfig(argv, env), { instanceOf: ConfigError }) as ConfigError;
    t.is(bad(["--oidc-audience", "tessera"]).field, "oidcAudience");
    t.is(bad([], { ATTESTD_OIDC_CA: caFile }).field, "oidcCa");
    const missing = bad(["--oidc-issuer", "https://idp.example.com", "--oidc-ca", path.join(dir, "nope.pem")]);
    t.is(missing.field, "oidcCa");
    t.regex(missing.message, /nope\.pem/);
    await writeFile(path.join(dir, "empty.pem"), "not a certificate");
    t.is(bad(["--oidc-issuer", "https://idp.example.com", "--oidc-ca", path.join(dir, "empty.pem")]).field, "oidcCa");
    t.is(bad(["--oidc-issuer", "http://idp.example.com"]).field, "oidcIssuer");
    t.is(bad(["--key-provider-url", "kmx.example.com"]).field, "keyProviderUrl");
    t.is(bad(["--cluster", "no spaces"]).field, "cluster");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
