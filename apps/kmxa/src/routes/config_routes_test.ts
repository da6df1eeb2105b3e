/**
 * The agent's settings routes end to end, real components only (attestd, kmipd, kmxd as processes, a swtpm host
 * booted by libs/boot, kmxa in-process): an agent started with a Trust Authority it cannot reach is handed the real
 * one's identity over its socket (PUT /api/v1/ta-identity), attests with it at once, and gets data keys through the
 * imported kmxd from its default provider (PUT /api/v1/key-provider, then POST /api/v1/data-keys); both settings
 * survive a restart (state.json) and win over the command line; the TCP port refuses both changes (403
 * socket-only) and the default-provider key routes; bad bodies are 400 naming the field; without a default
 * provider the default routes answer 409 key-provider-unset.
 */
import test from "ava";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { pino } from "pino";
import { bootedHost, eventually, httpsJson, kmxaArgs, problemCode, startStack, unixJson, type BootedHost, type JsonAnswer, type Stack } from "../_stack_test_support.ts";
import { loadConfig } from "../config.ts";
import { startKmxa, type RunningKmxa } from "../server.ts";
import { statePath } from "../state.ts";

const HOST = "imported.example.test";
const logger = pino({ level: "silent" });

let dir: string;
let stack: Stack;
let host: BootedHost;
let kmxa: RunningKmxa | undefined;
let args: string[];

const sock = (method: string, p: string, body?: unknown): Promise<JsonAnswer> => unixJson(kmxa!.socketPath, method, p, body === undefined ? {} : { body });
const tcp = (method: string, p: string, body?: unknown): Promise<JsonAnswer> => httpsJson(kmxa!.url + p, method, kmxa!.caCert, body === undefined ? {} : { body });

/** The body importing the stack's Trust Authority. */
const identity = (): unknown => ({
  attestd: { url: stack.attestd.url, ca: stack.attestd.ca },
  kmxd: { url: stack.kmxd.url, ca: stack.kmxd.ca },
  cluster: "ta-test",
});

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-config-"));
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [stack, host] = await Promise.all([startStack(dir), bootedHost(manifest, path.join(dir, "host"))]);
  await stack.trustTpm(host.sw);
  await stack.acceptImage("tessera-host", manifest);
  await stack.addProvider("kms-default");
  await stack.kmxdAdmin("POST", "/api/v1/providers/kms-default/grants", { cluster: "default" });
  await eventually("kmxd follows attestd's events", async () =>
    (await httpsJson(`${stack.kmxd.url}/api/v1/health`, "GET", stack.kmxd.ca)).json.status === "ok" ? true : undefined,
  );
  // The command line names a Trust Authority nobody answers for (port 1): only the imported identity can work.
  args = kmxaArgs(stack, host, HOST, path.join(dir, "kmxa"), "https://127.0.0.1:1").map((a) => (a === stack.attestd.url ? "https://127.0.0.1:1" : a));
  kmxa = await startKmxa(loadConfig(args, {}), { logger });
  await eventually("the agent finds attestd unreachable", async () => (kmxa!.agent.status().state === "unreachable" ? true : undefined), 60_000);
});

test.after.always(async () => {
  await kmxa?.close();
  await stack?.stop();
  await host?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("the TCP port refuses both changes and the default-provider key routes (403 socket-only)", async (t) => {
  for (const [p, body] of [
    ["/api/v1/ta-identity", identity()],
    ["/api/v1/key-provider", { name: "kms-default" }],
  ] as const) {
    const r = await tcp("PUT", p, body);
    t.is(r.status, 403, p);
    t.is(problemCode(r), "socket-only");
  }
  const k = await tcp("POST", "/api/v1/data-keys", {});
  t.is(k.status, 403);
  t.is(problemCode(k), "socket-only");
  const g = await tcp("GET", "/api/v1/ta-identity");
  t.is(g.status, 200);
  t.is(g.json.source, "configuration");
  t.is((g.json.attestd as { url: string }).url, "https://127.0.0.1:1");
});

test.serial("bad bodies are 400 naming the field; no default provider is 409 key-provider-unset", async (t) => {
  const notHttps = await sock("PUT", "/api/v1/ta-identity", { ...(identity() as object), attestd: { url: "http://x", ca: stack.attestd.ca } });
  t.is(notHttps.status, 400);
  t.regex(String(notHttps.json.detail), /attestd\.url/);
  const notPem = await sock("PUT", "/api/v1/ta-identity", { ...(identity() as object), kmxd: { url: stack.kmxd.url, ca: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" } });
  t.is(notPem.status, 400);
  t.regex(String(notPem.json.detail), /kmxd\.ca/);
  const badName = await sock("PUT", "/api/v1/key-provider", { name: "../etc" });
  t.is(badName.status, 400);
  const unset = await sock("POST", "/api/v1/data-keys", {});
  t.is(unset.status, 409);
  t.is(problemCode(unset), "key-provider-unset");
  t.is(kmxa!.agent.status().state, "unreachable", "nothing changed");
});

test.serial("an imported identity is used at once: the agent attests with it and gets keys from the imported kmxd's default provider", async (t) => {
  const r = await sock("PUT", "/api/v1/ta-identity", identity());
  t.is(r.status, 200, JSON.stringify(r.json));
  const status = r.json.status as { state: string; host: string };
  t.is(status.state, "attested", JSON.stringify(r.json));
  const ta = r.json.trustAuthority as { source: string; attestd: { url: string }; kmxd: { url: string }; cluster: string };
  t.is(ta.source, "imported");
  t.is(ta.attestd.url, stack.attestd.url);
  t.is(ta.kmxd.url, stack.kmxd.url);
  t.is(ta.cluster, "ta-test");
  const hosts = await stack.attestdAdmin("GET", `/api/v1/hosts/${HOST}`);
  t.is(hosts.json.status, "green");

  const set = await sock("PUT", "/api/v1/key-provider", { name: "kms-default" });
  t.is(set.status, 200);
  t.deepEqual(set.json, { name: "kms-default" });
  const dk = await sock("POST", "/api/v1/data-keys", { bytes: 32 });
  t.is(dk.status, 201, JSON.stringify(dk.json));
  t.is(Buffer.from(String(dk.json.key), "base64").length, 32);
  const again = await sock("POST", "/api/v1/unwrap", { wrapped: dk.json.wrapped });
  t.is(again.status, 200, JSON.stringify(again.json));
  t.is(again.json.key, dk.json.key, "the default provider's unwrap gives the same key");
  const explicit = await sock("POST", "/api/v1/providers/kms-default/unwrap", { wrapped: dk.json.wrapped });
  t.is(explicit.json.key, dk.json.key);

  const state = JSON.parse(await readFile(statePath(path.join(dir, "kmxa")), "utf8")) as Record<string, unknown>;
  t.is((state.trustAuthority as { attestd: { url: string } }).attestd.url, stack.attestd.url);
  t.is((state.keyProvider as { name: string }).name, "kms-default");
  t.false(JSON.stringify(state).includes(String(dk.json.key)), "no key in the state file");
});

test.serial("after a restart with the same command line, the imported identity and the default provider still win", async (t) => {
  await kmxa!.close();
  kmxa = await startKmxa(loadConfig(args, {}), { logger });
  await eventually("attested again with the imported Trust Authority", async () => (kmxa!.agent.status().state === "attested" ? true : undefined), 60_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(kmxa!.agent.status())}`);
  });
  const g = await sock("GET", "/api/v1/ta-identity");
  t.is(g.json.source, "imported");
  t.is((g.json.kmxd as { url: string }).url, stack.kmxd.url);
  t.deepEqual((await sock("GET", "/api/v1/key-provider")).json, { name: "kms-default" });
  const dk = await sock("POST", "/api/v1/data-keys", {});
  t.is(dk.status, 201, JSON.stringify(dk.json));
  // Cleared: the default routes refuse again.
  t.deepEqual((await sock("PUT", "/api/v1/key-provider", { name: null })).json, { name: null });
  t.is((await sock("POST", "/api/v1/data-keys", {})).status, 409);
});
