/**
 * `tactl vm` with a trusted key provider, on a real Trust Authority: `tactl dev up` (kmipd, attestd, kmxd, one swtpm
 * host measured-booted with its kmxa). Proves: without --key-provider and no default at the agent, add-vtpm says no
 * key provider is configured; through the agent (kmxd → JWE → the host's TPM) the vTPM is made, started and its
 * guest's secret survives a stop; migrate-check allows the green host and refuses one the Trust Authority does not
 * know; once the host is red, its vTPM cannot start, a running one cannot be saved (it keeps running, vm.nvram
 * unchanged), a restore is refused with nothing written, and migrate-check refuses it; green again, all works.
 * Serial: one Trust Authority through these states.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createCa, parseEkCertificate } from "@tessera/pki";
import { createEk, Tpm } from "@tessera/tss";
import { eventually } from "@tessera/process-testing";
import { devDown } from "./dev_down.ts";
import type { DevEnv } from "./dev_env.ts";
import { devUp } from "./dev_up.ts";
import { type Ran, tactlWith } from "./_test_support.ts";
import { agentRequest } from "./wf_agent_client.ts";
import { taRequest } from "./ta_client.ts";

const SECRET = "trusted-guest-secret-41c9";
const NV = "0x1500020";

let dir: string;
let env: DevEnv;
let agent: string;
let vm: string;
let ca: string[];

const tactl = (...argv: string[]): Promise<Ran> => tactlWith({ env: { ...process.env, TESSERA_HOME: path.join(dir, "home") } }, ...argv);
const ok = (r: Ran, what: string): Ran => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.err}${r.out}`);
  return r;
};

/** Attests the host again now and waits until the agent is in `state`. */
async function attestUntil(state: "attested" | "refused"): Promise<void> {
  await agentRequest(agent, "POST", "/api/v1/attest").catch(() => undefined);
  await eventually(
    `the agent ${state}`,
    async () => (((await agentRequest(agent, "GET", "/api/v1/status")) as { state?: string }).state === state ? true : undefined),
    60_000,
    200,
  );
}

/**
 * Green again, as kmxd sees it too: the agent attested, and kmxd releases a key. kmxd learns of the green status by
 * attestd's event; until it arrives a token issued within a second of the red is refused (kmxd cannot order the two
 * within one second), so on a loaded machine the first key request can come too early.
 */
async function greenAgain(): Promise<void> {
  await attestUntil("attested");
  await eventually(
    "kmxd releases keys to the host again",
    async () => {
      const r = await agentRequest(agent, "POST", `/api/v1/providers/${env.keyProvider}/data-keys`, { bytes: 32 }).then(
        () => true,
        () => undefined,
      );
      return r;
    },
    60_000,
    200,
  );
}

test.before(async () => {
  // A short folder: the swtpm and agent sockets live inside it.
  dir = await mkdtemp(path.join(os.tmpdir(), "vmt-"));
  env = await devUp({ dir: path.join(dir, "dev"), hosts: 1, progress: () => undefined });
  agent = env.hosts[0]!.agentSocket;
  const vtpmCa = await createCa({ commonName: "Tessera vTPM CA (trusted test)", keyAlgorithm: "rsa-2048" });
  await writeFile(path.join(dir, "vtpm-ca.pem"), vtpmCa.certificatePem);
  await writeFile(path.join(dir, "vtpm-ca-key.pem"), vtpmCa.privateKeyPem, { mode: 0o600 });
  ca = ["--vtpm-ca", path.join(dir, "vtpm-ca.pem"), "--vtpm-ca-key", path.join(dir, "vtpm-ca-key.pem")];
  vm = path.join(dir, "vm");
  ok(await tactl("ta", "login", "--server", env.attestd, "--ca", env.ca, "--user", "admin", "--password-file", env.adminPasswordFile), "ta login");
});

test.after.always(async () => {
  if (vm && existsSync(path.join(vm, "run", "vtpm.json"))) {
    const { pid } = JSON.parse(await readFile(path.join(vm, "run", "vtpm.json"), "utf8")) as { pid: number };
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  if (dir) {
    await devDown(path.join(dir, "dev")).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

test.serial("no key provider configured: add-vtpm says which ways there are; with one, a vTPM through the agent", async (t) => {
  ok(await tactl("vm", "create", "--dir", vm, "--name", "db-01"), "create");
  const defaultProvider = (await agentRequest(agent, "GET", "/api/v1/key-provider")) as { name: string | null };
  t.is(defaultProvider.name, env.keyProvider, "dev up made its provider the agent's default (step 7)");
  await agentRequest(agent, "PUT", "/api/v1/key-provider", { name: null });
  const none = await tactl("vm", "add-vtpm", "--dir", vm, "--agent", agent, ...ca);
  t.is(none.code, 2, none.err);
  t.regex(
    none.err,
    /^tactl vm add-vtpm: VM_NO_PROVIDER: VM db-01: no key provider is configured: give --key-provider KP .*--standard-provider FILE, or set the agent's default \(tactl cluster set-key-provider\)\n$/,
  );
  await agentRequest(agent, "PUT", "/api/v1/key-provider", { name: env.keyProvider });
  // Without --key-provider: the agent's default.
  const r = await tactl("vm", "add-vtpm", "--dir", vm, "--agent", agent, ...ca);
  t.is(r.code, 0, r.err);
  t.regex(r.out, new RegExp(`encrypted with a data key of trusted key provider ${env.keyProvider}\\n$`));
  const d = JSON.parse(ok(await tactl("vm", "describe", "--dir", vm, "--json"), "describe").out) as {
    vtpm: { provider: unknown; key: { id: string; version: number } };
  };
  t.deepEqual(d.vtpm.provider, { name: env.keyProvider, kind: "trusted" });
  t.deepEqual(d.vtpm.key, { id: env.keyProvider, version: 1 }, "the primary-key version from kmxd's wrapped form");
});

test.serial("green: start, a guest secret written with tpm2-tools, stop, start: it is there; migrate-check allows the green host only", async (t) => {
  const s = JSON.parse(ok(await tactl("vm", "start", "--dir", vm, "--agent", agent, "--json"), "start").out) as { tcti: string };
  const tools = { ...process.env, TPM2TOOLS_TCTI: s.tcti };
  execFileSync("tpm2_nvdefine", [NV, "-C", "o", "-s", String(SECRET.length), "-a", "ownerread|ownerwrite"], { env: tools });
  execFileSync("tpm2_nvwrite", [NV, "-C", "o", "-i", "-"], { env: tools, input: SECRET });
  ok(await tactl("vm", "stop", "--dir", vm, "--agent", agent), "stop");
  ok(await tactl("vm", "start", "--dir", vm, "--agent", agent), "start again");
  t.is(execFileSync("tpm2_nvread", [NV, "-C", "o", "-s", String(SECRET.length)], { env: tools }).toString(), SECRET);
  const host = env.hosts[0]!.name;
  const allowed = await tactl("vm", "migrate-check", "--dir", vm, "--to", host);
  t.is(allowed.code, 0, allowed.err);
  t.regex(
    allowed.out,
    new RegExp(
      `^allowed: VM db-01 to ${host}: trusted key provider ${env.keyProvider}: ${host} is attested \\(green\\) by the same Trust Authority cluster\\n$`,
    ),
  );
  const elsewhere = await tactl("vm", "migrate-check", "--dir", vm, "--to", "host-of-another-ta.example.test");
  t.is(elsewhere.code, 1);
  t.regex(elsewhere.out, /^refused: .*is not attested by this Trust Authority cluster/);
  const running = await tactl("vm", "backup", "--dir", vm, "--out", path.join(dir, "db-01.backup"));
  t.is(running.code, 2, "no backup while the latest state is in RAM");
  t.regex(running.err, /VM_RUNNING: .*stop it before a backup/);
});

test.serial("red: a running vTPM cannot be saved (it keeps running), none starts, restore and migrate-check are refused; green again, all works", async (t) => {
  const host = env.hosts[0]!.name;
  ok(await tactl("ta", "image", "remove", "dev-host"), "image remove");
  await attestUntil("refused");
  const nvramBefore = await readFile(path.join(vm, "vm.nvram"));
  const stop = await tactl("vm", "stop", "--dir", vm, "--agent", agent);
  t.is(stop.code, 1, stop.err);
  t.regex(stop.err, /^tactl vm stop: VM_KEY_REFUSED: the data key of trusted key provider dev: the host is not attested \(or is red\)/);
  const d = JSON.parse(ok(await tactl("vm", "describe", "--dir", vm, "--json"), "describe").out) as { vtpm: { running: unknown } };
  t.truthy(d.vtpm.running, "the vTPM keeps running");
  t.deepEqual(await readFile(path.join(vm, "vm.nvram")), nvramBefore, "vm.nvram unchanged");
  const migrate = await tactl("vm", "migrate-check", "--dir", vm, "--to", host);
  t.is(migrate.code, 1);
  t.regex(migrate.out, new RegExp(`^refused: .*${host} is red at this Trust Authority cluster`));

  // Green again: the vTPM is saved; then red once more, stopped: it cannot start, nor be restored.
  ok(await tactl("ta", "image", "add", "--manifest", path.join(dir, "dev", "image.json"), "--name", "dev-host", "--version", "1"), "image add");
  await greenAgain();
  ok(await tactl("vm", "stop", "--dir", vm, "--agent", agent), "stop when green");
  const backup = path.join(dir, "db-01.backup");
  ok(await tactl("vm", "backup", "--dir", vm, "--out", backup), "backup");
  ok(await tactl("ta", "image", "remove", "dev-host"), "image remove");
  await attestUntil("refused");
  const start = await tactl("vm", "start", "--dir", vm, "--agent", agent);
  t.is(start.code, 1, start.err);
  t.regex(
    start.err,
    /^tactl vm start: VM_KEY_REFUSED: the data key of trusted key provider dev: the host is not attested \(or is red\): a trusted key provider's keys reach attested hosts only/,
  );
  t.false(existsSync(path.join(vm, "run", "vtpm.json")), "nothing started");
  const restore = await tactl("vm", "restore", "--from", backup, "--dir", path.join(dir, "restored"), "--agent", agent);
  t.is(restore.code, 1, restore.err);
  t.regex(restore.err, /^tactl vm restore: VM_KEY_REFUSED: restore refused, nothing written: this host cannot reach the key of VM db-01's vTPM: /);
  t.false(existsSync(path.join(dir, "restored")));

  ok(await tactl("ta", "image", "add", "--manifest", path.join(dir, "dev", "image.json"), "--name", "dev-host", "--version", "1"), "image add");
  await greenAgain();
  const s = JSON.parse(ok(await tactl("vm", "start", "--dir", vm, "--agent", agent, "--json"), "start when green").out) as { tcti: string };
  t.is(execFileSync("tpm2_nvread", [NV, "-C", "o", "-s", String(SECRET.length)], { env: { ...process.env, TPM2TOOLS_TCTI: s.tcti } }).toString(), SECRET);
  ok(await tactl("vm", "stop", "--dir", vm, "--agent", agent), "stop");
  ok(await tactl("vm", "restore", "--from", backup, "--dir", path.join(dir, "restored"), "--agent", agent), "restore when green");
});

test.serial(
  "the Trust Authority's vTPM CA: without --vtpm-ca the EK is certified by kmxd for the attested host, the certificate in the vTPM's NV",
  async (t) => {
    const ta = path.join(dir, "vm-ta");
    ok(await tactl("vm", "create", "--dir", ta, "--name", "app-01"), "create");
    const r = await tactl("vm", "add-vtpm", "--dir", ta, "--agent", agent, "--key-provider", env.keyProvider);
    t.is(r.code, 0, r.err);
    t.regex(r.out, /^VM app-01 has a new vTPM: EK certificate issued by O=Tessera Trust Authority, CN=Tessera vTPM CA; /);
    const caPem = ((await taRequest({ server: env.kmxd, ca: await readFile(env.ca, "utf8") }, "GET", "/api/v1/vtpm/ca")).body as { certificate: string })
      .certificate;
    const s = JSON.parse(ok(await tactl("vm", "start", "--dir", ta, "--agent", agent, "--json"), "start").out) as { tcti: string };
    const tpm = Tpm.open(s.tcti);
    try {
      const ek = await createEk(tpm, "rsa2048");
      await tpm.flush(ek.handle);
      t.truthy(ek.certificate, "the certificate is in the EK certificate's NV index, and its key is this EK (createEk checks)");
      const cert = new X509Certificate(Buffer.from(ek.certificate!));
      const ca = new X509Certificate(caPem);
      t.true(cert.checkIssued(ca) && cert.verify(ca.publicKey), "issued by kmxd's vTPM CA");
      const parsed = parseEkCertificate(ek.certificate!);
      t.true(parsed.isEk);
      t.like(parsed, { tpmManufacturer: "id:54455353", tpmModel: "Tessera vTPM" });
    } finally {
      await tpm.close();
    }
    ok(await tactl("vm", "stop", "--dir", ta, "--agent", agent), "stop");
    // A red host gets no vTPM: its data key is refused before a certificate is asked for (kmxd checks the status for both).
    ok(await tactl("ta", "image", "remove", "dev-host"), "image remove");
    await attestUntil("refused");
    const red = path.join(dir, "vm-red");
    ok(await tactl("vm", "create", "--dir", red, "--name", "app-02"), "create");
    const refused = await tactl("vm", "add-vtpm", "--dir", red, "--agent", agent, "--standard-provider", path.join(dir, "none.json"));
    t.is(refused.code, 2, "a missing provider file is input");
    const noCert = await tactl("vm", "add-vtpm", "--dir", red, "--agent", agent, "--key-provider", env.keyProvider);
    t.is(noCert.code, 1, noCert.err);
    t.regex(noCert.err, /VM_KEY_REFUSED: .*not attested/);
    t.false(existsSync(path.join(red, "vm.nvram")), "nothing written");
    ok(await tactl("ta", "image", "add", "--manifest", path.join(dir, "dev", "image.json"), "--name", "dev-host", "--version", "1"), "image add");
    await greenAgain();
  },
);
