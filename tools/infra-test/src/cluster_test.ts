/**
 * infra/'s multi-node layout, for real: one PostgreSQL (Debian's), two attestd and two kmxd nodes on it (each
 * its own process, the same master key file per service, certificates from the cluster's one CA), a kmipd, and
 * Debian's nginx in front with the shipped infra/nginx/tessera-locations.conf. A swtpm host's agent (kmxa)
 * talks to nginx only: it attests and gets data keys; then one attestd and one kmxd node are SIGKILLed and the
 * host still attests and still gets keys (the same key unwrapped again) through the others, nginx passing over
 * the dead nodes (seen in its access log). Also: the routing of the paths both services serve.
 */
import test from "ava";
import { spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { bootHost, defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { createProviderClient } from "@tessera/key-provider";
import { startPostgres, type PostgresCluster } from "@tessera/postgres-testing";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import { startSwtpm, type SwtpmInstance } from "@tessera/swtpm-testing";
import { Tpm } from "@tessera/tss";
import {
  eventually,
  freePort,
  httpsJson,
  makeClusterCa,
  makeMasterKey,
  ROOT,
  seedNodeTls,
  startNginx,
  unixJson,
  type ClusterCa,
  type JsonAnswer,
  type Nginx,
} from "./_cluster_test_support.ts";

const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");
const KMXD = path.join(ROOT, "apps/kmxd/bin/kmxd");
const KMXA = path.join(ROOT, "apps/kmxa/bin/kmxa");
const KMIPD = path.join(ROOT, "apps/kmipd/src/main.ts");
const TACTL = path.join(ROOT, "apps/tactl/bin/tactl");
const HOST = "web-1.infra.example.test";
const PROVIDER = "vm-keys";

let dir: string;
let pg: PostgresCluster | undefined;
let ca: ClusterCa;
let nginx: Nginx | undefined;
let sw: SwtpmInstance | undefined;
const procs: ReadyProcess[] = [];
let attestd: ReadyProcess[] = [];
let kmxd: ReadyProcess[] = [];
let kmxa: ReadyProcess;
let socket: string;
let adminPassword: string;
let adminPasswordFile: string;

/** `127.0.0.1:<port>` of a node from its ready line's URL. */
const addr = (p: ReadyProcess): string => new URL(p.match[1]!).host;

async function adminToken(): Promise<string> {
  const r = await httpsJson(`${nginx!.url}/api/v1/auth/token`, "POST", ca.caPem, { body: { user: "admin", password: adminPassword } });
  if (r.status !== 200) throw new Error(`sign-in through nginx: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.token as string;
}

async function admin(method: string, p: string, body?: unknown): Promise<JsonAnswer> {
  const r = await httpsJson(nginx!.url + p, method, ca.caPem, { token: await adminToken(), ...(body !== undefined ? { body } : {}) });
  if (r.status >= 300) throw new Error(`${method} ${p} through nginx: ${r.status} ${JSON.stringify(r.json)}`);
  return r;
}

function failed(what: string): string {
  return `${what}\n${procs.map((p) => p.output().slice(-2000)).join("\n---\n")}`;
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tessera-infra-"));
  ca = await makeClusterCa(dir);
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  const [cluster, nginxPort, booted] = await Promise.all([
    startPostgres(),
    freePort(),
    (async () => {
      const s = await startSwtpm({ pcrBanks: ["sha256"], eccP256Ek: false });
      const tpm = Tpm.open(s.tcti);
      try {
        return { sw: s, log: (await bootHost(tpm, manifest)).log };
      } finally {
        await tpm.close();
      }
    })(),
  ]);
  pg = cluster;
  sw = booted.sw;
  const eventLog = path.join(dir, "binary_bios_measurements");
  await writeFile(eventLog, booted.log);
  const [attestdDb, kmxdDb] = await Promise.all([pg.createDatabase("tessera_attestd"), pg.createDatabase("tessera_kmxd")]);
  const publicUrl = `https://127.0.0.1:${nginxPort}`;
  // One master key per service, the same file for each of its nodes (an operator copies it to every node).
  const attestdKey = await makeMasterKey(path.join(dir, "attestd-master.key"));
  const kmxdKey = await makeMasterKey(path.join(dir, "kmxd-master.key"));
  for (const d of ["attestd-1", "attestd-2", "kmxd-1", "kmxd-2"]) await seedNodeTls(path.join(dir, d), ca);

  const kmipdStarted = spawnReady("kmipd", process.execPath, [KMIPD, "--listen", "127.0.0.1:0", "--data-dir", path.join(dir, "kmipd"), "--threads", "1"], /kmipd: listening on \S+:(\d+)/);
  attestd = await Promise.all(
    ["attestd-1", "attestd-2"].map((name) =>
      spawnReady(
        name,
        ATTESTD,
        [
          ...["--listen", "127.0.0.1:0", "--data-dir", path.join(dir, name), "--database", attestdDb, "--master-key-file", attestdKey],
          ...["--public-url", publicUrl, "--key-provider-url", publicUrl, "--log-level", "warn"],
        ],
        /^attestd: listening on (https:\/\/\S+)/m,
      ),
    ),
  );
  procs.push(...attestd);
  // The first start of the cluster made the `admin` account on whichever node took the bootstrap lock.
  const passwordFile = [path.join(dir, "attestd-1", "admin.password"), path.join(dir, "attestd-2", "admin.password")].find((f) =>
    attestd.some((p) => p.output().includes(f)),
  );
  if (passwordFile === undefined) throw new Error(failed("neither attestd node said it created the admin account"));
  adminPassword = (await readFile(passwordFile, "utf8")).trim();
  adminPasswordFile = passwordFile;
  // kmxd's own attestd account, a reader (infra/README.md step 4), made on the first node directly (nginx is not up yet).
  const first = attestd[0]!.match[1]!;
  const signIn = await httpsJson(`${first}/api/v1/auth/token`, "POST", ca.caPem, { body: { user: "admin", password: adminPassword } });
  const account = await httpsJson(`${first}/api/v1/accounts`, "POST", ca.caPem, {
    token: signIn.json.token as string,
    body: { user: "kmxd", groups: ["TrustedReaders"] },
  });
  if (account.status !== 201) throw new Error(`account kmxd: ${account.status} ${JSON.stringify(account.json)}`);
  const kmxdPasswordFile = path.join(dir, "kmxd-attestd.password");
  await writeFile(kmxdPasswordFile, `${account.json.password as string}\n`, { mode: 0o600 });
  // kmxd follows attestd through nginx too (its JWKS, events and host list): it survives an attestd node's death.
  kmxd = await Promise.all(
    ["kmxd-1", "kmxd-2"].map((name) =>
      spawnReady(
        name,
        KMXD,
        [
          ...["--listen", "127.0.0.1:0", "--data-dir", path.join(dir, name), "--database", kmxdDb, "--master-key-file", kmxdKey, "--public-url", publicUrl],
          ...["--attestd", publicUrl, "--attestd-ca", ca.caFile, "--attestd-user", "kmxd", "--attestd-password-file", kmxdPasswordFile, "--log-level", "warn"],
        ],
        /^kmxd: listening on (https:\/\/\S+)/m,
      ),
    ),
  );
  procs.push(...kmxd);
  const kmipd = await kmipdStarted;
  procs.push(kmipd);
  nginx = await startNginx({ prefix: path.join(dir, "nginx"), port: nginxPort, ca, attestd: attestd.map(addr), kmxd: kmxd.map(addr) });
  // Each kmxd node follows attestd's events through nginx once nginx is up.
  for (const k of kmxd) {
    await eventually(
      `${addr(k)} following attestd's events`,
      async () => {
        const r = await httpsJson(`${k.match[1]!}/api/v1/health`, "GET", ca.caPem);
        return r.json.status === "ok" ? r : undefined;
      },
      45_000,
    );
  }

  // The administrator's set-up, through nginx only: the host's TPM CA and image on attestd, a provider on kmxd.
  await admin("POST", "/api/v1/tpm-cas", { certificates: sw.caCertsPem.join("\n") });
  await admin("POST", "/api/v1/images", { name: "tessera-host", version: "1", manifest });
  const kmipTls = path.join(dir, "kmipd", "tls");
  const tls = {
    cert: await readFile(path.join(kmipTls, "client.pem"), "utf8"),
    key: await readFile(path.join(kmipTls, "client-key.pem"), "utf8"),
    ca: await readFile(path.join(kmipTls, "ca.pem"), "utf8"),
  };
  const kmipPort = Number(kmipd.match[1]);
  const client = createProviderClient({ servers: [{ host: "127.0.0.1", port: kmipPort }], tls });
  let keyId: string;
  try {
    keyId = await client.create({ algorithm: "AES", length: 256, usage: "Encrypt Decrypt", name: "infra-test-primary" });
    await client.activate(keyId);
  } finally {
    client.close();
  }
  await admin("POST", "/kmxd/api/v1/providers", {
    name: PROVIDER,
    kmipServers: [`127.0.0.1:${kmipPort}`],
    keyId,
    serverCa: tls.ca,
    clientCertificate: tls.cert,
    clientKey: tls.key,
    wrapMode: "A256GCM",
  });
  await admin("POST", `/api/v1/providers/${PROVIDER}/grants`, { cluster: "default" });

  // The host: kmxa told nothing but nginx's address and the cluster's CA.
  const kmxaDir = path.join(dir, "kmxa");
  await mkdir(kmxaDir, { recursive: true });
  kmxa = await spawnReady(
    "kmxa",
    KMXA,
    [
      ...["--tcti", sw.tcti, "--host", HOST, "--event-log", eventLog, "--data-dir", kmxaDir, "--listen", "127.0.0.1:0"],
      ...["--attestd", publicUrl, "--attestd-ca", ca.caFile, "--kmxd", publicUrl, "--kmxd-ca", ca.caFile, "--log-level", "warn"],
    ],
    /^kmxa: listening on (https:\/\/\S+) and (\/\S+)$/m,
  );
  procs.push(kmxa);
  socket = kmxa.match[2]!;
});

test.after.always(async () => {
  await nginx?.stop();
  await Promise.all(procs.map((p) => p.stop()));
  await sw?.stop();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The access log's lines as `{ method, uri, status, upstreams }`. */
async function logLines(from = 0): Promise<{ method: string; uri: string; status: number; upstreams: string[] }[]> {
  return (await nginx!.accessLog()).slice(from).map((l) => {
    const [method = "", uri = "", status = "0", ...rest] = l.split(" ");
    return { method, uri, status: Number(status), upstreams: rest.join(" ").split(/\s*,\s*|\s+:\s+/).filter((u) => u !== "" && u !== "-") };
  });
}

async function attested(): Promise<Record<string, unknown>> {
  const r = await unixJson(socket, "POST", "/api/v1/attest");
  if (r.status !== 200 || r.json.state !== "attested") throw new Error(failed(`kmxa attest: ${r.status} ${JSON.stringify(r.json)}`));
  return r.json;
}

async function dataKey(): Promise<{ wrapped: string; key: string }> {
  const r = await unixJson(socket, "POST", `/api/v1/providers/${PROVIDER}/data-keys`, { bytes: 32 });
  if (r.status !== 201 && r.status !== 200) throw new Error(failed(`kmxa data-keys: ${r.status} ${JSON.stringify(r.json)}`));
  return { wrapped: r.json.wrapped as string, key: r.json.key as string };
}

async function unwrap(wrapped: string): Promise<string> {
  const r = await unixJson(socket, "POST", `/api/v1/providers/${PROVIDER}/unwrap`, { wrapped });
  if (r.status !== 200) throw new Error(failed(`kmxa unwrap: ${r.status} ${JSON.stringify(r.json)}`));
  return r.json.key as string;
}

test.serial("nginx routes PROTOCOL.md's paths at the root, and each service whole under /attestd/ and /kmxd/", async (t) => {
  const token = await adminToken();
  const get = (p: string, withToken = false): Promise<JsonAnswer> => httpsJson(nginx!.url + p, "GET", ca.caPem, withToken ? { token } : {});
  const title = (r: JsonAnswer): string => String((r.json.info as { title?: string } | undefined)?.title);
  t.true(Array.isArray((await get("/.well-known/jwks.json")).json.keys));
  t.regex(title(await get("/api/v1/openapi.json")), /attestd/);
  t.regex(title(await get("/attestd/api/v1/openapi.json")), /attestd/);
  t.regex(title(await get("/kmxd/api/v1/openapi.json")), /kmxd/);
  const health = await get("/api/v1/health");
  t.is(health.status, 200);
  t.is(health.json.attestdEvents, "connected");
  t.is((await get("/kmxd/api/v1/health")).status, 200);
  // The clashing admin paths: attestd's at the root and under /attestd/, kmxd's under /kmxd/.
  for (const p of ["/api/v1/whoami", "/attestd/api/v1/whoami", "/kmxd/api/v1/whoami", "/api/v1/audit", "/attestd/api/v1/audit", "/kmxd/api/v1/audit"]) {
    t.is((await get(p, true)).status, 200, p);
  }
  const lines = await logLines();
  const attestdNodes = new Set(attestd.map(addr));
  const kmxdNodes = new Set(kmxd.map(addr));
  const servedBy = (uri: string): Set<string> => new Set(lines.filter((l) => l.uri === uri).flatMap((l) => l.upstreams));
  for (const uri of ["/api/v1/whoami", "/api/v1/audit", "/api/v1/openapi.json", "/.well-known/jwks.json"]) {
    t.true([...servedBy(uri)].every((u) => attestdNodes.has(u)), `${uri} reached attestd only: ${[...servedBy(uri)].join(" ")}`);
  }
  t.true([...servedBy("/api/v1/health")].every((u) => kmxdNodes.has(u)));
  t.true(servedBy("/api/v1/health").size > 0);
  // Host paths of kmxd never reach attestd, and an unknown provider is kmxd's problem document.
  const unknown = await httpsJson(`${nginx!.url}/api/v1/providers/nope/data-keys`, "POST", ca.caPem, { body: { bytes: 32 }, token: "x.y.z" });
  t.is(unknown.status, 401);
  t.regex(String(unknown.json.type), /^urn:tessera:problem:token-/);

  // attestd's event stream under the prefix too (the root one is what kmxd follows).
  const stream = await new Promise<{ status: number; type: string; first: string }>((resolve, reject) => {
    const req = httpsRequest(`${nginx!.url}/attestd/api/v1/events`, { ca: ca.caPem, agent: false, headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" } }, (res) => {
      res.setEncoding("utf8");
      res.once("data", (d: string) => {
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), first: d });
        req.destroy();
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error("no event in 30 s")));
    req.on("error", reject);
    req.end();
  });
  t.is(stream.status, 200);
  t.regex(stream.type, /^text\/event-stream/);

  // What the administrator uses: tactl with the prefixed base URLs (`tactl ta` → /attestd, `tactl kp` → /kmxd).
  const env = { ...process.env, TESSERA_HOME: path.join(dir, "tactl-home") };
  const tactl = (args: string[]): Promise<{ code: number | null; out: string }> => runWith(TACTL, args, env);
  const mark = (await nginx!.accessLog()).length;
  const login = await tactl(["ta", "login", "--server", `${nginx!.url}/attestd`, "--ca", ca.caFile, "--user", "admin", "--password-file", adminPasswordFile]);
  t.is(login.code, 0, login.out);
  const whoami = await tactl(["ta", "whoami", "--json"]);
  t.is(whoami.code, 0, whoami.out);
  t.regex(whoami.out, /TrustedAdmins/);
  const providers = await tactl(["kp", "list", "--server", `${nginx!.url}/kmxd`, "--ca", ca.caFile, "--json"]);
  t.is(providers.code, 0, providers.out);
  t.regex(providers.out, new RegExp(PROVIDER));
  const audit = await tactl(["kp", "audit", "--server", `${nginx!.url}/kmxd`, "--ca", ca.caFile, "--json"]);
  t.is(audit.code, 0, audit.out);
  const viaTactl = await logLines(mark);
  t.true(viaTactl.some((l) => l.uri === "/attestd/api/v1/whoami" && l.upstreams.every((u) => attestdNodes.has(u))));
  t.true(viaTactl.some((l) => l.uri === "/kmxd/api/v1/audit" && l.status === 200 && l.upstreams.every((u) => kmxdNodes.has(u))), viaTactl.map((l) => l.uri).join(" "));
});

/** Runs a command to its end with `env`. */
function runWith(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
  });
}

test.serial("a host attests and gets keys through nginx; with one attestd and one kmxd node SIGKILLed it still does, through the others", async (t) => {
  const first = await eventually(
    "kmxa attested through nginx",
    async () => {
      const r = await unixJson(socket, "GET", "/api/v1/status");
      return r.json.state === "attested" ? r.json : undefined;
    },
    60_000,
  ).catch((e: Error) => {
    throw new Error(failed(e.message));
  });
  t.is(first.host, HOST);
  // Enough requests that both nodes of each service serve some (nginx's round robin).
  const before: { wrapped: string; key: string }[] = [];
  for (let i = 0; i < 4; i++) {
    await attested();
    before.push(await dataKey());
  }
  t.is(Buffer.from(before[0]!.key, "base64").length, 32);
  t.is(await unwrap(before[0]!.wrapped), before[0]!.key);
  const served = await logLines();
  const okBy = (prefix: string): Set<string> =>
    new Set(served.filter((l) => l.uri.startsWith(prefix) && l.status < 300).flatMap((l) => l.upstreams.slice(-1)));
  t.deepEqual([...okBy("/api/v1/hosts/")].sort(), attestd.map(addr).sort(), "both attestd nodes served the host");
  t.deepEqual([...okBy("/api/v1/providers/")].sort(), kmxd.map(addr).sort(), "both kmxd nodes served the host");

  const mark = served.length;
  const deadAttestd = addr(attestd[0]!);
  const deadKmxd = addr(kmxd[0]!);
  await Promise.all([attestd[0]!.stop("SIGKILL"), kmxd[0]!.stop("SIGKILL")]);
  t.is(attestd[0]!.child.signalCode, "SIGKILL");
  t.is(kmxd[0]!.child.signalCode, "SIGKILL");

  let lastToken = first.tokenExpiresAt;
  for (let i = 0; i < 3; i++) {
    const st = await attested();
    t.is(st.state, "attested");
    lastToken = st.tokenExpiresAt;
  }
  t.truthy(lastToken);
  const after: { wrapped: string; key: string }[] = [];
  for (let i = 0; i < 4; i++) after.push(await dataKey());
  t.is(new Set(after.map((k) => k.key)).size, 4, "four distinct data keys");
  // Keys made before the failure are still opened, through the surviving kmxd node.
  for (const k of before) t.is(await unwrap(k.wrapped), k.key);
  const status = await unixJson(socket, "GET", "/api/v1/status");
  t.is(status.json.state, "attested");
  // The cluster's view, from the surviving attestd node: the host is green.
  const view = await admin("GET", `/api/v1/hosts/${HOST}`);
  t.is(view.json.status, "green", JSON.stringify(view.json));

  // nginx passed over the dead nodes: every host request after the kill was answered by a live node, and some
  // were first tried on a dead one (the access log's upstream list names both).
  const afterKill = await logLines(mark);
  const hostLines = afterKill.filter((l) => l.uri.startsWith("/api/v1/hosts/") || l.uri.startsWith("/api/v1/providers/"));
  t.true(hostLines.length >= 3 + 4 + 4, `host requests logged after the kill: ${hostLines.length}`);
  for (const l of hostLines) {
    t.true(l.status < 300, `${l.method} ${l.uri} answered ${l.status}`);
    const last = l.upstreams.at(-1);
    t.true(last !== deadAttestd && last !== deadKmxd, `${l.uri} answered by ${last}`);
  }
  t.true(
    afterKill.some((l) => l.upstreams.includes(deadAttestd) && l.upstreams.length > 1),
    `a request passed over the dead attestd ${deadAttestd}:\n${afterKill.map((l) => `${l.uri} ${l.upstreams.join(",")}`).join("\n")}`,
  );
  t.true(
    afterKill.some((l) => l.upstreams.includes(deadKmxd) && l.upstreams.length > 1),
    `a request passed over the dead kmxd ${deadKmxd}:\n${afterKill.map((l) => `${l.uri} ${l.upstreams.join(",")}`).join("\n")}`,
  );
});
