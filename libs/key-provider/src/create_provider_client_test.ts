/** The provider client's options and server addresses (its KMIP behaviour is in wrap_test.ts, against PyKMIP). */
import test from "ava";
import { createProviderClient, parseKmipServer } from "./create_provider_client.ts";
import { KeyProviderConfigError } from "./errors.ts";

const tls = { cert: "C", key: "K", ca: "A" };

test("parseKmipServer: host:port, [IPv6]:port", (t) => {
  t.deepEqual(parseKmipServer("kms-1.example:5696"), { host: "kms-1.example", port: 5696 });
  t.deepEqual(parseKmipServer("127.0.0.1:1"), { host: "127.0.0.1", port: 1 });
  t.deepEqual(parseKmipServer("[::1]:65535"), { host: "::1", port: 65535 });
  for (const bad of ["kms", "kms:", ":5696", "kms:0", "kms:65536", "kms:56x", "::1:5696", "a b:1", "kms:5696/x", "http://kms:1"]) {
    const e = t.throws(() => parseKmipServer(bad, "kmipServers[0]"), { instanceOf: KeyProviderConfigError }, bad);
    t.is(e?.field, "kmipServers[0]");
  }
});

test("createProviderClient speaks KMIP 1.4 and refuses bad options naming them", (t) => {
  const c = createProviderClient({ servers: [{ host: "kms", port: 5696 }], tls });
  t.deepEqual(c.version, { major: 1, minor: 4 });
  c.close();
  for (const [o, field] of [
    [{ servers: [], tls }, "servers"],
    [
      {
        servers: [
          { host: "kms", port: 5696 },
          { host: "", port: 1 },
        ],
        tls,
      },
      "servers[1].host",
    ],
    [{ servers: [{ host: "kms", port: 70000 }], tls }, "servers[0].port"],
    [{ servers: [{ host: "kms", port: 1 }], tls: { ...tls, key: "" } }, "tls.key"],
    [{ servers: [{ host: "kms", port: 1 }], tls, poolSize: 0 }, "poolSize"],
    [{ servers: [{ host: "kms", port: 1 }], tls, timeoutMs: -1 }, "timeoutMs"],
  ] as const) {
    const e = t.throws(() => createProviderClient(o as unknown as Parameters<typeof createProviderClient>[0]), { instanceOf: KeyProviderConfigError });
    t.is(e?.field, field);
  }
});
