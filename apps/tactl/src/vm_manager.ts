/**
 * The vTPM manager: a VM is a directory D with `vm.json` (@tessera/vtpm's schema, no secret in it) and, once it has
 * a vTPM, `vm.nvram`: the vTPM's state (swtpm's files) in an envelope whose data key a key provider wraps. While the
 * vTPM runs, its state lives in a private tmpfs folder (`/dev/shm/tessera-vtpm-*`, 0700, files 0600) and nowhere
 * else in the clear; swtpm serves it on `D/run/tpm.sock`. Stopping saves it back: the data key is fetched first (if
 * the provider refuses, the vTPM keeps running and nothing changes), then swtpm is shut down, and `vm.nvram` is
 * replaced atomically (write, fsync, rename, fsync of the folder): a crash leaves the last good state.
 *
 * Why a tmpfs and not swtpm's own state encryption (`--key fd=…`): the state on disk stays one envelope (the
 * codebase's one format, rewrap and describe included) and swtpm's key would be one more key to fetch and pass.
 * @module
 */
import { randomBytes, randomUUID, X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { certificateIssuer } from "@tessera/pki";
import { publicKeyPem, TPM_ALG, TPM_RH, TPMA_NV } from "@tessera/tpm2";
import { createEk, Tpm } from "@tessera/tss";
import { TaProblemError } from "./ta_client.ts";
import {
  EnvelopeError,
  newVmConfig,
  nvramContext,
  openEnvelope,
  parseVmConfig,
  readEnvelopeHeader,
  rewrapEnvelope,
  sealEnvelope,
  sealEnvelopeParts,
  VmConfigError,
  vtpmRefusal,
  type EnvelopeHeader,
  type StandardProviderConfig,
  type VmConfig,
  type VmDisk,
  type VtpmProvider,
  diskKeyContext,
} from "@tessera/vtpm";
import { isAlive, spawnDetached, stopProcesses, type DevProcess } from "./dev_process.ts";
import { findProgram, manufactureTpm, MAX_SOCKET_PATH, swtpmSocketArgs, tpmCaLayout, waitForSwtpm, writeTpmCaConfig } from "./dev_swtpm.ts";
import { DevError } from "./dev_errors.ts";
import { writeFileAtomic } from "./files.ts";
import { agentRequest } from "./wf_agent_client.ts";
import { VmError } from "./vm_errors.ts";
import { probeStandard, sourceOf } from "./vm_keys.ts";

const run = promisify(execFile);

/** Where a vTPM's state lives while it runs: a tmpfs (RAM), never the VM's folder or /tmp. */
export const VTPM_RUNTIME_ROOT = "/dev/shm";
/** The content format inside vm.nvram's envelope: swtpm's state files by name. */
const STATE_FORMAT = "tessera-vtpm-state/v1";
const STATE_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The files of a VM directory. */
export interface VmLayout {
  readonly dir: string;
  readonly config: string;
  readonly nvram: string;
  readonly run: string;
  readonly socket: string;
  readonly runState: string;
  readonly log: string;
  /** The guest's serial console, when QEMU runs it. */
  readonly serial: string;
  readonly qemuLog: string;
}

/** The files of the VM in `dir`. */
export function vmLayout(dir: string): VmLayout {
  const d = path.resolve(dir);
  const runDir = path.join(d, "run");
  return {
    dir: d,
    config: path.join(d, "vm.json"),
    nvram: path.join(d, "vm.nvram"),
    run: runDir,
    socket: path.join(runDir, "tpm.sock"),
    runState: path.join(runDir, "vtpm.json"),
    log: path.join(runDir, "swtpm.log"),
    serial: path.join(runDir, "serial.log"),
    qemuLog: path.join(runDir, "qemu.log"),
  };
}

/** What `D/run/vtpm.json` records of a running vTPM (no secret). */
interface RunState {
  readonly pid: number;
  readonly startTime: number;
  readonly stateDir: string;
  readonly tcti: string;
  /** QEMU running the VM against the vTPM (`--qemu`). */
  readonly qemu?: { readonly pid: number; readonly startTime: number };
}

/** The VM's configuration. @throws VmError VM_NOT_FOUND, VM_INPUT (naming the field) */
export async function readVm(dir: string): Promise<VmConfig> {
  const l = vmLayout(dir);
  let text: string;
  try {
    text = await readFile(l.config, "utf8");
  } catch (e) {
    throw new VmError("VM_NOT_FOUND", `${l.config}: no VM here (tactl vm create --dir ${dir} --name N): ${(e as Error).message}`, { cause: e });
  }
  try {
    return parseVmConfig(text, l.config);
  } catch (e) {
    if (e instanceof VmConfigError) throw new VmError("VM_INPUT", e.message, { cause: e });
    throw e;
  }
}

async function writeVm(dir: string, config: VmConfig): Promise<void> {
  await writeFileAtomic(vmLayout(dir).config, JSON.stringify(config, null, 2) + "\n", 0o600);
}

/**
 * A new VM in `dir` (created; it must not hold a VM).
 * @throws VmError VM_EXISTS, VM_INPUT
 */
export async function createVm(dir: string, o: { name: string; firmware?: "efi" | "bios"; hwVersion?: number; encryptDisks?: boolean }): Promise<VmConfig> {
  const l = vmLayout(dir);
  if (existsSync(l.config)) throw new VmError("VM_EXISTS", `${l.config} exists: ${dir} holds a VM already`);
  let config: VmConfig;
  try {
    config = newVmConfig({
      name: o.name,
      uuid: randomUUID(),
      ...(o.firmware ? { firmware: o.firmware } : {}),
      ...(o.hwVersion ? { hwVersion: o.hwVersion } : {}),
      encryptDisks: o.encryptDisks === true,
    });
  } catch (e) {
    if (e instanceof VmConfigError) throw new VmError("VM_INPUT", e.message, { cause: e });
    throw e;
  }
  await mkdir(l.dir, { recursive: true, mode: 0o700 });
  await writeVm(dir, config);
  return config;
}

/** swtpm's state files of `stateDir`, as the envelope's content. */
async function packState(stateDir: string): Promise<Uint8Array> {
  const files: Record<string, string> = {};
  for (const name of (await readdir(stateDir)).sort()) {
    // The volatile state (PCRs, sessions) is not kept: a VM's next start is a fresh boot, its PCRs measured anew.
    if (name === ".lock" || name === "tpm2-00.volatilestate") continue;
    files[name] = (await readFile(path.join(stateDir, name))).toString("base64");
  }
  if (!("tpm2-00.permall" in files)) throw new VmError("VM_SWTPM", `swtpm left no tpm2-00.permall in ${stateDir}`);
  return new TextEncoder().encode(JSON.stringify({ format: STATE_FORMAT, files }));
}

/** Writes the state files of an opened envelope into `stateDir` (0600 each). */
async function unpackState(content: Uint8Array, stateDir: string, where: string): Promise<void> {
  let doc: { format?: unknown; files?: unknown };
  try {
    doc = JSON.parse(new TextDecoder().decode(content)) as typeof doc;
  } catch (e) {
    throw new VmError("VM_STATE_REFUSED", `${where}: the opened state is not ${STATE_FORMAT}`, { cause: e });
  }
  if (doc.format !== STATE_FORMAT || typeof doc.files !== "object" || doc.files === null)
    throw new VmError("VM_STATE_REFUSED", `${where}: the opened state is not ${STATE_FORMAT}`);
  for (const [name, b64] of Object.entries(doc.files as Record<string, unknown>)) {
    if (!STATE_FILE.test(name) || typeof b64 !== "string") throw new VmError("VM_STATE_REFUSED", `${where}: the opened state names a file "${name}"`);
    await writeFile(path.join(stateDir, name), Buffer.from(b64, "base64"), { mode: 0o600 });
  }
}

/** A private folder in RAM for a vTPM's state (0700). */
async function runtimeDir(): Promise<{ root: string; state: string }> {
  const root = await mkdtemp(path.join(VTPM_RUNTIME_ROOT, "tessera-vtpm-"));
  await chmod(root, 0o700);
  const state = path.join(root, "state");
  await mkdir(state, { mode: 0o700 });
  return { root, state };
}

/** Removes a runtime folder, its files overwritten with zeros first (tmpfs pages go back to the kernel as they are). */
async function wipe(root: string): Promise<void> {
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) await walk(f);
      else if (e.isFile()) {
        const size = (await readFile(f).catch(() => Buffer.alloc(0))).length;
        await writeFile(f, Buffer.alloc(size)).catch(() => undefined);
      }
    }
  };
  await walk(root);
  await rm(root, { recursive: true, force: true });
}

/** Options of {@link addVtpm}. */
export interface AddVtpmOptions {
  /** The host agent's socket (trusted providers; the default provider). */
  readonly agent: string;
  /** A trusted key provider's name; default: the agent's default provider. */
  readonly keyProvider?: string;
  /** A standard key provider instead (its mode is probed). */
  readonly standard?: Omit<StandardProviderConfig, "mode" | "kind">;
  /**
   * An imported vTPM CA that signs the EK certificate: its certificate and key (PEM files). Default: the Trust
   * Authority cluster's vTPM CA (kmxd's), asked through the agent for this attested host.
   */
  readonly vtpmCa?: { readonly certificate: string; readonly key: string };
}

/** The agent's default trusted key provider, or undefined. */
async function agentDefaultProvider(agent: string): Promise<string | undefined> {
  try {
    const r = (await agentRequest(agent, "GET", "/api/v1/key-provider")) as { name?: unknown } | undefined;
    return typeof r?.name === "string" ? r.name : undefined;
  } catch (e) {
    throw new VmError("VM_AGENT_UNREACHABLE", `no --key-provider given, and the agent's default cannot be asked: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Gives the VM in `dir` a new vTPM: its own EK and an EK certificate signed by the vTPM CA (in its NV, as a physical
 * TPM has it), its state sealed in vm.nvram under a new data key of the provider. Nothing of it is written in the
 * clear outside the tmpfs, which is wiped.
 * @throws VmError VM_NOT_ALLOWED (BIOS, hardware version, a vTPM already), VM_NO_PROVIDER, VM_KEY_REFUSED, VM_SWTPM
 */
export async function addVtpm(dir: string, o: AddVtpmOptions): Promise<VmConfig> {
  const config = await readVm(dir);
  const refusal = vtpmRefusal(config);
  if (refusal !== undefined) throw new VmError("VM_NOT_ALLOWED", refusal.message, { cause: refusal });
  let provider: VtpmProvider;
  if (o.standard !== undefined) {
    provider = await probeStandard({ kind: "standard", ...o.standard });
  } else {
    const name = o.keyProvider ?? (await agentDefaultProvider(o.agent));
    if (name === undefined) {
      throw new VmError(
        "VM_NO_PROVIDER",
        `VM ${config.name}: no key provider is configured: give --key-provider KP (a trusted provider, through the agent at ${o.agent}), --standard-provider FILE, or set the agent's default (tactl cluster set-key-provider)`,
      );
    }
    provider = { kind: "trusted", name };
  }
  const { dataKey, key } = await sourceOf(provider, o.agent).newDataKey();
  const rt = await runtimeDir();
  try {
    const ca = tpmCaLayout(path.join(rt.root, "ca"));
    const imported =
      o.vtpmCa === undefined ? undefined : { certificate: path.resolve(o.vtpmCa.certificate), key: path.resolve(o.vtpmCa.key), model: "Tessera vTPM" };
    await writeTpmCaConfig(ca, imported);
    try {
      await manufactureTpm(rt.state, ca, { ekCertificate: imported !== undefined });
    } catch (e) {
      if (e instanceof DevError) throw new VmError("VM_SWTPM", `the vTPM of ${config.name}: ${e.message}`, { cause: e });
      throw e;
    }
    const der =
      imported !== undefined
        ? new Uint8Array(await readFile(path.join(rt.root, "ek-certs", "ek-rsa2048.crt")))
        : await certifyByTrustAuthority(rt, config, o.agent);
    const ekCertificate = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
    const nvram = sealEnvelope(await packState(rt.state), dataKey, key, { context: nvramContext(config) });
    const l = vmLayout(dir);
    await writeFileAtomic(l.nvram, nvram, 0o600);
    const next: VmConfig = { ...config, vtpm: { provider, ekCertificate, ekIssuer: certificateIssuer(der).readable, created: new Date().toISOString() } };
    await writeVm(dir, next);
    return next;
  } finally {
    dataKey.fill(0);
    await wipe(rt.root);
  }
}

/** The NV index of the RSA 2048 EK certificate (TCG EK Credential Profile). */
const EK_CERT_NV_INDEX = 0x01c00002;

/**
 * The vTPM's EK certified by the Trust Authority's vTPM CA: a swtpm on the new state (in the tmpfs) recreates the
 * EK from the TCG template, the agent asks kmxd for its certificate (the host must be attested), and the
 * certificate is written to the EK certificate's NV index under the platform hierarchy, as a TPM maker does.
 * @returns the certificate (DER)
 */
async function certifyByTrustAuthority(rt: { root: string; state: string }, config: VmConfig, agent: string): Promise<Uint8Array> {
  const socket = path.join(rt.root, "setup.sock");
  const proc = await spawnDetached({
    name: `vTPM set-up of ${config.name}`,
    command: findProgram("swtpm"),
    args: swtpmSocketArgs(rt.state, socket, { private: true }),
    log: path.join(rt.root, "setup.log"),
  });
  try {
    await waitForSwtpm(socket, () => isAlive(proc), 30_000);
    const tpm = Tpm.open(`swtpm:path=${socket}`);
    try {
      const ek = await createEk(tpm, "rsa2048");
      await tpm.flush(ek.handle);
      let answer: { certificate?: unknown };
      try {
        answer = (await agentRequest(agent, "POST", "/api/v1/vtpm/ek-certificates", {
          ekPublicKey: publicKeyPem(ek.public),
          vm: { name: config.name, uuid: config.uuid },
        })) as typeof answer;
      } catch (e) {
        throw new VmError(
          e instanceof TaProblemError ? "VM_KEY_REFUSED" : "VM_AGENT_UNREACHABLE",
          `the Trust Authority's vTPM CA (through the agent at ${agent}) did not certify the vTPM's EK: ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (typeof answer?.certificate !== "string") throw new VmError("VM_AGENT_ANSWER", "the agent's answer holds no EK certificate");
      const der = new Uint8Array(new X509Certificate(answer.certificate).raw);
      await tpm.nvDefine(
        {
          nvIndex: EK_CERT_NV_INDEX,
          nameAlg: TPM_ALG.SHA256,
          attributes: TPMA_NV.PPWRITE | TPMA_NV.WRITEDEFINE | TPMA_NV.PPREAD | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA | TPMA_NV.PLATFORMCREATE,
          authPolicy: new Uint8Array(),
          dataSize: der.length,
        },
        { authHandle: TPM_RH.PLATFORM },
      );
      await tpm.nvWrite(EK_CERT_NV_INDEX, der, { authHandle: TPM_RH.PLATFORM });
      await tpm.shutdown();
      return der;
    } finally {
      await tpm.close();
    }
  } finally {
    await run(findProgram("swtpm_ioctl"), ["--unix", `${socket}.ctrl`, "-s"], { timeout: 10_000 }).catch(() => undefined);
    await stopProcesses([proc], 5_000);
  }
}

async function readRunState(l: VmLayout): Promise<RunState | undefined> {
  try {
    return JSON.parse(await readFile(l.runState, "utf8")) as RunState;
  } catch {
    return undefined;
  }
}

/** The running vTPM of the VM, if its swtpm still runs. */
async function running(l: VmLayout): Promise<RunState | undefined> {
  const r = await readRunState(l);
  return r !== undefined && isAlive(r) ? r : undefined;
}

/**
 * A rekey interrupted after writing `vm.nvram.next`: when vm.json already names the provider the new state is sealed
 * for, the new state goes in place; otherwise (vm.json not yet written) it is dropped and the old pair stays.
 */
async function finishPendingRekey(l: VmLayout, config: VmConfig): Promise<void> {
  const pending = `${l.nvram}.next`;
  if (!existsSync(pending)) return;
  let header: EnvelopeHeader | undefined;
  try {
    header = readEnvelopeHeader(new Uint8Array(await readFile(pending)));
  } catch {
    header = undefined;
  }
  const p = config.vtpm?.provider;
  if (header !== undefined && p !== undefined && header.provider.name === p.name && header.provider.kind === p.kind) await rename(pending, l.nvram);
  else await rm(pending, { force: true });
}

/** The envelope of vm.nvram, its header checked against the VM. */
async function nvramOf(l: VmLayout, config: VmConfig): Promise<{ bytes: Uint8Array; header: EnvelopeHeader }> {
  if (config.vtpm === undefined) throw new VmError("VM_NO_VTPM", `VM ${config.name} has no vTPM (tactl vm add-vtpm --dir ${l.dir})`);
  await finishPendingRekey(l, config);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(l.nvram));
  } catch (e) {
    throw new VmError("VM_STATE_REFUSED", `${l.nvram}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const header = readEnvelopeHeader(bytes);
    if (header.context !== nvramContext(config))
      throw new VmError("VM_STATE_REFUSED", `${l.nvram} is the state of another VM (${header.context}), not of ${config.name}`);
    return { bytes, header };
  } catch (e) {
    if (e instanceof EnvelopeError) throw new VmError("VM_STATE_REFUSED", `${l.nvram} is refused: ${e.message}; nothing was changed`, { cause: e });
    throw e;
  }
}

/** What {@link startVtpm} started. */
export interface StartedVtpm {
  /** The guest's TCTI (tpm2-tools, @tessera/tss). */
  readonly tcti: string;
  readonly socket: string;
  readonly pid: number;
  /** Time from the call to the first command answered, ms. */
  readonly ms: number;
  /** QEMU's pid, with `qemu`. */
  readonly qemuPid?: number;
  /** The guest's serial console log, with `qemu`. */
  readonly serial?: string;
}

/** QEMU and OVMF's files (Debian's qemu-system-x86 and ovmf). @throws VmError VM_INPUT naming what is missing */
function qemuFirmware(): { qemu: string; code: string; vars: string } {
  let qemu: string;
  try {
    qemu = findProgram("qemu-system-x86_64");
  } catch {
    throw new VmError("VM_INPUT", "--qemu: qemu-system-x86_64 is not installed (Debian: apt-get install qemu-system-x86 ovmf)");
  }
  const code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
  const vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
  for (const f of [code, vars]) if (!existsSync(f)) throw new VmError("VM_INPUT", `--qemu: ${f} is missing (Debian: apt-get install ovmf)`);
  return { qemu, code, vars };
}

/**
 * QEMU's command line: a q35 machine under TCG (no KVM needed), OVMF, the vTPM as a TPM CRB device through swtpm's
 * control channel (QEMU hands swtpm the data channel), the serial console to D/run/serial.log, no display.
 */
function qemuArgs(config: VmConfig, l: VmLayout, code: string, vars: string, secrets: ReadonlyMap<string, string>): string[] {
  const disks = (config.disks ?? []).flatMap((d) => {
    const image = path.join(l.dir, `${d.name}.qcow2`);
    if (!d.encrypted) return ["-drive", `if=virtio,format=qcow2,file=${image}`];
    // The LUKS passphrase from its file in the tmpfs (QEMU reads it when it starts).
    return [
      "-object",
      `secret,id=sec-${d.name},file=${secrets.get(d.name)!},format=raw`,
      "-drive",
      `if=virtio,format=qcow2,file=${image},encrypt.key-secret=sec-${d.name}`,
    ];
  });
  return [
    ...["-name", config.name, "-uuid", config.uuid, "-machine", "q35", "-accel", "tcg", "-m", "256", "-display", "none", "-nodefaults", "-no-reboot"],
    ...["-serial", `file:${l.serial}`],
    ...["-drive", `if=pflash,format=raw,unit=0,file=${code},readonly=on`, "-drive", `if=pflash,format=raw,unit=1,file=${vars}`],
    ...["-chardev", `socket,id=chrtpm,path=${l.socket}.ctrl`, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-crb,tpmdev=tpm0"],
    ...disks,
  ];
}

/** `qemu-img` (Debian's qemu-utils). @throws VmError VM_INPUT when missing */
function qemuImg(): string {
  try {
    return findProgram("qemu-img");
  } catch {
    throw new VmError("VM_INPUT", "qemu-img is not installed (Debian: apt-get install qemu-utils)");
  }
}

/** What QEMU's PBKDF calibration says when the thread's CPU time it reads did not move during its first round. */
const CALIBRATION_FLAKE = /Unable to get accurate CPU usage/;

/**
 * `qemu-img create args…` of a new `image`. A LUKS header's PBKDF iterations are calibrated by timing a round
 * against the thread's CPU time; on a loaded VM that time may not have moved yet, and qemu-img fails with "Unable to
 * get accurate CPU usage" (seen in CI). That failure is tried again, twice; a failed attempt's partial image (the
 * file did not exist before: the caller checked) is removed, so that a later `add-disk` is not refused as existing.
 * @throws VmError VM_INPUT with qemu-img's message
 */
async function qemuImgCreate(image: string, args: readonly string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run(qemuImg(), ["create", ...args]);
      return;
    } catch (e) {
      await rm(image, { force: true });
      if (attempt < 3 && CALIBRATION_FLAKE.test((e as Error).message)) continue;
      throw new VmError("VM_INPUT", `qemu-img create ${image}: ${(e as Error).message}`, { cause: e });
    }
  }
}

/**
 * The passphrase of an encrypted disk: `<name>.key` opened with its data key from the vTPM's provider.
 * @throws VmError VM_STATE_REFUSED (a key file changed, cut, or another disk's), VM_KEY_REFUSED
 */
async function diskPassphrase(l: VmLayout, config: VmConfig, disk: VmDisk, agent: string): Promise<Uint8Array> {
  const file = path.join(l.dir, `${disk.name}.key`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new VmError("VM_STATE_REFUSED", `${file}: ${(e as Error).message}`, { cause: e });
  }
  if (config.vtpm === undefined) throw new VmError("VM_NO_VTPM", `VM ${config.name} has no vTPM, so no key provider for disk ${disk.name}'s passphrase`);
  try {
    const header = readEnvelopeHeader(bytes);
    if (header.context !== diskKeyContext(disk)) throw new VmError("VM_STATE_REFUSED", `${file} is the passphrase of another disk (${header.context})`);
    const dataKey = await sourceOf(config.vtpm.provider, agent).dataKeyOf(header);
    try {
      return openEnvelope(bytes, dataKey).plaintext;
    } finally {
      dataKey.fill(0);
    }
  } catch (e) {
    if (e instanceof EnvelopeError) throw new VmError("VM_STATE_REFUSED", `${file} does not open: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Adds a disk to the (stopped) VM: `<name>.qcow2`, LUKS-encrypted when asked (default: the VM's `encryption.disks`),
 * its passphrase random and kept in `<name>.key`, an envelope under a new data key of the vTPM's provider; the
 * passphrase is never written elsewhere than the tmpfs while qemu-img (or QEMU) reads it.
 * @throws VmError VM_EXISTS, VM_RUNNING, VM_NO_PROVIDER (encrypted without a vTPM), VM_KEY_REFUSED, VM_INPUT
 */
export async function addDisk(dir: string, o: { name: string; sizeMiB: number; agent: string; encrypt?: boolean }): Promise<VmDisk> {
  const l = vmLayout(dir);
  const config = await readVm(dir);
  await mustBeStopped(l, config, "adding a disk");
  const disk = { name: o.name, sizeMiB: o.sizeMiB, encrypted: o.encrypt ?? config.encryption.disks };
  let next: VmConfig;
  try {
    next = parseVmConfig(JSON.stringify({ ...config, disks: [...(config.disks ?? []), disk] }), `VM ${config.name}'s disks`);
  } catch (e) {
    if (e instanceof VmConfigError) throw new VmError("VM_INPUT", e.message, { cause: e });
    throw e;
  }
  const image = path.join(l.dir, `${disk.name}.qcow2`);
  if ((config.disks ?? []).some((d) => d.name === disk.name) || existsSync(image))
    throw new VmError("VM_EXISTS", `VM ${config.name} has a disk ${disk.name} already`);
  const size = `${disk.sizeMiB}M`;
  if (!disk.encrypted) {
    await qemuImgCreate(image, ["-q", "-f", "qcow2", image, size]);
  } else {
    if (config.vtpm === undefined) {
      throw new VmError(
        "VM_NO_PROVIDER",
        `VM ${config.name}: an encrypted disk's passphrase is kept under the vTPM's key provider: add a vTPM first (tactl vm add-vtpm)`,
      );
    }
    const { dataKey, key } = await sourceOf(config.vtpm.provider, o.agent).newDataKey();
    const passphrase = new TextEncoder().encode(randomBytes(32).toString("base64"));
    const rt = await runtimeDir();
    try {
      const secret = path.join(rt.root, "passphrase");
      await writeFile(secret, passphrase, { mode: 0o600 });
      await qemuImgCreate(image, ["-q", "-f", "qcow2", "--object", `secret,id=sec0,file=${secret},format=raw`, "-o", "encrypt.format=luks,encrypt.key-secret=sec0", image, size]);
      await writeFileAtomic(path.join(l.dir, `${disk.name}.key`), sealEnvelope(passphrase, dataKey, key, { context: diskKeyContext(disk) }), 0o600);
    } finally {
      passphrase.fill(0);
      dataKey.fill(0);
      await wipe(rt.root);
    }
  }
  await writeVm(dir, next);
  return disk;
}

/**
 * Starts the VM's vTPM: the data key from its provider, vm.nvram opened into a tmpfs, swtpm serving it on D/run/tpm.sock.
 * @param o.startup TPM2_Startup done by swtpm (default true; false for a firmware that sends it, as QEMU's OVMF does)
 * @throws VmError VM_RUNNING, VM_NO_VTPM, VM_KEY_REFUSED (not attested, red), VM_STATE_REFUSED (tampered, cut, another VM's), VM_SWTPM
 */
export async function startVtpm(dir: string, o: { agent: string; startup?: boolean; qemu?: boolean }): Promise<StartedVtpm> {
  const t0 = performance.now();
  const l = vmLayout(dir);
  const config = await readVm(dir);
  const already = await running(l);
  if (already !== undefined) throw new VmError("VM_RUNNING", `the vTPM of ${config.name} runs already (swtpm pid ${already.pid}, ${already.tcti})`);
  const left = await readRunState(l);
  if (left !== undefined && existsSync(left.stateDir)) {
    throw new VmError(
      "VM_RUNNING",
      `the vTPM of ${config.name} stopped without being saved (its state is in ${left.stateDir}): tactl vm stop --dir ${l.dir} saves it`,
    );
  }
  const firmware = o.qemu === true ? qemuFirmware() : undefined;
  if (`${l.socket}.ctrl`.length > MAX_SOCKET_PATH)
    throw new VmError("VM_INPUT", `${l.socket}.ctrl is too long for a Unix socket: move the VM to a shorter path`);
  const { bytes, header } = await nvramOf(l, config);
  const dataKey = await sourceOf(config.vtpm!.provider, o.agent).dataKeyOf(header);
  let content: Uint8Array;
  try {
    content = openEnvelope(bytes, dataKey).plaintext;
  } catch (e) {
    if (e instanceof EnvelopeError)
      throw new VmError("VM_STATE_REFUSED", `${l.nvram} does not open: ${e.message}; nothing was changed, the last good state is kept`, { cause: e });
    throw e;
  } finally {
    dataKey.fill(0);
  }
  const rt = await runtimeDir();
  let proc: DevProcess | undefined;
  let qemuStarted: DevProcess | undefined;
  try {
    await unpackState(content, rt.state, l.nvram);
    content.fill(0);
    await mkdir(l.run, { recursive: true, mode: 0o700 });
    await rm(l.socket, { force: true });
    await rm(`${l.socket}.ctrl`, { force: true });
    proc = await spawnDetached({
      name: `vTPM of ${config.name}`,
      command: findProgram("swtpm"),
      // QEMU's firmware powers the TPM on and sends TPM2_Startup itself.
      args: swtpmSocketArgs(rt.state, l.socket, { private: true, startup: !(o.startup === false || firmware !== undefined) }),
      log: l.log,
    });
    const p = proc;
    await waitForSwtpm(l.socket, () => isAlive(p), 30_000);
    const tcti = `swtpm:path=${l.socket}`;
    let qemu: DevProcess | undefined;
    if (firmware !== undefined) {
      // The firmware's variables start from OVMF's template at each start, in the tmpfs beside the vTPM's state.
      const vars = path.join(rt.root, "OVMF_VARS.fd");
      await writeFile(vars, await readFile(firmware.vars), { mode: 0o600 });
      const secrets = new Map<string, string>();
      for (const d of config.disks ?? []) {
        if (!d.encrypted) continue;
        const passphrase = await diskPassphrase(l, config, d, o.agent);
        const file = path.join(rt.root, `${d.name}.passphrase`);
        await writeFile(file, passphrase, { mode: 0o600 });
        passphrase.fill(0);
        secrets.set(d.name, file);
      }
      qemu = await spawnDetached({
        name: `QEMU of ${config.name}`,
        command: firmware.qemu,
        args: qemuArgs(config, l, firmware.code, vars, secrets),
        log: l.qemuLog,
      });
      qemuStarted = qemu;
    }
    await writeFileAtomic(
      l.runState,
      JSON.stringify({
        pid: proc.pid,
        startTime: proc.startTime,
        stateDir: rt.state,
        tcti,
        ...(qemu ? { qemu: { pid: qemu.pid, startTime: qemu.startTime } } : {}),
      } satisfies RunState) + "\n",
      0o600,
    );
    return { tcti, socket: l.socket, pid: proc.pid, ms: performance.now() - t0, ...(qemu ? { qemuPid: qemu.pid, serial: l.serial } : {}) };
  } catch (e) {
    if (qemuStarted !== undefined) await stopProcesses([qemuStarted]);
    if (proc !== undefined) await stopProcesses([proc]);
    await wipe(rt.root);
    if (e instanceof DevError) throw new VmError("VM_SWTPM", `the vTPM of ${config.name}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Stops the VM's vTPM and saves its state into vm.nvram (a fresh nonce, the same data key). The
 * data key is fetched before anything stops: when the provider refuses, the vTPM keeps running and nothing changes.
 * @throws VmError VM_NOT_RUNNING, VM_KEY_REFUSED, VM_SWTPM
 */
export async function stopVtpm(dir: string, o: { agent: string }): Promise<{ saved: number }> {
  const l = vmLayout(dir);
  const config = await readVm(dir);
  // Also a vTPM whose swtpm ended by itself (QEMU shut it down): its state is still in the tmpfs, to be saved.
  const r = await readRunState(l);
  if (r === undefined || !existsSync(r.stateDir)) throw new VmError("VM_NOT_RUNNING", `the vTPM of ${config.name} is not running`);
  const { header } = await nvramOf(l, config);
  const dataKey = await sourceOf(config.vtpm!.provider, o.agent).dataKeyOf(header);
  try {
    // The guest first: QEMU quits on SIGTERM.
    if (r.qemu !== undefined) await stopProcesses([{ name: "qemu", pid: r.qemu.pid, startTime: r.qemu.startTime, log: l.qemuLog }], 10_000);
    const proc: DevProcess = { name: "swtpm", pid: r.pid, startTime: r.startTime, log: l.log };
    // CMD_SHUTDOWN: swtpm writes its permanent state and exits.
    if (isAlive(proc)) await run(findProgram("swtpm_ioctl"), ["--unix", `${l.socket}.ctrl`, "-s"], { timeout: 10_000 }).catch(() => undefined);
    const left = await stopProcesses([proc], 5_000);
    if (left.length > 0) throw new VmError("VM_SWTPM", `swtpm pid ${r.pid} did not stop; the last good state is kept in ${l.nvram}`);
    const content = await packState(r.stateDir);
    // The envelope's pieces go to the file as they are (writev): no copy of the state joins them.
    const nvram = sealEnvelopeParts(
      content,
      dataKey,
      { provider: header.provider, key: header.key, wrappedDataKey: header.wrappedDataKey },
      { context: nvramContext(config) },
    );
    content.fill(0);
    await writeFileAtomic(l.nvram, nvram, 0o600);
    await wipe(path.dirname(r.stateDir));
    await rm(l.runState, { force: true });
    await rm(l.socket, { force: true });
    await rm(`${l.socket}.ctrl`, { force: true });
    return { saved: nvram.length };
  } finally {
    dataKey.fill(0);
  }
}

/** What `tactl vm describe` shows: the VM, and what is encrypted with which provider and key — never the key. */
export interface VmDescription {
  readonly name: string;
  readonly uuid: string;
  readonly firmware: string;
  readonly hwVersion: number;
  /** Home files (vm.nvram) encrypted; `disks`: the VM's setting for new disks. */
  readonly encrypted: { readonly homeFiles: boolean; readonly disks: boolean };
  /** Each disk: its size, and whether its image is LUKS-encrypted (the passphrase under the vTPM's provider). */
  readonly disks: readonly { readonly name: string; readonly sizeMiB: number; readonly encrypted: boolean }[];
  readonly vtpm: {
    readonly provider: { readonly name: string; readonly kind: string };
    readonly key: { readonly id: string; readonly version: number };
    readonly ekIssuer: string;
    readonly created: string;
    readonly nvramBytes: number;
    readonly running: { readonly tcti: string; readonly pid: number } | null;
  } | null;
}

/** Describes the VM in `dir`. */
export async function describeVm(dir: string): Promise<VmDescription> {
  const l = vmLayout(dir);
  const config = await readVm(dir);
  const base = {
    name: config.name,
    uuid: config.uuid,
    firmware: config.firmware,
    hwVersion: config.hwVersion,
    disks: (config.disks ?? []).map((d) => ({ ...d })),
  };
  if (config.vtpm === undefined) return { ...base, encrypted: { homeFiles: false, disks: config.encryption.disks }, vtpm: null };
  const { bytes, header } = await nvramOf(l, config);
  const r = await running(l);
  return {
    ...base,
    encrypted: { homeFiles: true, disks: config.encryption.disks },
    vtpm: {
      provider: header.provider,
      key: header.key,
      ekIssuer: config.vtpm.ekIssuer,
      created: config.vtpm.created,
      nvramBytes: bytes.length,
      running: r === undefined ? null : { tcti: r.tcti, pid: r.pid },
    },
  };
}

/** The provider asked for on the command line (`--key-provider` or `--standard-provider`), or the VM's own. */
export interface ProviderChoice {
  readonly keyProvider?: string;
  readonly standard?: Omit<StandardProviderConfig, "mode" | "kind">;
}

async function chosenProvider(choice: ProviderChoice, current: VtpmProvider | undefined, agent: string, vmName: string): Promise<VtpmProvider> {
  if (choice.standard !== undefined) return probeStandard({ kind: "standard", ...choice.standard });
  if (choice.keyProvider !== undefined) return { kind: "trusted", name: choice.keyProvider };
  if (current !== undefined) return current;
  const name = await agentDefaultProvider(agent);
  if (name === undefined) {
    throw new VmError(
      "VM_NO_PROVIDER",
      `VM ${vmName}: no key provider is configured: give --key-provider KP (a trusted provider, through the agent at ${agent}), --standard-provider FILE, or set the agent's default (tactl cluster set-key-provider)`,
    );
  }
  return { kind: "trusted", name };
}

async function mustBeStopped(l: VmLayout, config: VmConfig, what: string): Promise<void> {
  const r = await running(l);
  if (r !== undefined)
    throw new VmError("VM_RUNNING", `the vTPM of ${config.name} runs (swtpm pid ${r.pid}): stop it before ${what} (tactl vm stop --dir ${l.dir})`);
}

/** The plaintext of vm.nvram: its data key from the provider, the envelope opened. */
async function openNvram(l: VmLayout, config: VmConfig, agent: string): Promise<{ bytes: Uint8Array; header: EnvelopeHeader; dataKey: Uint8Array }> {
  const { bytes, header } = await nvramOf(l, config);
  const dataKey = await sourceOf(config.vtpm!.provider, agent).dataKeyOf(header);
  try {
    openEnvelope(bytes, dataKey).plaintext.fill(0);
  } catch (e) {
    dataKey.fill(0);
    if (e instanceof EnvelopeError) throw new VmError("VM_STATE_REFUSED", `${l.nvram} does not open: ${e.message}; nothing was changed`, { cause: e });
    throw e;
  }
  return { bytes, header, dataKey };
}

/**
 * A new data key for the VM's vTPM (and, when asked, another provider): a rewrap — the key the state is encrypted
 * under is wrapped by the new data key, the ciphertext kept byte for byte (its tag recomputed for the new header);
 * the vTPM's state (the guest's secrets) is not re-encrypted. The vTPM must be stopped.
 * @throws VmError VM_RUNNING, VM_NO_VTPM, VM_KEY_REFUSED, VM_STATE_REFUSED
 */
export async function rekeyVm(dir: string, o: { agent: string } & ProviderChoice): Promise<VmConfig> {
  const l = vmLayout(dir);
  const config = await readVm(dir);
  if (config.vtpm === undefined) throw new VmError("VM_NO_VTPM", `VM ${config.name} has no vTPM: nothing to rekey`);
  await mustBeStopped(l, config, "a rekey");
  const provider = await chosenProvider(o, config.vtpm.provider, o.agent, config.name);
  const { bytes, dataKey } = await openNvram(l, config, o.agent);
  const next = await sourceOf(provider, o.agent).newDataKey();
  try {
    const nvram = rewrapEnvelope(bytes, dataKey, next.key, next.dataKey);
    const updated: VmConfig = { ...config, vtpm: { ...config.vtpm, provider } };
    // Three steps, so that a crash leaves a pair that opens: the new state beside the old, then vm.json naming the new
    // provider, then the new state in place. nvramOf finishes (or drops) a `.next` a crash left behind.
    await writeFileAtomic(`${l.nvram}.next`, nvram, 0o600);
    await writeVm(dir, updated);
    await rename(`${l.nvram}.next`, l.nvram);
    return updated;
  } finally {
    dataKey.fill(0);
    next.dataKey.fill(0);
  }
}

/** Options of {@link cloneVm}. */
export interface CloneOptions {
  readonly agent: string;
  /** `copy`: the clone's vTPM keeps the identity (EK) and secrets; `replace`: a new, blank vTPM with its own EK. */
  readonly vtpm: "copy" | "replace";
  /** The clone's name (default `<name>-clone`). */
  readonly name?: string;
  /** The vTPM CA for `replace`. */
  readonly vtpmCa?: { readonly certificate: string; readonly key: string };
}

/**
 * Clones the (stopped) VM in `dir` to `to`: a new UUID; with `copy` the vTPM's state is sealed again for the clone
 * under a new data key of the same provider (same EK, same secrets); with `replace` the clone gets a new vTPM.
 * @throws VmError VM_EXISTS, VM_RUNNING, VM_KEY_REFUSED, VM_STATE_REFUSED, VM_INPUT (replace without a vTPM CA)
 */
export async function cloneVm(dir: string, to: string, o: CloneOptions): Promise<VmConfig> {
  const l = vmLayout(dir);
  const t = vmLayout(to);
  const config = await readVm(dir);
  if (existsSync(t.config)) throw new VmError("VM_EXISTS", `${t.config} exists: ${to} holds a VM already`);
  await mustBeStopped(l, config, "cloning");
  const { vtpm, ...rest } = config;
  let base: VmConfig;
  try {
    base = parseVmConfig(JSON.stringify({ ...rest, name: o.name ?? `${config.name}-clone`, uuid: randomUUID() }), "the clone");
  } catch (e) {
    if (e instanceof VmConfigError) throw new VmError("VM_INPUT", e.message, { cause: e });
    throw e;
  }
  if (vtpm === undefined) {
    await mkdir(t.dir, { recursive: true, mode: 0o700 });
    // The disks as they are (an encrypted one with its passphrase file, not bound to the VM: it opens for the clone).
    for (const f of diskFiles(config)) await copyFile(path.join(l.dir, f), path.join(t.dir, f));
    await writeVm(to, base);
    return base;
  }
  if (o.vtpm === "replace") {
    if (o.vtpmCa === undefined) throw new VmError("VM_INPUT", "a replaced vTPM needs the vTPM CA: give --vtpm-ca and --vtpm-ca-key");
    await mkdir(t.dir, { recursive: true, mode: 0o700 });
    // The disks as they are (an encrypted one with its passphrase file, not bound to the VM: it opens for the clone).
    for (const f of diskFiles(config)) await copyFile(path.join(l.dir, f), path.join(t.dir, f));
    await writeVm(to, base);
    const p = vtpm.provider;
    return addVtpm(to, {
      agent: o.agent,
      ...(p.kind === "trusted"
        ? { keyProvider: p.name }
        : {
            standard: {
              name: p.name,
              kmipServers: p.kmipServers,
              keyId: p.keyId,
              clientCertificate: p.clientCertificate,
              clientKey: p.clientKey,
              serverCa: p.serverCa,
            },
          }),
      vtpmCa: o.vtpmCa,
    });
  }
  const { bytes, dataKey } = await openNvram(l, config, o.agent);
  const next = await sourceOf(vtpm.provider, o.agent).newDataKey();
  try {
    const content = openEnvelope(bytes, dataKey).plaintext;
    const nvram = sealEnvelope(content, next.dataKey, next.key, { context: nvramContext(base) });
    content.fill(0);
    const clone: VmConfig = { ...base, vtpm };
    await mkdir(t.dir, { recursive: true, mode: 0o700 });
    // The disks as they are (an encrypted one with its passphrase file, not bound to the VM: it opens for the clone).
    for (const f of diskFiles(config)) await copyFile(path.join(l.dir, f), path.join(t.dir, f));
    await writeFileAtomic(t.nvram, nvram, 0o600);
    await writeVm(to, clone);
    return clone;
  } finally {
    dataKey.fill(0);
    next.dataKey.fill(0);
  }
}

/** The `format` of a VM backup file. */
export const VM_BACKUP_FORMAT = "tessera-vm-backup/v1";

/**
 * Writes a backup of the (stopped) VM in `dir` to `out` (0600): every VM file, vm.nvram as it is (encrypted).
 * @throws VmError VM_RUNNING (its latest state is in RAM), VM_NOT_FOUND
 */
export async function backupVm(dir: string, out: string): Promise<{ files: string[]; bytes: number }> {
  const l = vmLayout(dir);
  const config = await readVm(dir);
  await mustBeStopped(l, config, "a backup");
  const files: Record<string, string> = { "vm.json": (await readFile(l.config)).toString("base64") };
  // The disks as they are: an encrypted image stays encrypted, its passphrase file is an envelope.
  for (const f of diskFiles(config)) files[f] = (await readFile(path.join(l.dir, f))).toString("base64");
  // nvramOf checks it is this VM's envelope (and finishes an interrupted rekey) before it is copied.
  if (config.vtpm !== undefined) files["vm.nvram"] = Buffer.from((await nvramOf(l, config)).bytes).toString("base64");
  const text = JSON.stringify({ format: VM_BACKUP_FORMAT, vm: config.name, uuid: config.uuid, made: new Date().toISOString(), files }) + "\n";
  await writeFileAtomic(out, text, 0o600);
  return { files: Object.keys(files), bytes: text.length };
}

/**
 * Restores a backup into `dir` (which must not hold a VM) after checking that this host can reach the vTPM's key
 * (the data key fetched and the state opened): when it cannot, nothing is written and the error says why.
 * @throws VmError VM_INPUT (not a backup), VM_EXISTS, VM_KEY_REFUSED, VM_STATE_REFUSED, VM_AGENT_UNREACHABLE
 */
export async function restoreVm(from: string, dir: string, o: { agent: string }): Promise<VmConfig> {
  const l = vmLayout(dir);
  if (existsSync(l.config)) throw new VmError("VM_EXISTS", `${l.config} exists: ${dir} holds a VM already`);
  let doc: { format?: unknown; files?: Record<string, unknown> };
  try {
    doc = JSON.parse(await readFile(from, "utf8")) as typeof doc;
  } catch (e) {
    throw new VmError("VM_INPUT", `${from} is not a VM backup: ${(e as Error).message}`, { cause: e });
  }
  if (doc.format !== VM_BACKUP_FORMAT || typeof doc.files !== "object" || doc.files === null || typeof doc.files["vm.json"] !== "string") {
    throw new VmError("VM_INPUT", `${from} is not a VM backup (${VM_BACKUP_FORMAT})`);
  }
  const configText = Buffer.from(doc.files["vm.json"], "base64").toString("utf8");
  let config: VmConfig;
  try {
    config = parseVmConfig(configText, `${from}: vm.json`);
  } catch (e) {
    if (e instanceof VmConfigError) throw new VmError("VM_INPUT", e.message, { cause: e });
    throw e;
  }
  const nvramB64 = doc.files["vm.nvram"];
  let nvram: Uint8Array | undefined;
  if (config.vtpm !== undefined) {
    if (typeof nvramB64 !== "string") throw new VmError("VM_INPUT", `${from}: VM ${config.name} has a vTPM but the backup holds no vm.nvram`);
    nvram = new Uint8Array(Buffer.from(nvramB64, "base64"));
    let header: EnvelopeHeader;
    try {
      header = readEnvelopeHeader(nvram);
    } catch (e) {
      throw new VmError("VM_STATE_REFUSED", `${from}: its vm.nvram is refused: ${(e as Error).message}`, { cause: e });
    }
    let dataKey: Uint8Array;
    try {
      dataKey = await sourceOf(config.vtpm.provider, o.agent).dataKeyOf(header);
    } catch (e) {
      if (e instanceof VmError)
        throw new VmError(e.code, `restore refused, nothing written: this host cannot reach the key of VM ${config.name}'s vTPM: ${e.message}`, { cause: e });
      throw e;
    }
    try {
      openEnvelope(nvram, dataKey).plaintext.fill(0);
    } catch (e) {
      throw new VmError("VM_STATE_REFUSED", `restore refused, nothing written: ${from}: its vm.nvram does not open: ${(e as Error).message}`, { cause: e });
    } finally {
      dataKey.fill(0);
    }
  }
  const extra = diskFiles(config).map((f) => {
    const b64 = doc.files![f];
    if (typeof b64 !== "string") throw new VmError("VM_INPUT", `${from}: VM ${config.name}'s backup holds no ${f}`);
    return { f, bytes: new Uint8Array(Buffer.from(b64, "base64")) };
  });
  await mkdir(l.dir, { recursive: true, mode: 0o700 });
  for (const { f, bytes } of extra) await writeFileAtomic(path.join(l.dir, f), bytes, 0o600);
  if (nvram !== undefined) await writeFileAtomic(l.nvram, nvram, 0o600);
  await writeVm(dir, config);
  return config;
}

/** The disk files of a VM: each image, and each encrypted one's passphrase file. */
function diskFiles(config: VmConfig): string[] {
  return (config.disks ?? []).flatMap((d) => [`${d.name}.qcow2`, ...(d.encrypted ? [`${d.name}.key`] : [])]);
}
