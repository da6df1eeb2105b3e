import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import {
  boundPublicUrl,
  defaultPublicUrl,
  ListenAddress,
  loadServiceConfig,
  readPemField,
  resolveServiceConfig,
  serviceConfigFields,
  serviceConfigSchema,
  withBoundPort,
} from "./service_config.ts";

const fields = { listen: ["listen", "SVC_LISTEN"], dataDir: ["data-dir", "SVC_DATA_DIR"] } as const;
const schema = z.object({ listen: ListenAddress.default({ host: "127.0.0.1", port: 7000 }), dataDir: z.string().min(1, "is empty").default("d") });
const dir = mkdtempSync(path.join(tmpdir(), "svc-config-"));
const load = (argv: string[], env: Record<string, string> = {}) =>
  loadServiceConfig({ argv, env, fields, fileVariable: "SVC_CONFIG", usage: "usage: svc", schema });

test("flags win over the environment, which wins over the file; each field says where it came from", (t) => {
  const file = path.join(dir, "c.json");
  writeFileSync(file, JSON.stringify({ listen: "10.0.0.1:1", dataDir: "from-file" }));
  const c = load(["--config", file, "--listen", "[::1]:0"], { SVC_LISTEN: "1.2.3.4:5", SVC_DATA_DIR: "from-env" });
  t.deepEqual(c.values, { listen: { host: "::1", port: 0 }, dataDir: "from-env" });
  t.is(c.sourceOf("listen"), "flags");
  t.is(c.sourceOf("dataDir"), "environment");
  const d = load([], { SVC_CONFIG: file });
  t.is(d.values.dataDir, "from-file");
  t.is(d.sourceOf("dataDir"), file);
  t.deepEqual(load([]).values, { listen: { host: "127.0.0.1", port: 7000 }, dataDir: "d" });
  t.is(load([]).sourceOf("listen"), "defaults");
});

test("errors name the field and its source: a bad value, an unknown flag, an unknown file key, a file that is not JSON", (t) => {
  const e1 = t.throws(() => load([], { SVC_LISTEN: "nope" }), { instanceOf: ConfigError });
  t.is(e1?.field, "listen");
  t.is(e1?.source, "environment");
  t.regex(e1?.message ?? "", /"nope" is not HOST:PORT/);
  t.regex(t.throws(() => load(["--port", "1"]), { instanceOf: ConfigError })?.message ?? "", /usage: svc/);
  const file = path.join(dir, "extra.json");
  writeFileSync(file, JSON.stringify({ listne: "1.2.3.4:5" }));
  const e2 = t.throws(() => load(["--config", file]), { instanceOf: ConfigError });
  t.is(e2?.source, file);
  t.is(e2?.field, "listne");
  t.regex(e2?.message ?? "", /is not a configuration field \(the fields: listen, dataDir\)/);
  const bad = path.join(dir, "bad.json");
  writeFileSync(bad, "{");
  t.regex(t.throws(() => load(["--config", bad]), { instanceOf: ConfigError })?.message ?? "", /cannot read it as JSON/);
  t.throws(() => load([], { SVC_LISTEN: "h:65536" }), { instanceOf: ConfigError, message: /65535/ });
});

test("public URLs: the default names the listen address; port 0 is replaced by the bound port only when defaulted", (t) => {
  t.is(defaultPublicUrl("0.0.0.0", 7889), "https://127.0.0.1:7889");
  t.is(defaultPublicUrl("::1", 1), "https://[::1]:1");
  t.is(boundPublicUrl({ host: "127.0.0.1", port: 0 }, "https://127.0.0.1:0", 4242), "https://127.0.0.1:4242");
  t.is(boundPublicUrl({ host: "127.0.0.1", port: 0 }, "https://ta.example", 4242), "https://ta.example");
  t.is(boundPublicUrl({ host: "127.0.0.1", port: 7 }, "https://127.0.0.1:7", 7), "https://127.0.0.1:7");
});

test("readPemField: reads a certificate file; a missing file or one without a certificate names the field", (t) => {
  const ok = path.join(dir, "ca.pem");
  writeFileSync(ok, "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n");
  t.regex(readPemField("ca", ok, "flags"), /BEGIN CERTIFICATE/);
  t.is(t.throws(() => readPemField("ca", path.join(dir, "missing.pem"), "flags"), { instanceOf: ConfigError })?.field, "ca");
  const notPem = path.join(dir, "x.pem");
  writeFileSync(notPem, "hello");
  t.regex(t.throws(() => readPemField("ca", notPem, "environment"), { instanceOf: ConfigError })?.message ?? "", /holds no PEM certificate/);
});

test("the service core: flags and variables per prefix, defaults resolved, OIDC options only with an issuer", (t) => {
  t.deepEqual(serviceConfigFields("KMXD").dataDir, ["data-dir", "KMXD_DATA_DIR"]);
  t.deepEqual(serviceConfigFields("ATTESTD").oidcCa, ["oidc-ca", "ATTESTD_OIDC_CA"]);
  const core = z.object(serviceConfigSchema({ port: 7000, dataDir: "svc-data" }));
  const fields = serviceConfigFields("SVC");
  const load = (argv: string[]) => {
    const { values, sourceOf } = loadServiceConfig({ argv, env: {}, fields, fileVariable: "SVC_CONFIG", usage: "u", schema: core });
    return resolveServiceConfig(values, sourceOf);
  };
  const c = load([]);
  t.is(c.dataDir, path.resolve("svc-data"));
  t.is(c.masterKeyFile, path.join(path.resolve("svc-data"), "master.key"));
  t.is(c.publicUrl, "https://127.0.0.1:7000");
  t.is(c.oidc, undefined);
  t.is(load(["--oidc-issuer", "https://idp.example/"]).oidc?.issuer, "https://idp.example");
  const e = t.throws(() => load(["--oidc-audience", "a"]), { instanceOf: ConfigError });
  t.is(e?.field, "oidcAudience");
  t.is(e?.source, "flags");
  const bound = withBoundPort(load(["--listen", "127.0.0.1:0"]), 4321);
  t.is(bound.publicUrl, "https://127.0.0.1:4321");
});
