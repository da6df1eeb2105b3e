/**
 * `tactl vm` against real parts: kmipd as a standard key provider (the host's own KMIP credentials), a vTPM CA made
 * by @tessera/pki, swtpm for the vTPM, and the guest's side through @tessera/tss and tpm2-tools on the vTPM's socket.
 * Proves: a VM without EFI or below hardware version 14 gets no vTPM, nor one without a key provider; the vTPM's EK
 * certificate is in its NV and chains to the vTPM CA; a persistent key, an NV index and its secret survive stop and
 * start, and the EK is the same; vm.nvram never holds the secret or swtpm's state magic, and while the vTPM runs
 * nothing under the VM's folder or the temp folder does; a tampered or cut vm.nvram is refused (exit 1) and the last
 * good state stays; describe names the provider and key, never the key. Serial: one VM through its life.
 */
import test from "ava";
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ReadyProcess } from "@tessera/process-testing";
import { srkTemplate, TPM_ALG, TPM_RH, TPMA_NV } from "@tessera/tpm2";
import { createEk, Tpm } from "@tessera/tss";
import { tactl } from "./_test_support.ts";
import { ok, vmTestSetup } from "./_vm_test_support.ts";

const SECRET = "guest-secret-5b1e0c7a93d2";
/** libtpms's magic at the start of its permanent state (PERSISTENT_ALL_MAGIC). */
const STATE_MAGIC = Buffer.from("ab364723", "hex");
const NV_INDEX = 0x01500016;
const PERSISTENT = 0x81000010;

let dir: string;
let kmipd: ReadyProcess;
let vm: string;
let std: string;
let ca: string[];
let marker: string;

/** Every regular file under `root` written since the marker file was (find(1): quick on a temp folder of many files). */
function filesUnder(root: string, marker: string): string[] {
  // Exit status 1 is expected: other tests' files vanish while find walks. What it printed is what it found.
  const r = spawnSync("find", [root, "-xdev", "-type", "f", "-newer", marker, "-size", "-64M"], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error !== undefined) throw r.error;
  return r.stdout.split("\n").filter((f) => f !== "" && f !== marker);
}

async function holding(files: readonly string[], needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const f of files) {
    const b = await readFile(f).catch(() => undefined);
    if (b?.includes(needle)) hits.push(f);
  }
  return hits;
}

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-vm-"));
  marker = path.join(dir, "started");
  await writeFile(marker, "");
  const setup = await vmTestSetup(dir);
  kmipd = setup.kmipd;
  std = setup.standardProvider;
  ca = setup.vtpmCaArgs;
  vm = path.join(dir, "vm1");
});

test.after.always(async () => {
  // A failed test may leave a vTPM running: its swtpm by the pid it recorded.
  for (const d of dir ? await readdir(dir).catch(() => []) : []) {
    const run = path.join(dir, d, "run", "vtpm.json");
    if (!existsSync(run)) continue;
    const { pid } = JSON.parse(await readFile(run, "utf8")) as { pid: number };
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await kmipd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test.serial("no vTPM for a VM without EFI, below hardware version 14, or without a key provider; each says which", async (t) => {
  const bios = path.join(dir, "bios");
  ok(await tactl("vm", "create", "--dir", bios, "--name", "old-bios", "--firmware", "bios"), "create bios");
  const r1 = await tactl("vm", "add-vtpm", "--dir", bios, "--standard-provider", std, ...ca);
  t.is(r1.code, 2, r1.err);
  t.regex(r1.err, /^tactl vm add-vtpm: VM_NOT_ALLOWED: VM old-bios boots with BIOS firmware: a vTPM needs EFI/);
  const hw = path.join(dir, "hw13");
  ok(await tactl("vm", "create", "--dir", hw, "--name", "old-hw", "--hw-version", "13"), "create hw13");
  const r2 = await tactl("vm", "add-vtpm", "--dir", hw, "--standard-provider", std, ...ca);
  t.is(r2.code, 2);
  t.regex(r2.err, /VM_NOT_ALLOWED: VM old-hw has hardware version 13: a vTPM needs 14 or later/);
  const none = path.join(dir, "none");
  ok(await tactl("vm", "create", "--dir", none, "--name", "no-kp"), "create");
  const r3 = await tactl("vm", "add-vtpm", "--dir", none, "--agent", path.join(dir, "no-agent.sock"), ...ca);
  t.is(r3.code, 3, r3.err);
  t.regex(r3.err, /VM_AGENT_UNREACHABLE: no --key-provider given, and the agent's default cannot be asked: .*no such socket/);
  t.false(existsSync(path.join(none, "vm.nvram")), "nothing written");
  const again = await tactl("vm", "create", "--dir", none, "--name", "no-kp");
  t.is(again.code, 2);
  t.regex(again.err, /VM_EXISTS/);
});

test.serial("add-vtpm with a standard provider: EK certificate in NV from the vTPM CA; describe names provider and key, not the key", async (t) => {
  ok(await tactl("vm", "create", "--dir", vm, "--name", "web-01"), "create");
  const r = await tactl("vm", "add-vtpm", "--dir", vm, "--standard-provider", std, ...ca);
  t.is(r.code, 0, r.err);
  t.regex(
    r.out,
    /^VM web-01 has a new vTPM: EK certificate issued by CN=Tessera vTPM CA \(test\); its state is in vm\.nvram, encrypted with a data key of standard key provider kms-std\n$/,
  );
  t.is((await stat(path.join(vm, "vm.nvram"))).mode & 0o777, 0o600);
  const d = JSON.parse(ok(await tactl("vm", "describe", "--dir", vm, "--json"), "describe").out) as {
    vtpm: { provider: unknown; key: { id: string; version: number }; running: unknown };
  };
  t.deepEqual(d.vtpm.provider, { name: "kms-std", kind: "standard" });
  t.is(d.vtpm.key.version, 1);
  t.is(d.vtpm.running, null);
  const text = ok(await tactl("vm", "describe", "--dir", vm), "describe").out;
  t.regex(text, /\nkey provider: kms-std \(standard\), key \S+ version 1\n/);
  t.regex(text, /\nencrypted: home files \(vm\.nvram, \d+ bytes\); new disks not encrypted unless asked\n/);
});

test.serial("the guest's secrets survive stop and start; the EK is the same; nothing in the clear on disk, before or while it runs", async (t) => {
  const s = JSON.parse(ok(await tactl("vm", "start", "--dir", vm, "--json"), "start").out) as { tcti: string; pid: number };
  t.is(s.tcti, `swtpm:path=${path.join(vm, "run", "tpm.sock")}`);
  const tpm = Tpm.open(s.tcti);
  let ekName: Uint8Array;
  let srkName: Uint8Array;
  try {
    const ek = await createEk(tpm, "rsa2048");
    ekName = ek.name;
    t.truthy(ek.certificate, "the EK certificate is in the vTPM's NV");
    const cert = new X509Certificate(Buffer.from(ek.certificate!));
    const issuer = new X509Certificate(await readFile(path.join(dir, "vtpm-ca.pem")));
    t.true(cert.checkIssued(issuer) && cert.verify(issuer.publicKey), "the EK certificate chains to the vTPM CA");
    await tpm.flush(ek.handle);
    const srk = await tpm.createPrimary(TPM_RH.OWNER, srkTemplate());
    srkName = srk.name;
    await tpm.evictControl(srk.handle, PERSISTENT);
    await tpm.flush(srk.handle);
    await tpm.nvDefine({
      nvIndex: NV_INDEX,
      nameAlg: TPM_ALG.SHA256,
      attributes: TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.NO_DA,
      authPolicy: new Uint8Array(),
      dataSize: SECRET.length,
    });
    await tpm.nvWrite(NV_INDEX, new TextEncoder().encode(SECRET), { authHandle: TPM_RH.OWNER });
  } finally {
    await tpm.close();
  }
  // While it runs: the secret and swtpm's state are in RAM (a tmpfs), not under the VM's folder nor the temp folder.
  // libtpms keeps NV data as it is in its state: a state file in the clear anywhere would hold the secret. Its magic
  // alone is looked for only in the VM's folder: other tests' swtpm instances keep their own states in the temp folder.
  const files = [...filesUnder(vm, marker), ...filesUnder(os.tmpdir(), marker)];
  t.deepEqual(await holding(files, Buffer.from(SECRET)), [], "no file holds the secret while the vTPM runs");
  t.deepEqual(await holding(filesUnder(vm, marker), STATE_MAGIC), [], "no file under the VM's folder holds swtpm's state while the vTPM runs");
  const stopped = await tactl("vm", "stop", "--dir", vm);
  t.is(stopped.code, 0, stopped.err);
  t.regex(stopped.out, /^vTPM stopped; its state saved in vm\.nvram \(\d+ bytes, encrypted\)\n$/);
  const nvram = await readFile(path.join(vm, "vm.nvram"));
  t.false(nvram.includes(Buffer.from(SECRET)), "vm.nvram does not hold the secret");
  t.false(nvram.includes(STATE_MAGIC), "nor swtpm's state in the clear");
  t.is(nvram.subarray(0, 4).toString(), "TENV", "it is an envelope");
  t.deepEqual((await readdir(path.join(vm, "run"))).sort(), ["swtpm.log"], "no state, socket or pid left");

  ok(await tactl("vm", "start", "--dir", vm), "start again");
  // tpm2-tools, as a guest would: the NV secret back.
  const tools = { ...process.env, TPM2TOOLS_TCTI: s.tcti };
  const read = execFileSync("tpm2_nvread", [`0x${NV_INDEX.toString(16)}`, "-C", "o", "-s", String(SECRET.length)], { env: tools });
  t.is(read.toString(), SECRET, "tpm2_nvread gives the secret written before the stop");
  const again = Tpm.open(s.tcti);
  try {
    const ek = await createEk(again, "rsa2048");
    t.deepEqual(ek.name, ekName, "the same EK");
    await again.flush(ek.handle);
    t.deepEqual((await again.readPublic(PERSISTENT)).name, srkName, "the persistent key is there");
  } finally {
    await again.close();
  }
  ok(await tactl("vm", "stop", "--dir", vm), "stop");
});

test.serial("a tampered or cut vm.nvram is refused (exit 1) and left as it was; the good one starts again", async (t) => {
  const file = path.join(vm, "vm.nvram");
  const good = await readFile(file);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 40]! ^= 0x01;
  await writeFile(file, flipped, { mode: 0o600 });
  const r1 = await tactl("vm", "start", "--dir", vm);
  t.is(r1.code, 1, r1.err);
  t.regex(
    r1.err,
    /^tactl vm start: VM_STATE_REFUSED: .*vm\.nvram does not open: envelope content .*fails authentication.*; nothing was changed, the last good state is kept\n$/,
  );
  t.deepEqual(await readFile(file), flipped, "the refused file is not touched");
  t.false(existsSync(path.join(vm, "run", "vtpm.json")), "nothing started");
  await writeFile(file, good.subarray(0, 60), { mode: 0o600 });
  const r2 = await tactl("vm", "start", "--dir", vm);
  t.is(r2.code, 1);
  t.regex(r2.err, /VM_STATE_REFUSED: .*vm\.nvram is refused: envelope \S+ \(byte \d+\): /);
  await writeFile(file, good, { mode: 0o600 });
  const r3 = await tactl("vm", "start", "--dir", vm, "--json");
  t.is(r3.code, 0, r3.err);
  const tcti = (JSON.parse(r3.out) as { tcti: string }).tcti;
  t.is(
    execFileSync("tpm2_nvread", [`0x${NV_INDEX.toString(16)}`, "-C", "o", "-s", String(SECRET.length)], {
      env: { ...process.env, TPM2TOOLS_TCTI: tcti },
    }).toString(),
    SECRET,
  );
  const twice = await tactl("vm", "start", "--dir", vm);
  t.is(twice.code, 2);
  t.regex(twice.err, /VM_RUNNING/);
  ok(await tactl("vm", "stop", "--dir", vm), "stop");
  const notRunning = await tactl("vm", "stop", "--dir", vm);
  t.is(notRunning.code, 2);
  t.regex(notRunning.err, /VM_NOT_RUNNING/);
});

/** The vTPM's EK name and the NV secret, read by a guest through @tessera/tss (started, read, stopped). */
async function guestView(vmDir: string): Promise<{ ekName: string; secret: string | undefined }> {
  const s = JSON.parse(ok(await tactl("vm", "start", "--dir", vmDir, "--json"), `start ${vmDir}`).out) as { tcti: string };
  const tpm = Tpm.open(s.tcti);
  try {
    const ek = await createEk(tpm, "rsa2048");
    await tpm.flush(ek.handle);
    let secret: string | undefined;
    try {
      secret = new TextDecoder().decode(await tpm.nvRead(NV_INDEX, { size: SECRET.length, authHandle: TPM_RH.OWNER }));
    } catch {
      secret = undefined;
    }
    return { ekName: Buffer.from(ek.name).toString("hex"), secret };
  } finally {
    await tpm.close();
    ok(await tactl("vm", "stop", "--dir", vmDir), `stop ${vmDir}`);
  }
}

test.serial("rekey: a new data key, the content untouched, the guest's secrets kept; refused while running", async (t) => {
  const before = await readFile(path.join(vm, "vm.nvram"));
  const view = await guestView(vm);
  t.is(view.secret, SECRET);
  const mid = await readFile(path.join(vm, "vm.nvram"));
  const r = await tactl("vm", "rekey", "--dir", vm);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /^VM web-01: vm\.nvram now under a new data key of standard key provider kms-std; the vTPM's state was not touched\n$/);
  const after = await readFile(path.join(vm, "vm.nvram"));
  t.notDeepEqual(after, mid);
  // The ciphertext's last 200 bytes before the 16-byte tag (the tag is recomputed for the new header).
  const tail = (b: Buffer) => b.subarray(b.length - 216, b.length - 16);
  t.deepEqual(tail(after), tail(mid), "the ciphertext's bytes are the same");
  t.notDeepEqual(before, mid, "a stop seals afresh (a new nonce)");
  t.deepEqual(await guestView(vm), view, "same EK, same secret");
  ok(await tactl("vm", "start", "--dir", vm), "start");
  const running = await tactl("vm", "rekey", "--dir", vm);
  t.is(running.code, 2);
  t.regex(running.err, /VM_RUNNING: the vTPM of web-01 runs .*: stop it before a rekey/);
  ok(await tactl("vm", "stop", "--dir", vm), "stop");
});

test.serial("clone: copy keeps the EK and the secrets under a new data key; replace gives a new EK and a blank NV", async (t) => {
  const original = await guestView(vm);
  const copy = path.join(dir, "copy");
  const c = await tactl("vm", "clone", "--dir", vm, "--to", copy, "--vtpm", "copy", "--name", "web-02");
  t.is(c.code, 0, c.err);
  t.regex(c.out, /^cloned to .*copy: VM web-02 \(\S+\), its vTPM a copy \(same EK and secrets, a new data key\)\n$/);
  const cc = JSON.parse(await readFile(path.join(copy, "vm.json"), "utf8")) as { uuid: string; name: string };
  const oc = JSON.parse(await readFile(path.join(vm, "vm.json"), "utf8")) as { uuid: string };
  t.not(cc.uuid, oc.uuid, "a new UUID");
  t.deepEqual(await guestView(copy), original, "the copy's guest sees the same EK and secret");
  // vm.nvram is bound to its VM: the original's state does not start as the clone's.
  await writeFile(path.join(copy, "vm.nvram"), await readFile(path.join(vm, "vm.nvram")), { mode: 0o600 });
  const swapped = await tactl("vm", "start", "--dir", copy);
  t.is(swapped.code, 1);
  t.regex(swapped.err, /VM_STATE_REFUSED: .*is the state of another VM/);
  const replaced = path.join(dir, "replaced");
  const noCa = await tactl("vm", "clone", "--dir", vm, "--to", replaced, "--vtpm", "replace");
  t.is(noCa.code, 2);
  t.regex(noCa.err, /needs the vTPM CA/);
  const r = await tactl("vm", "clone", "--dir", vm, "--to", replaced, "--vtpm", "replace", ...ca);
  t.is(r.code, 0, r.err);
  const fresh = await guestView(replaced);
  t.not(fresh.ekName, original.ekName, "a new EK");
  t.is(fresh.secret, undefined, "a blank NV: the secret's index is not there");
});

test.serial("backup and restore round trip; a restore whose key this host cannot reach is refused and writes nothing", async (t) => {
  const file = path.join(dir, "web-01.backup");
  const b = await tactl("vm", "backup", "--dir", vm, "--out", file);
  t.is(b.code, 0, b.err);
  t.regex(b.out, /^backed up vm\.json and vm\.nvram to .* \(0600; vm\.nvram stays encrypted\)\n$/);
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.false((await readFile(file)).includes(Buffer.from(SECRET)));
  const restored = path.join(dir, "restored");
  const r = await tactl("vm", "restore", "--from", file, "--dir", restored);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /^restored VM web-01 into .*; its vTPM's key is reachable from this host \(standard key provider kms-std\)\n$/);
  t.deepEqual(await readFile(path.join(restored, "vm.nvram")), await readFile(path.join(vm, "vm.nvram")));
  t.is((await guestView(restored)).secret, SECRET);
  const migrate = await tactl("vm", "migrate-check", "--dir", vm, "--to", "host-9.example.test");
  t.is(migrate.code, 0, migrate.err);
  t.regex(
    migrate.out,
    /^allowed: VM web-01 to host-9\.example\.test: standard key provider kms-std: host-9\.example\.test must reach 127\.0\.0\.1:\d+ with its own KMIP credentials/,
  );
  const bad = path.join(dir, "bad.backup");
  await writeFile(bad, "{}");
  const notBackup = await tactl("vm", "restore", "--from", bad, "--dir", path.join(dir, "r2"));
  t.is(notBackup.code, 2);
  t.regex(notBackup.err, /is not a VM backup/);
  // The key server gone: this host cannot reach the key.
  await kmipd.stop();
  const away = path.join(dir, "away");
  const refused = await tactl("vm", "restore", "--from", file, "--dir", away);
  t.is(refused.code, 1, refused.err);
  t.regex(
    refused.err,
    /^tactl vm restore: VM_KEY_REFUSED: restore refused, nothing written: this host cannot reach the key of VM web-01's vTPM: standard key provider kms-std /,
  );
  t.false(existsSync(away), "nothing written");
});
