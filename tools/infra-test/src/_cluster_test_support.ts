/**
 * Test support of the multi-node layout test: the cluster's one CA (the operator's, copied into every node's
 * data directory before its first start so each node issues its server certificate from it), the shared master
 * key files, real nginx (Debian's package, installed when missing) run in the foreground with a configuration
 * generated around infra/nginx/tessera-locations.conf, and JSON over HTTPS or a Unix socket.
 * @module
 */
import { eventually, freePort } from "@tessera/process-testing";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import path from "node:path";
import { createCa, issueCertificate, type IssuingCa } from "@tessera/pki";
import { ensureDebianPackages } from "@tessera/swtpm-testing";

/** The repository's root. */
export const ROOT = path.resolve(import.meta.dirname, "../../..");
/** The shipped routing rules the test's nginx includes verbatim. */
export const LOCATIONS_CONF = path.join(ROOT, "infra/nginx/tessera-locations.conf");
/** Debian's nginx binary. */
export const NGINX = "/usr/sbin/nginx";

/** An answer: status, headers and the JSON body (`{}` when empty, `{text}` when not JSON). */
export interface JsonAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

function answer(res: IncomingMessage, resolve: (a: JsonAnswer) => void): void {
  let text = "";
  res.setEncoding("utf8");
  res.on("data", (d: string) => (text += d));
  res.on("end", () => {
    let json: Record<string, unknown>;
    try {
      json = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      json = { text };
    }
    resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
  });
}

function headers(body: string | undefined, token: string | undefined): Record<string, string> {
  return {
    accept: "application/json",
    ...(body !== undefined ? { "content-type": "application/json" } : {}),
    ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
  };
}

/** One JSON request over HTTPS trusting `ca` (a fresh connection each time: no agent keeps one to a dead node). */
export function httpsJson(url: string, method: string, ca: string, o: { body?: unknown; token?: string } = {}): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    const req = httpsRequest(url, { method, ca, agent: false, headers: headers(body, o.token) }, (res) => answer(res, resolve));
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url}: no answer in 30 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** One JSON request over a Unix socket (plain HTTP): kmxa's local API. */
export function unixJson(socketPath: string, method: string, p: string, body?: unknown): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest({ socketPath, path: p, method, headers: { host: "localhost", ...headers(text, undefined) } }, (res) => answer(res, resolve));
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${p} on ${socketPath}: no answer in 60 s`)));
    req.on("error", reject);
    req.end(text);
  });
}

export { eventually };

export { freePort };

/** The Trust Authority cluster's one CA, as infra/nginx/tessera.conf describes it. */
export interface ClusterCa {
  ca: IssuingCa;
  /** `<dir>/ca.pem`: what hosts, kmxd and nginx trust. */
  caFile: string;
  caPem: string;
}

/** Creates the cluster's CA in `dir`. */
export async function makeClusterCa(dir: string): Promise<ClusterCa> {
  const ca = await createCa({ commonName: "Tessera test Trust Authority CA", keyAlgorithm: "ecdsa-p256" });
  const caFile = path.join(dir, "ca.pem");
  await writeFile(caFile, ca.certificatePem, { mode: 0o644 });
  return { ca, caFile, caPem: ca.certificatePem };
}

/**
 * Prepares a node's data directory as an operator would before its first start: `<dataDir>/tls/` (0700) holding
 * the cluster's CA and its key, so the node issues its own server certificate from it.
 */
export async function seedNodeTls(dataDir: string, c: ClusterCa): Promise<void> {
  const tls = path.join(dataDir, "tls");
  await mkdir(tls, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  await writeFile(path.join(tls, "ca.pem"), c.ca.certificatePem, { mode: 0o644 });
  await writeFile(path.join(tls, "ca-key.pem"), c.ca.privateKeyPem, { mode: 0o600 });
}

/** Writes a new 32-byte master key file (0600), to be given to every node of one service. */
export async function makeMasterKey(file: string): Promise<string> {
  await writeFile(file, randomBytes(32), { mode: 0o600 });
  return file;
}

/** Installs Debian's nginx when its binary is missing; fails loudly otherwise. */
export function ensureNginx(): void {
  if (existsSync(NGINX)) return;
  try {
    ensureDebianPackages(["nginx"]);
  } catch (e) {
    throw new Error(`nginx is not installed and could not be installed: ${(e as Error).message}`, { cause: e });
  }
  if (!existsSync(NGINX)) throw new Error(`the nginx package is installed but ${NGINX} is not there`);
}

/** A running nginx (foreground, its own prefix directory). */
export interface Nginx {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  port: number;
  prefix: string;
  /** The access log: one line per request, `method uri status upstream_addr`. */
  accessLog(): Promise<string[]>;
  /** Its error log so far. */
  errorLog(): Promise<string>;
  child: ChildProcess;
  /** SIGQUIT (graceful), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startNginx}. */
export interface NginxOptions {
  prefix: string;
  port: number;
  ca: ClusterCa;
  /** `host:port` of each attestd node, and of each kmxd node. */
  attestd: readonly string[];
  kmxd: readonly string[];
}

/**
 * The configuration nginx runs with: infra/nginx/tessera.conf's shape (two upstream groups with keepalive, a TLS
 * server, the nodes' certificates checked against the cluster's CA) on loopback, with the shipped
 * tessera-locations.conf included as is.
 */
export function nginxConf(o: NginxOptions, files: { cert: string; key: string }): string {
  const upstream = (name: string, nodes: readonly string[]): string =>
    `  upstream ${name} {\n${nodes.map((n) => `    server ${n} max_fails=1 fail_timeout=10s;\n`).join("")}    keepalive 8;\n  }\n`;
  const p = o.prefix;
  return `${process.getuid?.() === 0 ? "user root root;\n" : ""}daemon off;
master_process on;
worker_processes 1;
pid ${p}/nginx.pid;
error_log ${p}/logs/error.log info;
events { worker_connections 512; }
http {
  log_format tessera '$request_method $uri $status $upstream_addr';
  access_log ${p}/logs/access.log tessera;
  client_body_temp_path ${p}/tmp/body;
  proxy_temp_path ${p}/tmp/proxy;
  fastcgi_temp_path ${p}/tmp/fastcgi;
  uwsgi_temp_path ${p}/tmp/uwsgi;
  scgi_temp_path ${p}/tmp/scgi;
${upstream("tessera_attestd", o.attestd)}${upstream("tessera_kmxd", o.kmxd)}
  server {
    listen 127.0.0.1:${o.port} ssl;
    server_name localhost;
    ssl_certificate ${files.cert};
    ssl_certificate_key ${files.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_ssl_trusted_certificate ${o.ca.caFile};
    proxy_ssl_name localhost;
    proxy_ssl_server_name on;
    include ${LOCATIONS_CONF};
  }
}
`;
}

/**
 * Starts nginx in the foreground (`daemon off`, `-p prefix`, pid file and logs in the prefix) on loopback with a
 * certificate from the cluster's CA, and waits until it answers.
 */
export async function startNginx(o: NginxOptions): Promise<Nginx> {
  ensureNginx();
  for (const d of ["logs", "tmp", "conf"]) await mkdir(path.join(o.prefix, d), { recursive: true });
  const server = await issueCertificate(o.ca.ca, {
    commonName: "localhost",
    profile: "server",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    keyAlgorithm: "ecdsa-p256",
  });
  const cert = path.join(o.prefix, "conf", "server.pem");
  const key = path.join(o.prefix, "conf", "server-key.pem");
  await writeFile(cert, server.certificatePem);
  await writeFile(key, server.privateKeyPem!, { mode: 0o600 });
  const conf = path.join(o.prefix, "conf", "nginx.conf");
  await writeFile(conf, nginxConf(o, { cert, key }));
  const errorLogFile = path.join(o.prefix, "logs", "error.log");
  const check = await run(NGINX, ["-t", "-q", "-p", o.prefix, "-e", errorLogFile, "-c", conf]);
  if (check.code !== 0) throw new Error(`nginx -t refused the configuration:\n${check.out}\n${await readFile(conf, "utf8")}`);
  const child = spawn(NGINX, ["-p", o.prefix, "-e", errorLogFile, "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = once(child, "exit");
  let stopping: Promise<void> | undefined;
  const url = `https://127.0.0.1:${o.port}`;
  const nginx: Nginx = {
    url,
    port: o.port,
    prefix: o.prefix,
    child,
    async accessLog() {
      const f = path.join(o.prefix, "logs", "access.log");
      return existsSync(f) ? (await readFile(f, "utf8")).split("\n").filter((l) => l !== "") : [];
    },
    errorLog: () => readFile(errorLogFile, "utf8").catch(() => ""),
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  try {
    await eventually(
      "nginx answering",
      async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${out}${await nginx.errorLog()}`);
        const r = await httpsJson(`${url}/.well-known/jwks.json`, "GET", o.ca.caPem);
        return r.status === 200 ? r : undefined;
      },
      20_000,
    );
  } catch (e) {
    await nginx.stop();
    throw e;
  }
  return nginx;
}

/** Runs a command to its end. */
export function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
  });
}
