/**
 * A node as a whole: the first start (data directory, TLS, master key, admin account printed once), the
 * process started from bin/attestd, the 1 MiB body limit before parsing, and a restart on the same data
 * directory that keeps hosts, bindings, images and signing keys (a token issued before verifies after).
 */
import test from "ava";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { Tpm } from "@tessera/tss";
import { decodeJwt } from "jose";
import pino from "pino";
import { loadConfig } from "./config.ts";
import { startAttestd } from "./server.ts";
import { issueAttestationToken } from "./token.ts";
import {
  acceptImage,
  BOOT_SELECTION,
  bootedHost,
  challenge,
  request,
  startTestNode,
  trustSwtpmCa,
  tssEnroll,
  tssEvidence,
  verifyWithJwks,
  type BootedHost,
} from "./_test_support.ts";

const BIN = fileURLToPath(new URL("../bin/attestd", import.meta.url));

let host: BootedHost;
let tpm: Tpm;
let manifest: ReturnType<typeof defaultHostImage>;

test.before(async () => {
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  host = await bootedHost(manifest);
  tpm = Tpm.open(host.sw.tcti);
});

test.after.always(async () => {
  await tpm?.close();
  await host?.sw.stop();
});

test.serial("restart on the same data directory keeps hosts, bindings, images and signing keys: a token issued before verifies after", async (t) => {
  const first = await startTestNode();
  try {
    await trustSwtpmCa(first.store, host.sw);
    await acceptImage(first.store, manifest);
    await first.store.putSettings({ pcrSelection: BOOT_SELECTION });
    const h = await tssEnroll(first, "restart.example.test", host, tpm, "rsa2048");
    const before = await first.call("POST", "/api/v1/hosts/restart.example.test/attestations", await tssEvidence(h, await challenge(first, "restart.example.test")));
    t.is(before.status, 200, JSON.stringify(before.json));
    const jwksBefore = (await first.call("GET", "/.well-known/jwks.json")).json;
    await first.stop();

    const second = await startTestNode({ dataDir: first.dataDir });
    try {
      t.is(second.node.adminPasswordFile, undefined, "the admin account is created once");
      // The token of the first run verifies against the restarted node's JWKS.
      const claims = await verifyWithJwks(before.json.token as string, second.url, second.node.caCert);
      t.is(claims.sub, "restart.example.test");
      t.deepEqual((await second.call("GET", "/.well-known/jwks.json")).json, jwksBefore);
      // The binding (AK), the image, the trust and the settings survived: the host attests again without enrolling.
      t.truthy(await second.store.getHost("restart.example.test"));
      const after = await second.call("POST", "/api/v1/hosts/restart.example.test/attestations", await tssEvidence(h, await challenge(second, "restart.example.test")));
      t.is(after.status, 200, JSON.stringify(after.json));
      t.is((await second.store.getHostStatus("restart.example.test", Date.now()))?.status, "green");
      t.is((await second.store.listAttestations("restart.example.test", 10)).length, 2);
    } finally {
      await second.remove();
    }
  } finally {
    await first.remove();
  }
});

test.serial("the node prunes attestation history older than --history-days by itself, keeping each host's last attempt", async (t) => {
  const now = Date.now();
  const day = 86_400_000;
  const n = await startTestNode({ config: { historyDays: 2 }, purgeIntervalMs: 50 });
  try {
    const at = (ms: number, id: string) => ({ id, host: "old.example.test", at: ms, status: "affirming" as const, failures: [] });
    await n.store.addAttestation(at(now - 5 * day, "a-5d"));
    await n.store.addAttestation(at(now - 3 * day, "a-3d"));
    await n.store.addAttestation(at(now - 1 * day, "a-1d"));
    await n.store.addAttestation({ ...at(now - 4 * day, "b-4d"), host: "quiet.example.test" });
    const ids = async (host: string) => (await n.store.listAttestations(host, 10)).map((a) => a.id);
    for (let i = 0; i < 200 && (await ids("old.example.test")).length > 1; i++) await new Promise((r) => setTimeout(r, 25));
    t.deepEqual(await ids("old.example.test"), ["a-1d"], "older than two days: pruned");
    t.deepEqual(await ids("quiet.example.test"), ["b-4d"], "a host's last attempt stays, however old");
  } finally {
    await n.remove();
  }
});

test.serial("a body over 1 MiB is refused with 413 before it is parsed (declared, and chunked)", async (t) => {
  const n = await startTestNode();
  try {
    const big = new Uint8Array(1024 * 1024 + 1).fill(0x20); // not even JSON: it must never be parsed
    const declared = await request(`${n.url}/api/v1/hosts/big.example.test/attestations`, "POST", big, n.node.caCert);
    t.is(declared.status, 413);
    t.is(declared.json.type, "urn:tessera:problem:body-too-large");
    const chunked = await request(`${n.url}/api/v1/hosts/big.example.test/enrollments`, "POST", big, n.node.caCert, { "transfer-encoding": "chunked" }).catch(
      (e: unknown) => ({ status: -1, json: String(e) }),
    );
    t.is(chunked.status, 413, JSON.stringify(chunked.json));
    // Just under the limit the body is read and parsed: a bad request, not a too large one.
    const under = await request(`${n.url}/api/v1/hosts/big.example.test/enrollments`, "POST", big.subarray(0, 1024 * 1024), n.node.caCert);
    t.is(under.status, 400);
  } finally {
    await n.remove();
  }
});

test.serial("attestd serves under an operator's hardening and tuning flags: --disallow-code-generation-from-strings and V8 heap flags", async (t) => {
  // Node refuses V8 flags in a Worker's explicit execArgv (the SQLite writer thread once had one), and the codec
  // generates code only where the process allows it: neither may stop attestd from starting or answering.
  const dir = await mkdtemp(path.join(os.tmpdir(), "attestd-flags-"));
  const data = path.join(dir, "D");
  const main = fileURLToPath(new URL("./main.ts", import.meta.url));
  const flags = ["--disallow-code-generation-from-strings", "--max-old-space-size=512", "--max-semi-space-size=8", "--single-threaded-gc"];
  const child = spawn(process.execPath, [...flags, main, "--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "silent"], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const seen = (d: string) => {
        out += d;
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      };
      child.stdout.setEncoding("utf8").on("data", seen);
      child.stderr.setEncoding("utf8").on("data", seen);
      child.once("close", (code) => reject(new Error(`attestd exited ${code}: ${out}`)));
    });
    const ca = await readFile(path.join(data, "tls", "ca.pem"), "utf8");
    const jwks = await request(`${url}/.well-known/jwks.json`, "GET", undefined, ca);
    t.is(jwks.status, 200);
    t.is((jwks.json as { keys: unknown[] }).keys.length, 1);
    const password = (await readFile(path.join(data, "admin.password"), "utf8")).trim();
    t.is((await request(`${url}/api/v1/auth/token`, "POST", { user: "admin", password: `${password}x` }, ca)).status, 401);
    const signIn = await request(`${url}/api/v1/auth/token`, "POST", { user: "admin", password }, ca);
    t.is(signIn.status, 200, JSON.stringify(signIn.json));
    // A write through the writer thread: a challenge's nonce is stored before it is answered.
    const challenged = await request(`${url}/api/v1/hosts/flags.example.test/challenges`, "POST", undefined, ca);
    t.is(challenged.status, 201, JSON.stringify(challenged.json));
    t.regex((challenged.json as { nonce: string }).nonce, /^[0-9a-f]{64}$/);
  } finally {
    child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial("first start from bin/attestd: D/ 0700, D/tls/, D/master.key 0600, admin password file 0600 printed once; a bad flag names the field", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "attestd-bin-"));
  const data = path.join(dir, "D");
  try {
    const startOnce = () =>
      new Promise<{ out: string }>((resolve, reject) => {
        const child = spawn(BIN, ["--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "silent"], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => {
          out += d;
          if (out.includes("listening on")) child.kill("SIGTERM");
        });
        child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.on("error", reject);
        child.on("close", (code) => (out.includes("listening on") ? resolve({ out }) : reject(new Error(`attestd exited ${code}: ${out}`))));
      });
    const first = await startOnce();
    const passwordFile = path.join(data, "admin.password");
    t.true(first.out.includes(passwordFile), first.out);
    t.is((await stat(data)).mode & 0o777, 0o700);
    t.is((await stat(path.join(data, "master.key"))).mode & 0o777, 0o600);
    t.is((await stat(passwordFile)).mode & 0o777, 0o600);
    t.true((await stat(path.join(data, "tls"))).isDirectory());
    const password = (await readFile(passwordFile, "utf8")).trim();
    t.true(password.length >= 16);
    const second = await startOnce();
    t.false(second.out.includes("admin.password"), second.out);
    t.is((await readFile(passwordFile, "utf8")).trim(), password);

    const bad = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(BIN, ["--listen", "127.0.0.1:99999", "--data-dir", data], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      child.on("close", (code) => resolve({ code, err }));
    });
    t.is(bad.code, 2);
    t.regex(bad.err, /flags: field listen/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial("--listen 127.0.0.1:0 without --public-url: the tokens' iss and the exported identity name the bound port, not 0", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "attestd-port0-"));
  const n = await startAttestd(loadConfig(["--listen", "127.0.0.1:0", "--data-dir", dir], {}), { logger: pino({ level: "silent" }), print: () => undefined });
  try {
    t.not(n.port, 0);
    t.is(n.deps.config.publicUrl, `https://127.0.0.1:${n.port}`);
    const password = (await readFile(path.join(dir, "admin.password"), "utf8")).trim();
    const login = await request(`${n.url}/api/v1/auth/token`, "POST", { user: "admin", password }, n.caCert);
    t.is(login.status, 200, JSON.stringify(login.json));
    t.is(decodeJwt(login.json.token as string).iss, `https://127.0.0.1:${n.port}`);
    const identity = await request(`${n.url}/api/v1/identity`, "GET", undefined, n.caCert, { authorization: `Bearer ${login.json.token as string}` });
    t.is(identity.status, 200, JSON.stringify(identity.json));
    t.is(identity.json.attestationService, `https://127.0.0.1:${n.port}`);
  } finally {
    await n.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial("--cluster and --key-provider-url: the EAR carries tessera.trustedCluster, the identity names both; no token without a quoted PCR digest", async (t) => {
  const n = await startTestNode({ config: { cluster: "ta-east", keyProviderUrl: "https://kmx.example.com:7888" } });
  try {
    await trustSwtpmCa(n.store, host.sw);
    await acceptImage(n.store, manifest);
    await n.store.putSettings({ pcrSelection: BOOT_SELECTION });
    const h = await tssEnroll(n, "cluster.example.test", host, tpm, "rsa2048");
    const r = await n.call("POST", "/api/v1/hosts/cluster.example.test/attestations", await tssEvidence(h, await challenge(n, "cluster.example.test"), { bindingKey: false }));
    t.is(r.status, 200, JSON.stringify(r.json));
    const claims = await verifyWithJwks(r.json.token as string, n.url, n.node.caCert);
    const tessera = claims["tessera"] as { trustedCluster?: string; pcrDigest: string; pcrSelection: string };
    t.is(tessera.trustedCluster, "ta-east");
    t.regex(tessera.pcrDigest, /^[0-9a-f]{64}$/);
    t.is(tessera.pcrSelection, BOOT_SELECTION);

    const password = (await readFile(path.join(n.dataDir, "admin.password"), "utf8")).trim();
    const login = await n.call("POST", "/api/v1/auth/token", { user: "admin", password });
    const identity = await request(`${n.url}/api/v1/identity`, "GET", undefined, n.node.caCert, { authorization: `Bearer ${login.json.token as string}` });
    t.is(identity.status, 200, JSON.stringify(identity.json));
    t.is(identity.json.cluster, "ta-east");
    t.is(identity.json.keyProviderService, "https://kmx.example.com:7888");

    const enrolled = await n.store.getHost("cluster.example.test");
    if (enrolled === undefined) throw new Error("not enrolled");
    const verdict = { status: "affirming" as const, failures: [], secureBoot: true };
    await t.throwsAsync(
      issueAttestationToken(n.node.deps, { host: "cluster.example.test", nonce: "ab".repeat(32), enrolled, verdict, lifetimeSeconds: 60, now: Date.now() }),
      { message: /quoted PCR selection and digest/ },
    );
  } finally {
    await n.remove();
  }
});

test.serial("a challenge is built from the settings last read and stored only while they are current: a change made behind the node's back applies to the next challenge; settings that keep changing give 503", async (t) => {
  const n = await startTestNode();
  try {
    await n.store.putSettings({ pcrSelection: BOOT_SELECTION });
    t.is((await challenge(n, "settings.example.test")).pcrSelection, BOOT_SELECTION, "read and cached by this challenge");
    // Another node of the database (here: the store itself) changes them; this node's cache is stale.
    await n.store.putSettings({ pcrSelection: "sha256:0,1,2,3,4,5,6,7,14" });
    const c = await challenge(n, "settings.example.test");
    t.is(c.pcrSelection, "sha256:0,1,2,3,4,5,6,7,14", "the store refused the stale build; the node built it again");
    t.true((await n.store.peekNonce("settings.example.test", c.nonce, Date.now())).ok, "and stored it once");

    // A store whose settings change at every attempt: the node gives up after a few, with 503 and nothing stored.
    const store = n.node.deps.store as { putNonceIf: typeof n.store.putNonceIf };
    const real = store.putNonceIf;
    let attempts = 0;
    store.putNonceIf = async () => {
      attempts++;
      await n.store.putSettings({ pcrSelection: `sha256:0,1,2,3,4,5,6,7,${attempts % 2 === 0 ? 14 : 15}` });
      return { ok: false, stamp: await n.store.getPolicyStamp() };
    };
    try {
      const r = await n.call("POST", "/api/v1/hosts/settings.example.test/challenges");
      t.is(r.status, 503);
      t.is((r.json as { type: string }).type, "urn:tessera:problem:settings-changing");
      t.is((r.json as { retryAfterSeconds: number }).retryAfterSeconds, 1);
      t.is(attempts, 5);
    } finally {
      store.putNonceIf = real;
    }
    t.is((await n.call("POST", "/api/v1/hosts/settings.example.test/challenges")).status, 201);
  } finally {
    await n.remove();
  }
});
