/**
 * Token renewal against a real attestd whose tokens live 30 s (its shortest, set through PATCH /api/v1/settings):
 * the agent attests again at 80 % of the token's life, so a new token is there before the old one expires, with
 * no call from outside. And the backoff's bounds (pure): full jitter within [1 s, min(5 min, 1 s · 2ⁿ)].
 */
import test from "ava";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki } from "@tessera/boot";
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay, createAgent } from "./agent.ts";
import type { Agent } from "./agent_types.ts";
import { loadConfig } from "./config.ts";
import { type Attestd, bootedHost, type BootedHost, eventually, prepareAttestd, silent, startAttestd, untilState, verifyToken } from "./_agent_test_support.ts";

let dir: string;
let attestd: Attestd;
let host: BootedHost;
let agent: Agent | undefined;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-renewal-"));
  const manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  [attestd, host] = await Promise.all([startAttestd(path.join(dir, "attestd")), bootedHost(manifest, path.join(dir, "host"))]);
  await prepareAttestd(attestd, host.sw, manifest);
  await attestd.admin("PATCH", "/api/v1/settings", { tokenLifetimeSeconds: 30 });
});

test.after.always(async () => {
  await agent?.close();
  await attestd?.stop();
  await host?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("the token is renewed by the schedule before it expires", async (t) => {
  const config = loadConfig(
    [
      ...["--tcti", host.sw.tcti, "--host", "renew.example.test", "--event-log", host.logFile, "--data-dir", path.join(dir, "agent")],
      ...["--attestd", attestd.url, "--attestd-ca", attestd.caFile, "--kmxd", "https://127.0.0.1:7888", "--kmxd-ca", attestd.caFile],
    ],
    {},
  );
  agent = await createAgent(config, { logger: silent });
  const a = agent;
  await untilState(a, "attested");
  const first = await a.token();
  const firstClaims = await verifyToken(attestd, first.token);
  t.is(firstClaims.exp! - firstClaims.iat!, 30, "attestd issues 30 s tokens");
  t.true(a.status().nextAttemptAt! < first.expiresAt, "the renewal is scheduled before the expiry");
  // Nobody asks: the schedule alone renews it.
  const renewedAt = await eventually(
    "a renewed token",
    async () => {
      const s = a.status();
      return s.tokenExpiresAt !== undefined && s.tokenExpiresAt !== first.expiresAt ? s.lastAttempt : undefined;
    },
    60_000,
  );
  t.true(renewedAt < first.expiresAt, "renewed while the first token was still valid");
  const second = await a.token();
  t.not(second.token, first.token);
  t.true(second.expiresAt > first.expiresAt);
  t.is((await verifyToken(attestd, second.token)).sub, "renew.example.test");
  t.is(a.status().state, "attested");
});

test("backoff: full jitter within [1 s, min(5 min, 1 s · 2^n)], never below 1 s", (t) => {
  for (let n = 0; n < 40; n++) {
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** n);
    t.is(backoffDelay(n, () => 0), BACKOFF_BASE_MS);
    t.is(backoffDelay(n, () => 0.999_999), Math.max(BACKOFF_BASE_MS, Math.floor(0.999_999 * ceiling)));
    const d = backoffDelay(n);
    t.true(d >= BACKOFF_BASE_MS && d <= ceiling, `n=${n}: ${d}`);
  }
  t.is(backoffDelay(3, () => 0.5), 4000);
  t.is(backoffDelay(100, () => 0.999_999), Math.floor(0.999_999 * BACKOFF_CAP_MS));
});
