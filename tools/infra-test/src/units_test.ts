/**
 * infra/'s systemd units, service users and example configuration files: every unit passes `systemd-analyze
 * verify` without a diagnostic and `systemd-analyze security --offline` under an exposure of 2.5; each holds the
 * hardening directives infra/ promises (dedicated user, ProtectSystem=strict, ProtectHome, NoNewPrivileges,
 * PrivateTmp, an empty capability bounding set, its data directory writable) and only kmxa may use the TPM;
 * systemd-sysusers accepts the users file; each example configuration loads with its app's own config loader, and
 * all of them name the one public address; kmipd's environment file names only variables kmipd reads; nginx
 * accepts the shipped site file.
 */
import test from "ava";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadConfig as loadAttestdConfig } from "@tessera/attestd";
import { loadConfig as loadKmxaConfig } from "@tessera/kmxa";
import { loadConfig as loadKmxdConfig } from "@tessera/kmxd";
import { createCa, issueCertificate } from "@tessera/pki";
import { ensureDebianPackages } from "@tessera/swtpm-testing";
import { ensureNginx, NGINX, ROOT, run } from "./_cluster_test_support.ts";

const INFRA = path.join(ROOT, "infra");
const UNITS = ["attestd", "kmxd", "kmipd", "kmxa"] as const;
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";

let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tessera-units-"));
  // The units name /opt/tessera (the checkout's install place): the copies verified here name this checkout, so
  // systemd-analyze finds the launchers it checks.
  await mkdir(path.join(dir, "units"));
  for (const u of UNITS) {
    const text = await readFile(path.join(INFRA, "systemd", `${u}.service`), "utf8");
    await writeFile(path.join(dir, "units", `${u}.service`), text.replaceAll("/opt/tessera/", `${ROOT}/`));
  }
  if (!existsSync(SYSTEMD_ANALYZE)) {
    try {
      ensureDebianPackages(["systemd"]);
    } catch (e) {
      throw new Error(`systemd-analyze is missing and systemd could not be installed: ${(e as Error).message}`, { cause: e });
    }
  }
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A unit file as sections of (key, value) pairs in order (keys repeat: SystemCallFilter=…). */
function parseUnit(text: string, file: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section) {
      current = [];
      sections.set(section[1]!, current);
      return;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || current === undefined) throw new Error(`${file}:${i + 1}: not a key=value line inside a section: ${raw}`);
    current.push([kv[1]!, kv[2]!]);
  });
  return sections;
}

/** The last value of `key` in `[Service]` (systemd's rule for single-valued settings), or undefined. */
function service(unit: Map<string, [string, string][]>, key: string): string | undefined {
  return unit.get("Service")?.filter(([k]) => k === key).at(-1)?.[1];
}

test("every unit passes systemd-analyze verify without a diagnostic", async (t) => {
  for (const u of UNITS) {
    const file = path.join(dir, "units", `${u}.service`);
    const r = await run(SYSTEMD_ANALYZE, ["verify", "--man=no", file]);
    t.is(r.code, 0, `${u}.service: ${r.out}`);
    // systemd-analyze exits 0 on an unknown key or a bad value ("…, ignoring"): any output is a failure here.
    t.is(r.out.trim(), "", `${u}.service: ${r.out}`);
  }
});

test("every unit's exposure (systemd-analyze security --offline) is at most 2.5", async (t) => {
  for (const u of UNITS) {
    const r = await run(SYSTEMD_ANALYZE, ["security", "--offline=yes", "--threshold=25", "--no-pager", path.join(dir, "units", `${u}.service`)]);
    t.is(r.code, 0, `${u}.service:\n${r.out.split("\n").filter((l) => l.includes("✗") || l.includes("Overall")).join("\n")}`);
  }
});

test("every unit holds the promised hardening; only kmxa gets the TPM", async (t) => {
  for (const u of UNITS) {
    const file = path.join(INFRA, "systemd", `${u}.service`);
    const unit = parseUnit(await readFile(file, "utf8"), file);
    const s = (k: string): string | undefined => service(unit, k);
    t.is(s("User"), `tessera-${u}`, `${u}: User`);
    t.is(s("Group"), `tessera-${u}`, `${u}: Group`);
    for (const [k, v] of [
      ["NoNewPrivileges", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["CapabilityBoundingSet", ""],
      ["AmbientCapabilities", ""],
      ["RestrictSUIDSGID", "yes"],
      ["UMask", "0077"],
      ["StateDirectory", `tessera/${u}`],
      ["StateDirectoryMode", "0700"],
      ["ReadWritePaths", `/var/lib/tessera/${u}`],
    ] as const) {
      t.is(s(k), v, `${u}: ${k}`);
    }
    t.regex(s("ExecStart") ?? "", new RegExp(`^/opt/tessera/apps/${u}/bin/${u}\\b`), `${u}: ExecStart`);
    t.is(s("DevicePolicy"), "closed", `${u}: DevicePolicy`);
    const deviceAllow = unit.get("Service")!.filter(([k]) => k === "DeviceAllow").map(([, v]) => v);
    if (u === "kmxa") {
      t.deepEqual(deviceAllow, ["/dev/tpmrm0 rw"]);
      t.is(s("SupplementaryGroups"), "tss");
      // PrivateDevices= would hide /dev/tpmrm0.
      t.is(s("PrivateDevices"), undefined);
    } else {
      t.deepEqual(deviceAllow, [], `${u}: no device allowed`);
      t.is(s("PrivateDevices"), "yes", `${u}: PrivateDevices`);
      t.is(s("SupplementaryGroups"), undefined, `${u}: no supplementary group`);
    }
  }
});

test("systemd-sysusers accepts infra/sysusers.d/tessera.conf and makes the four users, kmxa's in tss", async (t) => {
  const root = path.join(dir, "sysroot");
  await mkdir(path.join(root, "etc"), { recursive: true });
  const r = await run("systemd-sysusers", [`--root=${root}`, "--dry-run", path.join(INFRA, "sysusers.d", "tessera.conf")]);
  t.is(r.code, 0, r.out);
  for (const u of UNITS) t.regex(r.out, new RegExp(`Creating user 'tessera-${u}'`));
  const text = await readFile(path.join(INFRA, "sysusers.d", "tessera.conf"), "utf8");
  t.regex(text, /^m tessera-kmxa tss$/m);
});

/** Writes the example `name` with each /etc/tessera/… path replaced by a file of the right kind in `dir`. */
async function materialize(name: string, files: Record<string, string>): Promise<{ file: string; json: Record<string, unknown> }> {
  const json = JSON.parse(await readFile(path.join(INFRA, "config", name), "utf8")) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (typeof v === "string" && v.startsWith("/etc/tessera/")) {
      const f = path.join(dir, "etc", path.basename(v));
      await mkdir(path.dirname(f), { recursive: true });
      const content = files[k];
      if (content === undefined) throw new Error(`${name}: ${k} names ${v}, which the test cannot stand in for`);
      await writeFile(f, content, { mode: 0o600 });
      out[k] = f;
    } else {
      out[k] = v;
    }
  }
  const file = path.join(dir, "etc", `example-${name}`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(out));
  return { file, json };
}

test("each example configuration loads with its app's loader, and all of them name the one public address", async (t) => {
  const ca = await createCa({ commonName: "example CA", keyAlgorithm: "ecdsa-p256" });
  const files = { attestdCa: ca.certificatePem, kmxdCa: ca.certificatePem, attestdPasswordFile: "example-password\n" };
  const a = await materialize("attestd.json", files);
  const x = await materialize("kmxd.json", files);
  const h = await materialize("kmxa.json", files);
  const attestd = loadAttestdConfig(["--config", a.file], {});
  const kmxd = loadKmxdConfig(["--config", x.file], {});
  const kmxa = loadKmxaConfig(["--config", h.file], {});
  const publicUrl = attestd.publicUrl;
  t.is(publicUrl, "https://ta.example.com");
  t.truthy(attestd.database);
  t.truthy(kmxd.database);
  t.is(attestd.keyProviderUrl, publicUrl);
  t.is(kmxd.publicUrl, publicUrl);
  t.is(kmxd.attestd.url, publicUrl, "kmxd follows attestd through nginx");
  t.is(kmxd.attestd.issuer, publicUrl, "kmxd checks the tokens' iss against attestd's public URL");
  t.is(kmxd.attestd.password, "example-password");
  t.is(kmxa.attestd.url, publicUrl, "the agent talks to the one address for attestd");
  t.is(kmxa.kmxd.url, publicUrl, "and for kmxd");
  t.is(kmxa.socket, "/run/kmxa/kmxa.sock");
  t.is(kmxa.eventLog, "/run/kmxa/binary_bios_measurements", "the copy kmxa.service's ExecStartPre makes");
  t.is(attestd.dataDir, "/var/lib/tessera/attestd");
  t.is(kmxd.dataDir, "/var/lib/tessera/kmxd");
  t.is(kmxa.dataDir, "/var/lib/tessera/kmxa");
  t.is(kmxa.tcti, "device:/dev/tpmrm0");
});

test("kmipd.env names only variables kmipd reads", async (t) => {
  const source = await readFile(path.join(ROOT, "apps/kmipd/src/config.ts"), "utf8");
  const known = new Set(source.match(/KMIPD_[A-Z_]+/g) ?? []);
  const names = (await readFile(path.join(INFRA, "config", "kmipd.env"), "utf8"))
    .split("\n")
    .map((l) => /^#?(KMIPD_[A-Z_]+)=/.exec(l.trim())?.[1])
    .filter((n): n is string => n !== undefined);
  t.true(names.length >= 5);
  for (const n of names) t.true(known.has(n), `${n} is not read by kmipd`);
});

test("nginx accepts the shipped site file (nginx -t) with its locations file", async (t) => {
  ensureNginx();
  const prefix = path.join(dir, "nginx-site");
  await mkdir(path.join(prefix, "logs"), { recursive: true });
  const ca = await createCa({ commonName: "site CA", keyAlgorithm: "ecdsa-p256" });
  const server = await issueCertificate(ca, { commonName: "ta.example.com", profile: "server", dnsNames: ["ta.example.com"], keyAlgorithm: "ecdsa-p256" });
  const paths: Record<string, string> = {
    "/etc/tessera/tls/ta.example.com.pem": server.certificatePem,
    "/etc/tessera/tls/ta.example.com-key.pem": server.privateKeyPem!,
    "/etc/tessera/tls/ca.pem": ca.certificatePem,
  };
  let site = await readFile(path.join(INFRA, "nginx", "tessera.conf"), "utf8");
  for (const [p, content] of Object.entries(paths)) {
    const f = path.join(prefix, path.basename(p));
    await writeFile(f, content, { mode: 0o600 });
    site = site.replaceAll(p, f);
  }
  site = site
    .replaceAll("/etc/nginx/tessera/tessera-locations.conf", path.join(INFRA, "nginx", "tessera-locations.conf"))
    .replaceAll("/var/log/nginx/", `${prefix}/logs/`);
  t.notRegex(site, /\/etc\/tessera\//, "every /etc/tessera path was replaced");
  await writeFile(path.join(prefix, "site.conf"), site);
  await writeFile(
    path.join(prefix, "nginx.conf"),
    `pid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log;\nevents {}\nhttp {\n  include ${prefix}/site.conf;\n}\n`,
  );
  const r = await run(NGINX, ["-t", "-p", prefix, "-e", `${prefix}/logs/error.log`, "-c", path.join(prefix, "nginx.conf")]);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /test is successful/);
  t.deepEqual((await readdir(path.join(INFRA, "nginx"))).sort(), ["tessera-locations.conf", "tessera.conf"]);
});
