/**
 * The agent core end to end, real components only: attestd as its own process, swtpm hosts booted by libs/boot
 * (their EK CA trusted and their image accepted through attestd's admin API), and the agent driving the TPM
 * through libs/tss. Proves: a green host gets a token that verifies against attestd's JWKS, naming the host, its
 * EK and its binding key (cnf.jwk), and the binding key decrypts in the TPM what is encrypted to that JWK; a
 * restart finds the same persistent AK and binding key and does not enroll again; a red host is `refused` with
 * attestd's failures and gets no token; attestd stopped → `unreachable` (the token it has still handed out), then
 * attested again without a restart once attestd is back; attestd back with an empty database → the agent enrolls
 * again by itself. Serial: the tests share attestd and the TPMs (swtpm serves one connection at a time).
 */
import test from "ava";
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { defaultHostImage, makeTestSecureBootPki, withKernel, type HostImage } from "@tessera/boot";
import { publicKeyDer, TPM2B_PUBLIC, unmarshal } from "@tessera/tpm2";
import { decryptJweWith, encryptToJwk } from "@tessera/tokens";
import { listPersistent, Tpm } from "@tessera/tss";
import type { JWK } from "jose";
import { createAgent, ON_DEMAND_GAP_MS } from "./agent.ts";
import { type Agent, AgentError } from "./agent_types.ts";
import { loadConfig, type KmxaConfig } from "./config.ts";
import { loadState } from "./state.ts";
import {
  type Attestd,
  bootedHost,
  type BootedHost,
  eventually,
  prepareAttestd,
  restartAttestd,
  silent,
  startAttestd,
  untilState,
  verifyToken,
} from "./_agent_test_support.ts";

const GREEN = "green.example.test";
const RED = "red.example.test";

let dir: string;
let manifest: HostImage;
let attestd: Attestd;
let green: BootedHost;
let red: BootedHost;
/** The green TPM's persistent handles before any agent ran (swtpm's own: its EK and the like). */
let baseline: number[];
/** attestd's record of the green host's enrollment after the first start. */
let firstEnrolledAt: string;
const agents = new Set<Agent>();

function configFor(host: BootedHost, name: string, dataDir: string, a: Attestd = attestd): KmxaConfig {
  return loadConfig(
    [
      ...["--tcti", host.sw.tcti, "--host", name, "--event-log", host.logFile, "--data-dir", dataDir],
      ...["--attestd", a.url, "--attestd-ca", a.caFile, "--kmxd", "https://127.0.0.1:7888", "--kmxd-ca", a.caFile],
    ],
    {},
  );
}

async function agentFor(config: KmxaConfig, random?: () => number, clock?: { now(): number }): Promise<Agent> {
  const agent = await createAgent(config, { logger: silent, ...(random ? { random } : {}), ...(clock ? { clock } : {}) });
  agents.add(agent);
  return agent;
}

async function closeAgent(agent: Agent): Promise<void> {
  await agent.close();
  agents.delete(agent);
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "kmxa-agent-"));
  manifest = defaultHostImage({ pki: await makeTestSecureBootPki() });
  // The red host boots a kernel that no accepted image has.
  [attestd, green, red] = await Promise.all([
    startAttestd(path.join(dir, "attestd")),
    bootedHost(manifest, path.join(dir, "green-host")),
    bootedHost(withKernel(manifest, "5eed".repeat(16)), path.join(dir, "red-host")),
  ]);
  await prepareAttestd(attestd, green.sw, manifest);
  await prepareAttestd(attestd, red.sw, manifest);
  const tpm = Tpm.open(green.sw.tcti);
  try {
    baseline = await listPersistent(tpm);
  } finally {
    await tpm.close();
  }
});

test.after.always(async () => {
  for (const a of agents) await a.close();
  await attestd?.stop();
  await green?.sw.stop();
  await red?.sw.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("a green host: attested, its token verifies against attestd's JWKS and names the host, its EK, AK and binding key", async (t) => {
  const agent = await agentFor(configFor(green, GREEN, path.join(dir, "green")));
  const s = await untilState(agent, "attested");
  t.is(s.host, GREEN);
  t.is(s.lastFailure, undefined);
  t.regex(s.akName!, /^000b[0-9a-f]{64}$/);
  const { token, expiresAt } = await agent.token();
  t.is(expiresAt, s.tokenExpiresAt!);
  const claims = await verifyToken(attestd, token);
  t.is(claims.sub, GREEN);
  t.is(claims.exp! * 1000, expiresAt);
  const tessera = claims["tessera"] as Record<string, unknown>;
  t.is(tessera["ekFingerprint"], s.ekFingerprint);
  t.is(tessera["akName"], s.akName);
  t.like(claims["submods"], { tpm: { "ear.status": "affirming" } });

  // cnf.jwk is the binding key: its public key is the persistent binding key's, and the TPM decrypts with it.
  const id = await agent.identity();
  t.is(id.ekFingerprint, s.ekFingerprint!);
  t.is(id.tpm?.manufacturer, "IBM", "swtpm says it is IBM's");
  t.regex(id.tpm?.firmwareVersion ?? "", /^\d+\.\d+\.\d+\.\d+$/);
  t.deepEqual(new Uint8Array(id.eventLog), green.log);
  const jwk = (claims["cnf"] as { jwk: JWK }).jwk;
  const state = (await loadState(path.join(dir, "green")))!;
  const bkPublic = unmarshal(TPM2B_PUBLIC, new Uint8Array(Buffer.from(state.bindingKey!.public, "base64")));
  t.deepEqual(new Uint8Array(createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" }).export({ type: "spki", format: "der" })), publicKeyDer(bkPublic));
  const cek = randomBytes(32);
  const encrypted = publicEncrypt({ key: createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
  t.deepEqual(Buffer.from(await agent.rsaDecrypt(new Uint8Array(encrypted))), cek);
  // What kmxd returns, a JWE to cnf.jwk, opens with the TPM doing the RSA part (as the key service does it).
  const secret = new Uint8Array(randomBytes(48));
  t.deepEqual(await decryptJweWith(await encryptToJwk(secret, jwk), (ek) => agent.rsaDecrypt(ek)), secret);
  // A ciphertext made for another key is the TPM's refusal, a typed DECRYPT_FAILED.
  const other = await t.throwsAsync(agent.rsaDecrypt(new Uint8Array(randomBytes(256))), { instanceOf: AgentError });
  t.is(other.code, "DECRYPT_FAILED");

  // The state file: private, and without a secret (no private key material: the keys are persistent in the TPM).
  t.is((await stat(path.join(dir, "green", "state.json"))).mode & 0o777, 0o600);
  const text = await readFile(path.join(dir, "green", "state.json"), "utf8");
  t.notRegex(text, /PRIVATE|privateBlob|password/i);
  t.is(state.enrollment?.akName, s.akName);
  firstEnrolledAt = ((await attestd.admin("GET", `/api/v1/hosts/${GREEN}`)).body as { enrollment: { enrolledAt: string } }).enrollment.enrolledAt;
  await closeAgent(agent);
});

test.serial("a restart finds the same AK and binding key in the TPM and does not enroll again", async (t) => {
  const dataDir = path.join(dir, "green");
  const before = (await loadState(dataDir))!;
  const agent = await agentFor(configFor(green, GREEN, dataDir));
  const s = await untilState(agent, "attested");
  t.is(s.akName, before.ak!.name);
  const after = (await loadState(dataDir))!;
  t.deepEqual(after.ak, before.ak);
  t.deepEqual(after.bindingKey, before.bindingKey);
  t.is(after.enrollment!.enrolledAt, before.enrollment!.enrolledAt, "no new enrollment");
  // attestd's record of the host: the enrollment it has is the first one.
  const host = (await attestd.admin("GET", `/api/v1/hosts/${GREEN}`)).body as { status: string; enrollment: { akName: string; enrolledAt: string } };
  t.is(host.status, "green");
  t.is(host.enrollment.akName, before.ak!.name);
  t.is(host.enrollment.enrolledAt, firstEnrolledAt, "attestd's enrollment is the first one");
  await closeAgent(agent);
  // Two more persistent objects in the TPM than before any agent ran, the AK and the binding key, after two starts.
  const tpm = Tpm.open(green.sw.tcti);
  try {
    const added = (await listPersistent(tpm)).filter((h) => !baseline.includes(h));
    t.deepEqual(added.map((h) => `0x${h.toString(16).padStart(8, "0")}`).sort(), [before.ak!.handle, before.bindingKey!.handle].sort());
  } finally {
    await tpm.close();
  }
});

test.serial("a red host (its kernel in no accepted image) is refused with attestd's failures, and gets no token", async (t) => {
  // The agent's clock, frozen by the test after the first verdict.
  let frozen: number | undefined;
  const clock = { now: (): number => frozen ?? Date.now() };
  const agent = await agentFor(configFor(red, RED, path.join(dir, "red")), undefined, clock);
  const s = await untilState(agent, "refused");
  frozen = s.lastAttempt! + ON_DEMAND_GAP_MS - 1;
  t.is(s.lastFailure?.code, "attestation-failed");
  t.true((s.lastFailure?.failures ?? []).length > 0);
  t.true(s.lastFailure!.failures!.every((f) => typeof f.check === "string" && typeof f.detail === "string"));
  t.is(s.tokenExpiresAt, undefined);
  t.true(s.nextAttemptAt! > s.lastAttempt!, "retried on schedule");
  const e = await t.throwsAsync(agent.token(), { instanceOf: AgentError });
  t.is(e.code, "NOT_ATTESTED");
  t.is(e.failure?.code, "attestation-failed");
  t.deepEqual(e.failure?.failures?.map((f) => f.check), s.lastFailure!.failures!.map((f) => f.check));
  t.is(agent.status().lastAttempt, s.lastAttempt, "moments after a refusal, token() does not attest again");
  // Later, token() attests again (and is refused again).
  frozen = s.lastAttempt! + ON_DEMAND_GAP_MS;
  await t.throwsAsync(agent.token(), { instanceOf: AgentError, message: /attestation-failed/ });
  t.is(agent.status().lastAttempt, frozen, "a new attempt");
  // attestNow runs again whenever asked, and says the same.
  frozen += 1;
  const now = await agent.attestNow();
  t.is(now.state, "refused");
  t.is(now.lastAttempt, frozen);
  await closeAgent(agent);
});

test.serial("attestd stopped: unreachable (the token it has still handed out); back: attested again without a restart", async (t) => {
  // random 0.5: backoff steps of 1, 1, 2, 4 s… — the retries reach attestd soon after it is back.
  const agent = await agentFor(configFor(green, GREEN, path.join(dir, "green")), () => 0.5);
  await untilState(agent, "attested");
  const held = await agent.token();
  await attestd.stop();
  const down = await agent.attestNow();
  t.is(down.state, "unreachable");
  t.is(down.lastFailure?.code, "attestd-unreachable");
  t.true(down.nextAttemptAt! > down.lastAttempt!, "a retry is scheduled");
  t.is(down.tokenExpiresAt, held.expiresAt);
  t.deepEqual(await agent.token(), held, "the valid token is still handed out while attestd is away");
  // A second failed attempt: still unreachable, retried again (the backoff's next step).
  const again = await agent.attestNow();
  t.is(again.state, "unreachable");
  t.true(again.lastAttempt! >= down.lastAttempt!);

  attestd = await restartAttestd(attestd);
  // No attestNow: the scheduled retry finds attestd back.
  const back = await untilState(agent, "attested");
  t.is(back.lastFailure, undefined);
  const fresh = await agent.token();
  t.not(fresh.token, held.token);
  t.is((await verifyToken(attestd, fresh.token)).sub, GREEN);
  await closeAgent(agent);
});

test.serial("attestd back with an empty database: attestd says ak-not-enrolled and the agent enrolls its AK again by itself", async (t) => {
  const dataDir = path.join(dir, "green");
  const before = (await loadState(dataDir))!;
  attestd = await restartAttestd(attestd, path.join(dir, "attestd-2"));
  await prepareAttestd(attestd, green.sw, manifest);
  const agent = await agentFor(configFor(green, GREEN, dataDir));
  const s = await untilState(agent, "attested");
  t.is(s.akName, before.ak!.name, "the same AK");
  const after = (await loadState(dataDir))!;
  t.true(Date.parse(after.enrollment!.enrolledAt) > Date.parse(before.enrollment!.enrolledAt), "enrolled again");
  const host = (await attestd.admin("GET", `/api/v1/hosts/${GREEN}`)).body as { enrollment: { akName: string } };
  t.is(host.enrollment.akName, before.ak!.name);
  t.is((await verifyToken(attestd, (await agent.token()).token)).sub, GREEN);
  await closeAgent(agent);
});

test.serial("another TPM enrolled under the host's name: attestd refuses the host's evidence (quote-signature); the agent enrolls again by itself", async (t) => {
  const dataDir = path.join(dir, "green");
  const ours = (await loadState(dataDir))!.ak!.name;
  // The impostor: the red host's TPM (its CA trusted) claims the green host's name.
  await attestd.admin("POST", "/api/v1/tpm-cas", { certificates: red.sw.caCertsPem.join("\n") }, [200, 201, 409]);
  const impostor = await agentFor(configFor(red, GREEN, path.join(dir, "impostor")));
  await untilState(impostor, "refused");
  const theirs = impostor.status().akName!;
  await closeAgent(impostor);
  t.is(((await attestd.admin("GET", `/api/v1/hosts/${GREEN}`)).body as { enrollment: { akName: string } }).enrollment.akName, theirs, "attestd holds the impostor's AK");

  const agent = await agentFor(configFor(green, GREEN, dataDir));
  const s = await untilState(agent, "attested");
  t.is(s.akName, ours);
  t.is(((await attestd.admin("GET", `/api/v1/hosts/${GREEN}`)).body as { enrollment: { akName: string } }).enrollment.akName, ours, "enrolled again");
  await closeAgent(agent);
});

test.serial("an event log that cannot be read: refused with event-log-unreadable, the token kept, retried with backoff until it is back", async (t) => {
  const logFile = path.join(dir, "green-log-copy");
  await copyFile(green.logFile, logFile);
  const config = { ...configFor(green, GREEN, path.join(dir, "green")), eventLog: logFile };
  const agent = await agentFor(config, () => 0.5);
  await untilState(agent, "attested");
  const held = await agent.token();
  await rm(logFile);
  const s = await agent.attestNow();
  t.is(s.state, "refused");
  t.is(s.lastFailure?.code, "event-log-unreadable");
  t.regex(s.lastFailure!.detail, /green-log-copy/);
  t.is(s.tokenExpiresAt, held.expiresAt, "attestd did not judge the host: its token stands");
  t.deepEqual(await agent.token(), held);
  t.true(s.nextAttemptAt! > s.lastAttempt!);
  t.deepEqual(new Uint8Array((await agent.identity()).eventLog), new Uint8Array(), "identity shows no log");
  await copyFile(green.logFile, logFile);
  const back = await untilState(agent, "attested");
  t.is(back.lastFailure, undefined);
  await closeAgent(agent);
});

test.serial("a host clock an hour off either way: the token is still handed out and renewed within its life", async (t) => {
  for (const skew of [3_600_000, -3_600_000]) {
    const clock = { now: (): number => Date.now() + skew };
    const agent = await agentFor(configFor(green, GREEN, path.join(dir, "green")), undefined, clock);
    const s = await untilState(agent, "attested");
    const { token, expiresAt } = await agent.token();
    const claims = await verifyToken(attestd, token);
    t.is(expiresAt, claims.exp! * 1000, "the expiry is the token's");
    t.is(s.tokenExpiresAt, expiresAt);
    // The renewal is scheduled on the host's clock, within the token's life (attestd's 10 minutes) from receipt.
    t.true(s.nextAttemptAt! - s.lastAttempt! < (claims.exp! - claims.iat!) * 1000, `skew ${skew}`);
    await closeAgent(agent);
  }
});

test.serial("closed: every call is refused with CLOSED", async (t) => {
  const agent = await agentFor(configFor(green, GREEN, path.join(dir, "green")));
  await closeAgent(agent);
  await closeAgent(agent);
  for (const call of [() => agent.token(), () => agent.attestNow(), () => agent.identity(), () => agent.rsaDecrypt(new Uint8Array(256))]) {
    const e = await t.throwsAsync(call(), { instanceOf: AgentError });
    t.is(e.code, "CLOSED");
  }
  await eventually("the TPM is free again", async () => {
    const tpm = Tpm.open(green.sw.tcti);
    try {
      return (await listPersistent(tpm)).length;
    } finally {
      await tpm.close();
    }
  });
});
