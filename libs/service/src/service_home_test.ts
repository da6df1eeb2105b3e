import test from "ava";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { prepareServiceHome } from "./service_home.ts";

test("first start makes D (0700), D/tls and the master key (0600); a second start reuses them", async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), "svc-home-"));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dataDir = path.join(root, "d");
  const logged: string[] = [];
  const log = { warn: (_f: Record<string, unknown>, m: string) => logged.push(`warn ${m}`), info: (_f: Record<string, unknown>, m: string) => logged.push(`info ${m}`) };
  const o = { service: "demo", dataDir, listenHost: "0.0.0.0", publicUrl: "https://ta.example.test:7889", masterKeyFile: path.join(dataDir, "master.key"), log };
  const first = await prepareServiceHome(o);
  t.is((await stat(dataDir)).mode & 0o777, 0o700);
  t.is((await stat(o.masterKeyFile)).mode & 0o777, 0o600);
  t.deepEqual(logged, ["info master key created"]);
  const cert = new X509Certificate(first.tls.cert);
  t.true(cert.checkIssued(new X509Certificate(first.tls.caCert)));
  t.regex(cert.subjectAltName ?? "", /DNS:ta\.example\.test/);
  t.regex(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  t.notRegex(cert.subjectAltName ?? "", /0\.0\.0\.0/);
  const sealed = first.keyring.wrap("ctx", new Uint8Array([1, 2, 3]));
  const second = await prepareServiceHome(o);
  t.is(second.tls.caCert, first.tls.caCert);
  t.deepEqual(second.keyring.unwrap("ctx", sealed), new Uint8Array([1, 2, 3]));
  t.deepEqual(logged, ["info master key created"], "nothing new the second time");
});
