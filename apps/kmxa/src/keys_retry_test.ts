/**
 * The one retry of the key service: kmxd refuses, for its age, a token the agent still takes for valid (the agent's
 * clock runs ten minutes behind; attestd's tokens live 30 s, and once one runs out attestd reports the host `stale`,
 * so kmxd answers 403 host-untrusted with hostStatus stale, or 401 token-expired past its clock tolerance), so kmxa attests again and sends the request once
 * more — the caller gets its key, and the agent holds a new token. Real attestd, kmipd and kmxd
 * processes and a swtpm host; its own Trust Authority because it shortens the token lifetime.
 */
import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { CLOCK_TOLERANCE_SECONDS } from "@tessera/tokens";
import { pino } from "pino";
import { bootedHost, eventually, httpsJson, kmxaArgs, startStack, unixJson, type BootedHost, type Stack } from "./_stack_test_support.ts";
import { loadConfig } from "./config.ts";
import { startKmxa, type RunningKmxa } from "./server.ts";

const HOST = "late.example.test";
const BEHIND_MS = 10 * 60_000;

let dir: string;
let stack: Stack;
let host: BootedHost;
let kmxa: RunningKmxa;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-retry-"));
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [stack, host] = await Promise.all([startStack(dir), bootedHost(manifest, path.join(dir, "host"))]);
  await stack.trustTpm(host.sw);
  await stack.acceptImage("tessera-host", manifest);
  const s = await stack.attestdAdmin("PATCH", "/api/v1/settings", { tokenLifetimeSeconds: 30 });
  if (s.status !== 200) throw new Error(`settings: ${s.status} ${JSON.stringify(s.json)}`);
  await stack.addProvider("kms-1");
  await stack.kmxdAdmin("POST", "/api/v1/providers/kms-1/grants", { cluster: "default" });
  await eventually("kmxd follows attestd's events", async () =>
    (await httpsJson(`${stack.kmxd.url}/api/v1/health`, "GET", stack.kmxd.ca)).json.status === "ok" ? true : undefined,
  );
  kmxa = await startKmxa(loadConfig(kmxaArgs(stack, host, HOST, path.join(dir, "kmxa")), {}), {
    logger: pino({ level: "silent" }),
    clock: { now: () => Date.now() - BEHIND_MS },
  });
  await eventually("attested", async () => (kmxa.agent.status().state === "attested" ? true : undefined), 60_000);
});

test.after.always(async () => {
  await kmxa?.close();
  await stack?.stop();
  await host?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a token kmxd refuses for its age (host stale) makes the agent attest again and the request is sent once more", async (t) => {
  const first = await kmxa.agent.token();
  // Real time past the token's expiry and kmxd's 30 s clock tolerance, so kmxd refuses it whether attestd's stale
  // event has arrived (403 host-untrusted, stale) or not (401 token-expired); by the agent's clock it has ten
  // minutes left, so the agent still hands it out.
  await eventually("the token expired", async () => (Date.now() > first.expiresAt + (CLOCK_TOLERANCE_SECONDS + 2) * 1000 ? true : undefined), 90_000);
  t.is((await kmxa.agent.token()).token, first.token, "the agent still takes its token for valid");
  const g = await unixJson(kmxa.socketPath, "POST", "/api/v1/providers/kms-1/data-keys", { body: {} });
  t.is(g.status, 201, JSON.stringify(g.json));
  t.is(Buffer.from(g.json.key as string, "base64").length, 32);
  const now = await kmxa.agent.token();
  t.not(now.token, first.token, "a new token was obtained");
  t.true(now.expiresAt > first.expiresAt);
  const u = await unixJson(kmxa.socketPath, "POST", "/api/v1/providers/kms-1/unwrap", { body: { wrapped: g.json.wrapped } });
  t.is(u.json.key, g.json.key);
});
