/**
 * Test support of the agent core's tests: attestd as its own process (`apps/attestd/bin/attestd`, started with
 * `spawnReady`), restartable on the same port and TLS identity (with its database kept, or a new one), its admin
 * API, and attestation tokens verified against its JWKS. Hosts are KA2's `bootedHost` (swtpm booted by libs/boot).
 * @module
 */
import { cp, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { HostImage } from "@tessera/boot";
import { httpsJson } from "@tessera/http";
import { spawnReady, type ReadyProcess } from "@tessera/process-testing";
import type { SwtpmInstance } from "@tessera/swtpm-testing";
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from "jose";
import { pino } from "pino";
import type { Agent, AgentStatus } from "./agent_types.ts";
import { ROOT } from "./_stack_test_support.ts";

export { bootedHost, eventually, type BootedHost } from "./_stack_test_support.ts";

const ATTESTD = path.join(ROOT, "apps/attestd/bin/attestd");

/** A silent logger. */
export const silent = pino({ level: "silent" });

/** A running attestd process. */
export interface Attestd {
  url: string;
  port: number;
  dataDir: string;
  caFile: string;
  ca: string;
  proc: ReadyProcess;
  /** attestd's admin API as its first administrator; throws on a status ≥ 300 unless `allow` has it. */
  admin(method: string, p: string, body?: unknown, allow?: number[]): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

/** Starts attestd on 127.0.0.1:`port` (0: any) with `dataDir`, waiting for its ready line. */
export async function startAttestd(dataDir: string, port = 0): Promise<Attestd> {
  const proc = await spawnReady("attestd", ATTESTD, ["--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--log-level", "warn"], /^attestd: listening on (https:\/\/\S+)/m);
  const url = proc.match[1]!;
  const caFile = path.join(dataDir, "tls", "ca.pem");
  const ca = await readFile(caFile, "utf8");
  const password = (await readFile(path.join(dataDir, "admin.password"), "utf8")).trim();
  const admin = async (method: string, p: string, body?: unknown, allow: number[] = []): Promise<{ status: number; body: unknown }> => {
    const t = await httpsJson("POST", `${url}/api/v1/auth/token`, { user: "admin", password }, { ca });
    if (t.status !== 200) throw new Error(`attestd sign-in: ${t.status} ${JSON.stringify(t.body)}`);
    const r = await httpsJson(method, url + p, body, { ca, headers: { authorization: `Bearer ${(t.body as { token: string }).token}` } });
    if (r.status >= 300 && !allow.includes(r.status)) throw new Error(`attestd ${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
    return { status: r.status, body: r.body };
  };
  return { url, port: Number(new URL(url).port), dataDir, caFile, ca, proc, admin, stop: () => proc.stop() };
}

/**
 * Starts attestd again on the same port with the same TLS identity (so agents keep trusting it): with its
 * database when `dataDir` is the old one, or a new, empty one in a new `dataDir` (the old TLS files copied in).
 */
export async function restartAttestd(old: Attestd, dataDir = old.dataDir): Promise<Attestd> {
  await old.stop();
  if (dataDir !== old.dataDir) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await cp(path.join(old.dataDir, "tls"), path.join(dataDir, "tls"), { recursive: true });
  }
  return startAttestd(dataDir, old.port);
}

/** Trusts `sw`'s EK CA on attestd and accepts `manifest` as image `name` version 1 (an image already there is fine). */
export async function prepareAttestd(a: Attestd, sw: SwtpmInstance, manifest: HostImage, name = "tessera-host"): Promise<void> {
  await a.admin("POST", "/api/v1/tpm-cas", { certificates: sw.caCertsPem.join("\n") }, [200, 201, 409]);
  await a.admin("POST", "/api/v1/images", { name, version: "1", manifest }, [409]);
}

/** Verifies an attestation token with jose against attestd's JWKS (fetched over HTTPS with its CA). */
export async function verifyToken(a: Attestd, token: string): Promise<JWTPayload> {
  const r = await httpsJson("GET", `${a.url}/.well-known/jwks.json`, undefined, { ca: a.ca });
  if (r.status !== 200) throw new Error(`JWKS: ${r.status}`);
  const { payload } = await jwtVerify(token, createLocalJWKSet(r.body as JSONWebKeySet), { issuer: a.url });
  return payload;
}

/** Polls the agent's status until `state` (throws after `limitMs` with the last status). */
export async function untilState(agent: Agent, state: AgentStatus["state"], limitMs = 60_000): Promise<AgentStatus> {
  const end = Date.now() + limitMs;
  for (;;) {
    const s = agent.status();
    if (s.state === state) return s;
    if (Date.now() > end) throw new Error(`agent not ${state} within ${limitMs} ms: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
