/**
 * The one retry of the key service: kmxd refuses a token for its age only (401 `token-expired`, or 403
 * `host-untrusted` with hostStatus `stale`: attestd reports a host stale once its token runs out) — the race of a
 * token that expires between the agent's check and kmxd's. The agent (KA1's, real, over a swtpm host) renews its
 * tokens at 80 % of their life, so the race is made deterministic by handing the key service the agent's first
 * token until it asks the agent to attest again: then the real agent's current token. Real attestd, kmipd and kmxd
 * processes; attestd's tokens live 30 s; its own Trust Authority because of that setting.
 */
import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { CLOCK_TOLERANCE_SECONDS } from "@tessera/tokens";
import { pino } from "pino";
import { bootedHost, eventually, httpsJson, kmxaArgs, startStack, type BootedHost, type Stack } from "./_stack_test_support.ts";
import { createAgent } from "./agent.ts";
import type { Agent } from "./agent_types.ts";
import { loadConfig } from "./config.ts";
import { createKeyService, KeyRequestError, type KeyAgent } from "./keys.ts";

const HOST = "late.example.test";

let dir: string;
let stack: Stack;
let host: BootedHost;
let agent: Agent;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-retry-"));
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [stack, host] = await Promise.all([startStack(dir), bootedHost(manifest, path.join(dir, "host"))]);
  await stack.trustTpm(host.sw);
  await stack.acceptImage("tessera-host", manifest);
  const s = await stack.attestdAdmin("PATCH", "/api/v1/settings", { tokenLifetimeSeconds: 30 });
  if (s.status !== 200) throw new Error(`settings: ${s.status} ${JSON.stringify(s.json)}`);
  await stack.addProvider("kms-1");
  await stack.addProvider("kms-2");
  await stack.kmxdAdmin("POST", "/api/v1/providers/kms-1/grants", { cluster: "default" });
  await eventually("kmxd follows attestd's events", async () =>
    (await httpsJson(`${stack.kmxd.url}/api/v1/health`, "GET", stack.kmxd.ca)).json.status === "ok" ? true : undefined,
  );
  agent = await createAgent(loadConfig(kmxaArgs(stack, host, HOST, path.join(dir, "kmxa")), {}), { logger: pino({ level: "silent" }) });
  await eventually("attested", async () => (agent.status().state === "attested" ? true : undefined), 60_000);
});

test.after.always(async () => {
  await agent?.close();
  await stack?.stop();
  await host?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a token kmxd refuses for its age makes the agent attest again and the request is sent once more; other refusals are not retried", async (t) => {
  const first = await agent.token();
  let held: { token: string; expiresAt: number } | undefined = first;
  let attests = 0;
  const racing: KeyAgent = {
    token: async () => held ?? agent.token(),
    rsaDecrypt: (c) => agent.rsaDecrypt(c),
    attestNow: async () => {
      attests++;
      held = undefined;
      return agent.attestNow();
    },
  };
  const keys = createKeyService({ kmxdUrl: stack.kmxd.url, kmxdCa: stack.kmxd.ca, agent: racing });
  try {
    // Past the token's expiry and kmxd's clock tolerance: kmxd refuses it whether attestd's stale event has arrived
    // (403 host-untrusted, stale) or not (401 token-expired).
    await eventually("the first token expired", async () => (Date.now() > first.expiresAt + (CLOCK_TOLERANCE_SECONDS + 2) * 1000 ? true : undefined), 90_000);
    const { wrapped, key } = await keys.dataKey("kms-1");
    t.is(attests, 1, "one attestation, then the request again");
    t.is(key.length, 32);
    t.deepEqual(await keys.unwrap("kms-1", wrapped), key);
    // The expired token again, for a provider the host may not use: retried once (its age), then kmxd's refusal.
    held = first;
    const e = await t.throwsAsync(keys.dataKey("kms-2"), { instanceOf: KeyRequestError });
    t.is(e.problemCode, "provider-not-allowed", e.message);
    t.is(e.status, 403);
    t.is(attests, 2);
    // A refusal that is not about the token's age is the caller's at once: no attestation.
    const again = await t.throwsAsync(keys.dataKey("kms-2"), { instanceOf: KeyRequestError });
    t.is(again.problemCode, "provider-not-allowed");
    t.is(attests, 2);
  } finally {
    keys.close();
  }
});
