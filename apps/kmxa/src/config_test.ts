/**
 * kmxa's configuration: defaults, flags over the environment over the file, the CA files read at start, and every
 * bad value named with its field and source.
 */
import test from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError } from "@tessera/http";
import { DEFAULT_EVENT_LOG, loadConfig } from "./config.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const CA2 = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
let dir: string;
let caFile: string;
let ca2File: string;

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmxa-config-"));
  caFile = path.join(dir, "ca.pem");
  ca2File = path.join(dir, "ca2.pem");
  await writeFile(caFile, CA);
  await writeFile(ca2File, CA2);
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const base = (): string[] => ["--tcti", "swtpm:host=127.0.0.1,port=2321", "--attestd", "https://ta.example:7889/", "--attestd-ca", caFile, "--kmxd", "https://ta.example:7888", "--kmxd-ca", ca2File];

function configError(t: import("ava").ExecutionContext, fn: () => unknown): ConfigError {
  const e = t.throws(fn, { instanceOf: ConfigError });
  return e;
}

test("defaults: host from the system (lower-cased), data dir ./kmxa-data, socket in it, 127.0.0.1:7890, 300 s, ek auto, ak rsa", (t) => {
  const c = loadConfig(base(), {}, "Node-7.Example.TEST");
  t.is(c.host, "node-7.example.test");
  t.is(c.tcti, "swtpm:host=127.0.0.1,port=2321");
  t.deepEqual(c.attestd, { url: "https://ta.example:7889", ca: CA });
  t.deepEqual(c.kmxd, { url: "https://ta.example:7888", ca: CA2 });
  t.is(c.dataDir, path.resolve("kmxa-data"));
  t.is(c.socket, path.join(path.resolve("kmxa-data"), "kmxa.sock"));
  t.deepEqual(c.listen, { host: "127.0.0.1", port: 7890 });
  t.is(c.eventLog, DEFAULT_EVENT_LOG);
  t.is(c.intervalSeconds, 300);
  t.is(c.logLevel, "info");
  t.is(c.ek, "auto");
  t.is(c.ak, "rsa");
  t.true(Object.isFrozen(c) && Object.isFrozen(c.attestd) && Object.isFrozen(c.listen));
});

test("flags over the environment over the file", async (t) => {
  const file = path.join(dir, "kmxa.json");
  await writeFile(file, JSON.stringify({ host: "from-file", interval: 60, dataDir: path.join(dir, "file-data"), ak: "ecc" }));
  const c = loadConfig([...base(), "--config", file, "--interval", "30"], { KMXA_HOST: "from-env", KMXA_EK: "ecc-p256", KMXA_SOCKET: path.join(dir, "s.sock") });
  t.is(c.host, "from-env");
  t.is(c.intervalSeconds, 30);
  t.is(c.dataDir, path.join(dir, "file-data"));
  t.is(c.socket, path.join(dir, "s.sock"));
  t.is(c.ak, "ecc");
  t.is(c.ek, "ecc-p256");
  const envOnly = loadConfig([], {
    KMXA_TCTI: "device:/dev/tpmrm0",
    KMXA_ATTESTD: "https://a.example",
    KMXA_ATTESTD_CA: caFile,
    KMXA_KMXD: "https://k.example",
    KMXA_KMXD_CA: caFile,
    KMXA_HOST: "h",
    KMXA_EVENT_LOG: "rel/log.bin",
    KMXA_LISTEN: "[::1]:0",
  });
  t.is(envOnly.tcti, "device:/dev/tpmrm0");
  t.is(envOnly.eventLog, path.resolve("rel/log.bin"));
  t.deepEqual(envOnly.listen, { host: "::1", port: 0 });
});

test("every bad value is named with its field and source", (t) => {
  const cases: [string[], Record<string, string>, string, RegExp][] = [
    [["--tcti", "tcp:1"], {}, "tcti", /unknown transport "tcp"/],
    [["--tcti", "swtpm:port=99999"], {}, "tcti", /not a TCP port/],
    [["--attestd", "http://ta.example"], {}, "attestd", /https/],
    [["--kmxd", "nope"], {}, "kmxd", /https/],
    [["--host", "Bad_Host"], {}, "host", /a-z 0-9/],
    [["--interval", "2"], {}, "interval", /at least 5/],
    [["--interval", "1.5"], {}, "interval", /whole number/],
    [["--listen", "7890"], {}, "listen", /HOST:PORT/],
    [["--ek", "dsa"], {}, "ek", /./],
    [["--ak", "rsa4096"], {}, "ak", /./],
    [["--log-level", "loud"], {}, "logLevel", /./],
    [["--attestd-ca", path.join(dir, "missing.pem")], {}, "attestdCa", /cannot read/],
    [[], { KMXA_KMXD_CA: path.join(dir, "kmxa.json") }, "kmxdCa", /no PEM certificate/],
    [["--socket", path.join(dir, "x".repeat(120), "kmxa.sock")], {}, "socket", /longer than 107 bytes/],
  ];
  for (const [flags, env, field, re] of cases) {
    const argv = [...base()];
    for (let i = 0; i < flags.length; i += 2) {
      const at = argv.indexOf(flags[i]!);
      if (at >= 0) argv.splice(at, 2);
      argv.push(flags[i]!, flags[i + 1]!);
    }
    const envArgv = Object.keys(env).length > 0 ? argv.filter((_, i, a) => a[i] !== "--kmxd-ca" && a[i - 1] !== "--kmxd-ca") : argv;
    const e = configError(t, () => loadConfig(envArgv, env, "h"));
    t.is(e.field, field, `${flags.join(" ")}: ${e.message}`);
    t.is(e.source, Object.keys(env).length > 0 ? "environment" : "flags");
    t.regex(e.message, re);
  }
});

test("a system host name that is not a PROTOCOL.md host name asks for --host; a long data dir for a shorter socket", (t) => {
  const e = configError(t, () => loadConfig(base(), {}, "host_with_underscore"));
  t.is(e.field, "host");
  t.regex(e.message, /give --host/);
  const long = configError(t, () => loadConfig([...base(), "--data-dir", path.join(dir, "d".repeat(110))], {}, "h"));
  t.is(long.field, "dataDir");
  t.regex(long.message, /give a shorter --socket/);
});

test("missing required fields are named", (t) => {
  for (const field of ["tcti", "attestd", "attestdCa", "kmxd", "kmxdCa"]) {
    const flag = `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const argv = base();
    argv.splice(argv.indexOf(flag), 2);
    const e = configError(t, () => loadConfig(argv, {}, "h"));
    t.is(e.field, field);
  }
});

test("an unknown flag or file key is refused with the usage", async (t) => {
  t.regex(configError(t, () => loadConfig([...base(), "--tpm", "x"], {}, "h")).message, /usage: kmxa/);
  const file = path.join(dir, "typo.json");
  await writeFile(file, JSON.stringify({ intervall: 5 }));
  const e = configError(t, () => loadConfig([...base(), "--config", file], {}, "h"));
  t.is(e.field, "intervall");
  t.is(e.source, file);
});
