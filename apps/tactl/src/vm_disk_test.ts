/**
 * A VM's disks (`tactl vm add-disk`): encrypted only when asked (the VM's `--encrypt-disks`, or `--encrypt`), as a
 * LUKS qcow2 whose random passphrase lives in `<name>.key`, an envelope under the vTPM's key provider (kmipd here, a
 * standard provider). Proves, with qemu-img/qemu-io (Debian's qemu-utils) and QEMU: the image says it is encrypted
 * and does not open without the passphrase; data written through the passphrase is not in the image file, while the
 * same data written to a plain disk is (so the search can find it); `vm start --qemu` attaches both (the encrypted one
 * through a QEMU secret in the tmpfs) and OVMF boots; backup and restore carry the disks; a changed passphrase file
 * stops a start with the reason.
 */
import test from "ava";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { eventually } from "@tessera/process-testing";
import { openEnvelope, parseVmConfig, readEnvelopeHeader } from "@tessera/vtpm";
import { tactl } from "./_test_support.ts";
import { ok, vmTestSetup, type VmTestSetup } from "./_vm_test_support.ts";
import { sourceOf } from "./vm_keys.ts";

const run = promisify(execFile);
const PATTERN = "0x5a";
const NEEDLE = Buffer.alloc(4096, 0x5a);

let dir: string;
let setup: VmTestSetup;
let vm: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tactl-disk-"));
  setup = await vmTestSetup(dir);
  vm = path.join(dir, "vm");
  ok(await tactl("vm", "create", "--dir", vm, "--name", "db-01", "--encrypt-disks"), "create");
  ok(await tactl("vm", "add-vtpm", "--dir", vm, "--standard-provider", setup.standardProvider, ...setup.vtpmCaArgs), "add-vtpm");
});

test.after.always(async () => {
  await tactl("vm", "stop", "--dir", vm).catch(() => undefined);
  await setup?.kmipd.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The passphrase of `disk`, as the manager opens it (the provider's data key, then the envelope). */
async function passphraseOf(vmDir: string, disk: string): Promise<string> {
  const config = parseVmConfig(await readFile(path.join(vmDir, "vm.json"), "utf8"), "vm.json");
  const bytes = new Uint8Array(await readFile(path.join(vmDir, `${disk}.key`)));
  const dataKey = await sourceOf(config.vtpm!.provider, "/nonexistent").dataKeyOf(readEnvelopeHeader(bytes));
  return new TextDecoder().decode(openEnvelope(bytes, dataKey).plaintext);
}

/** qemu-io on `image`, through `secretFile` when given. */
async function qemuIo(image: string, command: string, secretFile?: string): Promise<string> {
  const args = secretFile
    ? ["--object", `secret,id=s,file=${secretFile},format=raw`, "--image-opts", `driver=qcow2,file.filename=${image},encrypt.key-secret=s`, "-c", command]
    : ["-f", "qcow2", image, "-c", command];
  return (await run("qemu-io", args)).stdout;
}

test.serial(
  "an encrypted disk: LUKS, opened only with its passphrase (kept under the provider), data never in the image; a plain disk keeps data as it is",
  async (t) => {
    const added = await tactl("vm", "add-disk", "--dir", vm, "--name", "data", "--size", "16M");
    t.is(added.code, 0, added.err);
    t.is(added.out, "added disk data (16 MiB, data.qcow2): LUKS-encrypted, its passphrase in data.key under the vTPM's key provider\n");
    const image = path.join(vm, "data.qcow2");
    const info = (await run("qemu-img", ["info", image])).stdout;
    t.regex(info, /^encrypted: yes$/m);
    t.regex(info, /format: luks/);
    t.is((await readFile(path.join(vm, "data.key"))).subarray(0, 4).toString(), "TENV", "the passphrase file is an envelope");
    const noKey = await run("qemu-io", ["-f", "qcow2", image, "-c", "read 0 4096"]).then(
      () => "opened",
      (e: { stderr?: string }) => e.stderr ?? "",
    );
    t.regex(noKey, /encrypt\.key-secret' is required/, "without the passphrase qemu does not open it");

    const secret = path.join(dir, "passphrase");
    await writeFile(secret, await passphraseOf(vm, "data"), { mode: 0o600 });
    await qemuIo(image, `write -P ${PATTERN} 0 1M`, secret);
    t.regex(await qemuIo(image, `read -P ${PATTERN} 0 1M`, secret), /read 1048576\/1048576 bytes/, "the data reads back through the passphrase");
    t.false((await readFile(image)).includes(NEEDLE), "the image file does not hold the data");
    await rm(secret);

    const plain = await tactl("vm", "add-disk", "--dir", vm, "--name", "scratch", "--size", "8M", "--no-encrypt");
    t.is(plain.code, 0, plain.err);
    t.regex(plain.out, /, not encrypted\n$/);
    const plainImage = path.join(vm, "scratch.qcow2");
    t.notRegex((await run("qemu-img", ["info", plainImage])).stdout, /encrypted: yes/);
    await qemuIo(plainImage, `write -P ${PATTERN} 0 1M`);
    t.true((await readFile(plainImage)).includes(NEEDLE), "a plain disk holds the data as written (the search finds it)");
    const again = await tactl("vm", "add-disk", "--dir", vm, "--name", "data", "--size", "8M");
    t.is(again.code, 2);
    t.regex(again.err, /VM_EXISTS: VM db-01 has a disk data already/);
    const text = ok(await tactl("vm", "describe", "--dir", vm), "describe").out;
    t.regex(text, /\ndisk data: 16 MiB, LUKS-encrypted \(passphrase under the vTPM's key provider\)\ndisk scratch: 8 MiB, not encrypted\n$/);
  },
);

test.serial(
  "vm start --qemu attaches both disks (the encrypted one through a QEMU secret in the tmpfs) and OVMF boots; backup and restore carry them",
  async (t) => {
    const s = JSON.parse(ok(await tactl("vm", "start", "--dir", vm, "--qemu", "--json"), "start --qemu").out) as { qemuPid: number; serial: string };
    await eventually(
      "OVMF reached its UEFI shell",
      async () => ((await readFile(s.serial, "utf8").catch(() => "")).includes("Shell>") ? true : undefined),
      240_000,
      500,
    );
    const qemuLog = await readFile(path.join(vm, "run", "qemu.log"), "utf8");
    t.notRegex(qemuLog, /error|could not/i, `QEMU opened its disks: ${qemuLog}`);
    t.notThrows(() => process.kill(s.qemuPid, 0), "QEMU runs");
    const cmdline = (await readFile(`/proc/${s.qemuPid}/cmdline`, "utf8")).split("\0");
    t.true(
      cmdline.some((a) => /^secret,id=sec-data,file=\/dev\/shm\/tessera-vtpm-[^/]+\/data\.passphrase,format=raw$/.test(a)),
      "the passphrase comes from a file in the tmpfs",
    );
    t.true(cmdline.some((a) => a.endsWith("scratch.qcow2")));
    ok(await tactl("vm", "stop", "--dir", vm), "stop");

    const backup = path.join(dir, "db-01.backup");
    const b = ok(await tactl("vm", "backup", "--dir", vm, "--out", backup), "backup");
    t.regex(b.out, /^backed up vm\.json, data\.qcow2, data\.key, scratch\.qcow2 and vm\.nvram to /);
    const restored = path.join(dir, "restored");
    ok(await tactl("vm", "restore", "--from", backup, "--dir", restored), "restore");
    for (const f of ["data.qcow2", "data.key", "scratch.qcow2"]) t.deepEqual(await readFile(path.join(restored, f)), await readFile(path.join(vm, f)), f);

    // A changed passphrase file: the start says which file, and nothing runs.
    const key = await readFile(path.join(restored, "data.key"));
    key[key.length - 3]! ^= 1;
    await writeFile(path.join(restored, "data.key"), key);
    const refused = await tactl("vm", "start", "--dir", restored, "--qemu");
    t.is(refused.code, 1, refused.err);
    t.regex(refused.err, /VM_STATE_REFUSED: .*data\.key does not open: envelope content .*fails authentication/);
  },
);

test.serial("qemu-img's PBKDF calibration failing ('Unable to get accurate CPU usage') is tried again; another failure is not, and leaves no image behind", async (t) => {
  // A qemu-img first on PATH that fails the way QEMU's calibration does (after creating a partial file), then
  // hands over to the real one; or fails otherwise when asked to.
  const bin = path.join(dir, "fake-bin");
  const calls = path.join(dir, "fake-calls");
  await rm(bin, { recursive: true, force: true });
  await import("node:fs/promises").then((fs) => fs.mkdir(bin));
  const script = `#!/bin/sh
echo x >> ${calls}
n=$(wc -l < ${calls})
for last; do :; done
if [ "$1" = create ] && [ "$FAKE_MODE" = other ]; then image=$(eval echo \\\${$(($#-1))}); : > "$image"; echo "qemu-img: $image: Permission denied" >&2; exit 1; fi
if [ "$1" = create ] && [ "$n" -eq 1 ]; then image=$(eval echo \\\${$(($#-1))}); : > "$image"; echo "qemu-img: $image: Unable to get accurate CPU usage" >&2; exit 1; fi
exec /usr/bin/qemu-img "$@"
`;
  await writeFile(path.join(bin, "qemu-img"), script, { mode: 0o755 });
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath ?? ""}`;
  try {
    await rm(calls, { force: true });
    const added = await tactl("vm", "add-disk", "--dir", vm, "--name", "retried", "--size", "16M");
    t.is(added.code, 0, added.err);
    // The fake's failure, then the real qemu-img (whose own calibration may have failed once more on a loaded VM).
    t.true((await readFile(calls, "utf8")).split("\n").filter(Boolean).length >= 2, "tried again after the failed calibration");
    t.regex((await run("/usr/bin/qemu-img", ["info", path.join(vm, "retried.qcow2")])).stdout, /^encrypted: yes$/m);

    await rm(calls, { force: true });
    process.env.FAKE_MODE = "other";
    const refused = await tactl("vm", "add-disk", "--dir", vm, "--name", "refused", "--size", "16M");
    t.is(refused.code, 2, refused.err); // VM_INPUT
    t.regex(refused.err, /VM_INPUT: qemu-img create .*refused\.qcow2: [^]*Permission denied/);
    t.is((await readFile(calls, "utf8")).split("\n").filter(Boolean).length, 1, "not tried again");
    await t.throwsAsync(readFile(path.join(vm, "refused.qcow2")), { code: "ENOENT" }, "no partial image left");
  } finally {
    process.env.PATH = savedPath;
    delete process.env.FAKE_MODE;
  }
});
