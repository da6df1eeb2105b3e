/**
 * A VM booted in QEMU against its vTPM (`tactl vm start --qemu`: q35 under TCG, OVMF, the vTPM as a TPM CRB
 * device): OVMF's measurements land in the vTPM's PCRs, and its EK certificate chains to the vTPM CA. QEMU holds the
 * vTPM's only data channel while it runs, so the PCRs are read as the firmware left them: QEMU is killed (no
 * shutdown reaches the vTPM), swtpm stores its volatile state (PCRs included) through the control channel, and a
 * second swtpm on a copy of that state answers TPM2_PCR_Read. Then `tactl vm stop` saves the vTPM (QEMU gone) and
 * the next start is a fresh boot: the volatile state was not kept, the PCRs are those of a new TPM2_Startup.
 */
import test from "ava";
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { eventually } from "@tessera/process-testing";
import { TPM_ALG } from "@tessera/tpm2";
import { createEk, Tpm } from "@tessera/tss";
import { tactl } from "./_test_support.ts";
import { ok, vmTestSetup, type VmTestSetup } from "./_vm_test_support.ts";

const run = promisify(execFile);

let dir: string;
let setup: VmTestSetup;
let copyTpm: ChildProcess | undefined;

test.before(async () => {
  for (const f of ["/usr/bin/qemu-system-x86_64", "/usr/share/OVMF/OVMF_CODE_4M.fd"]) {
    // tools/ci/setup.sh installs qemu-system-x86 and ovmf: without them this test fails, it does not skip.
    await readFile(f).catch(() => {
      throw new Error(`${f} is missing: run tools/ci/setup.sh (Debian: apt-get install --no-install-recommends qemu-system-x86 ovmf)`);
    });
  }
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-qemu-"));
  setup = await vmTestSetup(dir);
});

test.after.always(async () => {
  copyTpm?.kill("SIGKILL");
  const vm = path.join(dir, "vm");
  await tactl("vm", "stop", "--dir", vm).catch(() => undefined);
  await setup?.kmipd.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** PCRs 0-7 of the SHA-256 bank, hex, by tpm2-tools. */
function pcrs(tcti: string): string[] {
  const out = execFileSync("tpm2_pcrread", ["sha256:0,1,2,3,4,5,6,7", "-T", tcti], { encoding: "utf8" });
  return [...out.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-F]+)$/gm)].map((m) => m[2]!.toLowerCase());
}

test("OVMF in QEMU measures into the vTPM's PCRs; its EK certificate chains to the vTPM CA; the next start is a fresh boot", async (t) => {
  t.timeout(300_000);
  const vm = path.join(dir, "vm");
  ok(await tactl("vm", "create", "--dir", vm, "--name", "uefi-01"), "create");
  ok(await tactl("vm", "add-vtpm", "--dir", vm, "--standard-provider", setup.standardProvider, ...setup.vtpmCaArgs), "add-vtpm");
  const started = await tactl("vm", "start", "--dir", vm, "--qemu", "--json");
  t.is(started.code, 0, started.err);
  const s = JSON.parse(started.out) as { qemuPid: number; serial: string; tcti: string };
  t.is(s.serial, path.join(vm, "run", "serial.log"));
  // OVMF has measured and handed over to its boot manager, which finds no disk and starts the UEFI shell.
  await eventually(
    "OVMF reached its UEFI shell",
    async () => ((await readFile(s.serial, "utf8").catch(() => "")).includes("Shell>") ? true : undefined),
    240_000,
    500,
  );
  process.kill(s.qemuPid, "SIGKILL");
  const ctrl = path.join(vm, "run", "tpm.sock.ctrl");
  await eventually(
    "swtpm takes commands on its control channel again",
    async () =>
      (await run("swtpm_ioctl", ["--unix", ctrl, "-v"]).then(
        () => true,
        () => undefined,
      )) as true | undefined,
    30_000,
    200,
  );
  const state = (JSON.parse(await readFile(path.join(vm, "run", "vtpm.json"), "utf8")) as { stateDir: string }).stateDir;
  t.true((await readdir(state)).includes("tpm2-00.volatilestate"), "swtpm stored its volatile state");
  const copy = path.join(dir, "copy");
  await mkdir(copy, { mode: 0o700 });
  for (const f of ["tpm2-00.permall", "tpm2-00.volatilestate"]) await copyFile(path.join(state, f), path.join(copy, f));
  const sock = path.join(dir, "copy.sock");
  copyTpm = spawn(
    "/usr/bin/swtpm",
    [
      "socket",
      "--tpm2",
      "--tpmstate",
      `dir=${copy}`,
      "--server",
      `type=unixio,path=${sock}`,
      "--ctrl",
      `type=unixio,path=${sock}.ctrl`,
      "--flags",
      "not-need-init",
    ],
    {
      stdio: "ignore",
    },
  );
  await eventually("the copy serves", async () => ((await readdir(dir)).includes("copy.sock.ctrl") ? true : undefined), 10_000, 50);
  const tcti = `swtpm:path=${sock}`;
  const measured = pcrs(tcti);
  t.is(measured.length, 8, "PCRs 0-7 read");
  const zero = "0".repeat(64);
  for (const i of [0, 1, 2, 3, 4, 5, 6, 7]) t.not(measured[i], zero, `OVMF extended PCR ${i}`);
  const tpm = Tpm.open(tcti);
  try {
    const ek = await createEk(tpm, "rsa2048");
    await tpm.flush(ek.handle);
    const cert = new X509Certificate(Buffer.from(ek.certificate!));
    const issuer = new X509Certificate(await readFile(setup.vtpmCa));
    t.true(cert.checkIssued(issuer) && cert.verify(issuer.publicKey), "the vTPM's EK certificate chains to the vTPM CA");
    t.is(ek.public.nameAlg, TPM_ALG.SHA256);
  } finally {
    await tpm.close();
  }
  copyTpm.kill("SIGKILL");
  copyTpm = undefined;

  const stopped = await tactl("vm", "stop", "--dir", vm);
  t.is(stopped.code, 0, stopped.err);
  const again = JSON.parse(ok(await tactl("vm", "start", "--dir", vm, "--json"), "start without QEMU").out) as { tcti: string };
  const fresh = pcrs(again.tcti);
  t.deepEqual(fresh.slice(0, 8), Array(8).fill(zero), "a fresh boot: the volatile state (the last boot's PCRs) was not kept");
  ok(await tactl("vm", "stop", "--dir", vm), "stop");
});
