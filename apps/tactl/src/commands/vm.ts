/**
 * `tactl vm …`: the vTPM manager on a host, beside its agent (vm_manager.ts). A VM is a directory; its vTPM's state
 * is vm.nvram, an envelope whose data key comes from a trusted key provider through the agent (`--agent SOCKET`,
 * default kmxa's standard socket) or from a standard one (a KMIP server with the host's own credentials).
 * Exit codes: 0 ok, 1 refused (the key withheld, a state that fails authentication), 2 usage or input (incl. a VM
 * that may not have a vTPM, no key provider), 3 swtpm or the agent failed.
 * @module
 */
import path from "node:path";
import type { CommandSpec, Io } from "../cli.ts";
import { EXIT } from "../errors.ts";
import { readText } from "../files.ts";
import { VmError, vmExit } from "../vm_errors.ts";
import { migrationVerdict, type MigrationTarget } from "@tessera/vtpm";
import { taRequest, TaProblemError } from "../ta_client.ts";
import { activeSession, tesseraHome } from "../ta_session.ts";
import {
  addDisk,
  addVtpm,
  backupVm,
  cloneVm,
  createVm,
  describeVm,
  readVm,
  rekeyVm,
  restoreVm,
  startVtpm,
  stopVtpm,
  type AddVtpmOptions,
  type ProviderChoice,
} from "../vm_manager.ts";

type Values = Record<string, string | boolean | undefined>;

/** kmxa's socket when it runs as the packaged service (infra/: `/run/kmxa/kmxa.sock`). */
export const DEFAULT_AGENT_SOCKET = "/run/kmxa/kmxa.sock";

const AGENT = { agent: { type: "string" as const } };
const DIR = { dir: { type: "string" as const }, json: { type: "boolean" as const } };

/** Runs `fn`, reporting a VmError as one line `tactl vm <cmd>: <code>: <message>` with its exit code. */
async function reported(cmd: string, io: Io, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof VmError)) throw e;
    io.stderr(`tactl vm ${cmd}: ${e.code}: ${e.message}\n`);
    return vmExit(e);
  }
}

const agentOf = (v: Values): string => (typeof v.agent === "string" ? v.agent : DEFAULT_AGENT_SOCKET);

async function create(v: Values, io: Io): Promise<number> {
  return reported("create", io, async () => {
    const firmware = v.firmware === undefined ? undefined : String(v.firmware);
    if (firmware !== undefined && firmware !== "efi" && firmware !== "bios") throw new VmError("VM_INPUT", `--firmware "${firmware}": efi or bios`);
    const hw = v["hw-version"] === undefined ? undefined : String(v["hw-version"]);
    if (hw !== undefined && !/^\d{1,2}$/.test(hw)) throw new VmError("VM_INPUT", `--hw-version "${hw}" is not a number (1-99)`);
    const c = await createVm(String(v.dir), {
      name: String(v.name),
      ...(firmware ? { firmware } : {}),
      ...(hw ? { hwVersion: Number(hw) } : {}),
      encryptDisks: v["encrypt-disks"] === true,
    });
    if (v.json) io.stdout(JSON.stringify(c, null, 2) + "\n");
    else io.stdout(`created VM ${c.name} (${c.uuid}) in ${String(v.dir)}: ${c.firmware.toUpperCase()} firmware, hardware version ${c.hwVersion}\n`);
    return EXIT.OK;
  });
}

/** A standard provider's file: {name, kmipServers, keyId, clientCertificate, clientKey, serverCa}. */
async function standardFile(file: string): Promise<AddVtpmOptions["standard"]> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(await readText(file, "standard key provider")) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof SyntaxError) throw new VmError("VM_INPUT", `${file} is not JSON: ${e.message}`);
    throw e;
  }
  const s = (k: string): string => {
    if (typeof doc[k] !== "string" || doc[k] === "") throw new VmError("VM_INPUT", `${file}: field ${k} must be a non-empty string`);
    return doc[k];
  };
  const servers = doc.kmipServers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((x) => typeof x === "string"))
    throw new VmError("VM_INPUT", `${file}: field kmipServers must list host:port strings`);
  // Paths as absolute: vm.json keeps them, and later commands may run from another folder.
  const file_ = (k: string): string => path.resolve(path.dirname(file), s(k));
  return {
    name: s("name"),
    kmipServers: servers,
    keyId: s("keyId"),
    clientCertificate: file_("clientCertificate"),
    clientKey: file_("clientKey"),
    serverCa: file_("serverCa"),
  };
}

/** `--vtpm-ca F --vtpm-ca-key F` (both or neither: without them the Trust Authority's vTPM CA certifies). */
function vtpmCaOf(v: Values): { certificate: string; key: string } | undefined {
  const cert = v["vtpm-ca"];
  const key = v["vtpm-ca-key"];
  if (cert === undefined && key === undefined) return undefined;
  if (typeof cert !== "string" || typeof key !== "string")
    throw new VmError("VM_INPUT", "give --vtpm-ca and --vtpm-ca-key together (an imported vTPM CA), or neither (the Trust Authority's)");
  return { certificate: cert, key };
}

async function addVtpmCmd(v: Values, io: Io): Promise<number> {
  return reported("add-vtpm", io, async () => {
    if (v["key-provider"] !== undefined && v["standard-provider"] !== undefined)
      throw new VmError("VM_INPUT", "give --key-provider or --standard-provider, not both");
    const c = await addVtpm(String(v.dir), {
      agent: agentOf(v),
      ...(typeof v["key-provider"] === "string" ? { keyProvider: v["key-provider"] } : {}),
      ...(typeof v["standard-provider"] === "string" ? { standard: await standardFile(v["standard-provider"]) } : {}),
      ...(vtpmCaOf(v) ? { vtpmCa: vtpmCaOf(v)! } : {}),
    });
    const t = c.vtpm!;
    if (v.json) io.stdout(JSON.stringify(t, null, 2) + "\n");
    else
      io.stdout(
        `VM ${c.name} has a new vTPM: EK certificate issued by ${t.ekIssuer}; its state is in vm.nvram, encrypted with a data key of ${t.provider.kind} key provider ${t.provider.name}\n`,
      );
    return EXIT.OK;
  });
}

async function start(v: Values, io: Io): Promise<number> {
  return reported("start", io, async () => {
    const s = await startVtpm(String(v.dir), { agent: agentOf(v), startup: v["no-startup"] !== true, qemu: v.qemu === true });
    if (v.json)
      io.stdout(
        JSON.stringify({ tcti: s.tcti, socket: s.socket, pid: s.pid, ms: Math.round(s.ms), ...(s.qemuPid ? { qemuPid: s.qemuPid, serial: s.serial } : {}) }) +
          "\n",
      );
    else
      io.stdout(
        s.qemuPid
          ? `vTPM started (swtpm pid ${s.pid}) and the VM in QEMU (pid ${s.qemuPid}, OVMF, the vTPM as its TPM); serial console in ${s.serial}\n`
          : `vTPM started (swtpm pid ${s.pid}, ${Math.round(s.ms)} ms): TCTI ${s.tcti}\n`,
      );
    return EXIT.OK;
  });
}

async function stop(v: Values, io: Io): Promise<number> {
  return reported("stop", io, async () => {
    const r = await stopVtpm(String(v.dir), { agent: agentOf(v) });
    if (v.json) io.stdout(JSON.stringify(r) + "\n");
    else io.stdout(`vTPM stopped; its state saved in vm.nvram (${r.saved} bytes, encrypted)\n`);
    return EXIT.OK;
  });
}

async function describe(v: Values, io: Io): Promise<number> {
  return reported("describe", io, async () => {
    const d = await describeVm(String(v.dir));
    if (v.json) {
      io.stdout(JSON.stringify(d, null, 2) + "\n");
      return EXIT.OK;
    }
    const lines = [`VM ${d.name} (${d.uuid}): ${d.firmware.toUpperCase()} firmware, hardware version ${d.hwVersion}`];
    if (d.vtpm === null) lines.push("no vTPM; nothing encrypted" + (d.encrypted.disks ? " (disks: to be encrypted once a key provider is set)" : ""));
    else {
      lines.push(
        `vTPM: EK certificate issued by ${d.vtpm.ekIssuer}, made ${d.vtpm.created}; ${d.vtpm.running ? `running (swtpm pid ${d.vtpm.running.pid}, ${d.vtpm.running.tcti})` : "stopped"}`,
      );
      lines.push(`encrypted: home files (vm.nvram, ${d.vtpm.nvramBytes} bytes); new disks ${d.encrypted.disks ? "encrypted" : "not encrypted"} unless asked`);
      lines.push(`key provider: ${d.vtpm.provider.name} (${d.vtpm.provider.kind}), key ${d.vtpm.key.id} version ${d.vtpm.key.version}`);
    }
    for (const disk of d.disks)
      lines.push(`disk ${disk.name}: ${disk.sizeMiB} MiB, ${disk.encrypted ? "LUKS-encrypted (passphrase under the vTPM's key provider)" : "not encrypted"}`);
    io.stdout(lines.join("\n") + "\n");
    return EXIT.OK;
  });
}

async function providerChoice(v: Values): Promise<ProviderChoice> {
  if (v["key-provider"] !== undefined && v["standard-provider"] !== undefined)
    throw new VmError("VM_INPUT", "give --key-provider or --standard-provider, not both");
  return {
    ...(typeof v["key-provider"] === "string" ? { keyProvider: v["key-provider"] } : {}),
    ...(typeof v["standard-provider"] === "string" ? { standard: await standardFile(v["standard-provider"]) } : {}),
  };
}

async function rekey(v: Values, io: Io): Promise<number> {
  return reported("rekey", io, async () => {
    const c = await rekeyVm(String(v.dir), { agent: agentOf(v), ...(await providerChoice(v)) });
    const p = c.vtpm!.provider;
    if (v.json) io.stdout(JSON.stringify({ provider: p }, null, 2) + "\n");
    else io.stdout(`VM ${c.name}: vm.nvram now under a new data key of ${p.kind} key provider ${p.name}; the vTPM's state was not touched\n`);
    return EXIT.OK;
  });
}

async function clone(v: Values, io: Io): Promise<number> {
  return reported("clone", io, async () => {
    const mode = String(v.vtpm ?? "copy");
    if (mode !== "copy" && mode !== "replace") throw new VmError("VM_INPUT", `--vtpm "${mode}": copy or replace`);
    const c = await cloneVm(String(v.dir), String(v.to), {
      agent: agentOf(v),
      vtpm: mode,
      ...(typeof v.name === "string" ? { name: v.name } : {}),
      ...(vtpmCaOf(v) ? { vtpmCa: vtpmCaOf(v)! } : {}),
    });
    if (v.json) io.stdout(JSON.stringify(c, null, 2) + "\n");
    else
      io.stdout(
        `cloned to ${String(v.to)}: VM ${c.name} (${c.uuid})${c.vtpm === undefined ? ", no vTPM" : mode === "copy" ? ", its vTPM a copy (same EK and secrets, a new data key)" : ", a new blank vTPM with its own EK"}\n`,
      );
    return EXIT.OK;
  });
}

async function backup(v: Values, io: Io): Promise<number> {
  return reported("backup", io, async () => {
    const r = await backupVm(String(v.dir), String(v.out));
    if (v.json) io.stdout(JSON.stringify(r) + "\n");
    else
      io.stdout(
        `backed up ${[r.files.slice(0, -1).join(", "), r.files.at(-1)].filter(Boolean).join(" and ")} to ${String(v.out)} (0600; vm.nvram stays encrypted)\n`,
      );
    return EXIT.OK;
  });
}

async function restore(v: Values, io: Io): Promise<number> {
  return reported("restore", io, async () => {
    const c = await restoreVm(String(v.from), String(v.dir), { agent: agentOf(v) });
    if (v.json) io.stdout(JSON.stringify(c, null, 2) + "\n");
    else
      io.stdout(
        `restored VM ${c.name} into ${String(v.dir)}${c.vtpm ? `; its vTPM's key is reachable from this host (${c.vtpm.provider.kind} key provider ${c.vtpm.provider.name})` : ""}\n`,
      );
    return EXIT.OK;
  });
}

/** The target host as the Trust Authority of the VM's trusted provider sees it (attestd, with the tactl ta session). */
async function targetAtAttestd(io: Io, host: string): Promise<MigrationTarget> {
  const s = await activeSession(tesseraHome(io.env ?? process.env));
  try {
    const r = await taRequest(
      { server: s.server, token: s.token, ...(s.ca === undefined ? {} : { ca: s.ca }) },
      "GET",
      `/api/v1/hosts/${encodeURIComponent(host)}`,
    );
    const b = r.body as { status?: unknown; message?: unknown };
    const status = b.status === "green" || b.status === "red" || b.status === "stale" ? b.status : undefined;
    return { host, ...(status ? { status } : {}), ...(typeof b.message === "string" ? { message: b.message } : {}) };
  } catch (e) {
    if (e instanceof TaProblemError && e.status === 404) return { host };
    throw e;
  }
}

async function migrateCheck(v: Values, io: Io): Promise<number> {
  return reported("migrate-check", io, async () => {
    const config = await readVm(String(v.dir));
    const host = String(v.to);
    const target = config.vtpm?.provider.kind === "trusted" ? await targetAtAttestd(io, host) : { host };
    const verdict = migrationVerdict(config.vtpm, target);
    if (v.json) io.stdout(JSON.stringify({ vm: config.name, to: host, ...verdict }) + "\n");
    else io.stdout(`${verdict.allowed ? "allowed" : "refused"}: VM ${config.name} to ${host}: ${verdict.reason}\n`);
    return verdict.allowed ? EXIT.OK : EXIT.REFUSED;
  });
}

async function addDiskCmd(v: Values, io: Io): Promise<number> {
  return reported("add-disk", io, async () => {
    const size = String(v.size);
    const m = /^(\d{1,8})([MG])$/.exec(size);
    if (m === null) throw new VmError("VM_INPUT", `--size "${size}": give MiB or GiB, e.g. 64M or 2G`);
    const sizeMiB = Number(m[1]) * (m[2] === "G" ? 1024 : 1);
    if (v.encrypt === true && v["no-encrypt"] === true) throw new VmError("VM_INPUT", "give --encrypt or --no-encrypt, not both");
    const encrypt = v.encrypt === true ? true : v["no-encrypt"] === true ? false : undefined;
    const d = await addDisk(String(v.dir), { name: String(v.name), sizeMiB, agent: agentOf(v), ...(encrypt !== undefined ? { encrypt } : {}) });
    if (v.json) io.stdout(JSON.stringify(d) + "\n");
    else
      io.stdout(
        `added disk ${d.name} (${d.sizeMiB} MiB, ${d.name}.qcow2)${d.encrypted ? ": LUKS-encrypted, its passphrase in " + d.name + ".key under the vTPM's key provider" : ", not encrypted"}\n`,
      );
    return EXIT.OK;
  });
}

/** The `tactl vm` commands. */
export const VM_COMMANDS: CommandSpec[] = [
  {
    path: ["vm", "create"],
    summary: "a new VM directory (vm.json): name, firmware, virtual hardware version",
    usage: "--dir D --name N [--firmware efi|bios] [--hw-version N] [--encrypt-disks] [--json]",
    options: { ...DIR, name: { type: "string" }, firmware: { type: "string" }, "hw-version": { type: "string" }, "encrypt-disks": { type: "boolean" } },
    required: ["dir", "name"],
    run: create,
  },
  {
    path: ["vm", "add-vtpm"],
    summary: "give a VM a vTPM: its own EK and EK certificate (signed by the vTPM CA), its state encrypted in vm.nvram under a key provider's data key",
    usage:
      "--dir D [--vtpm-ca CERT.pem --vtpm-ca-key KEY.pem] [--key-provider KP | --standard-provider FILE] [--agent SOCKET] [--json]\n" +
      "  --vtpm-ca, --vtpm-ca-key: an imported vTPM CA signs the EK certificate (default: the Trust Authority's, through the agent)\n" +
      "  --key-provider: a trusted key provider, through the host's agent (default: the agent's default provider)\n" +
      "  --standard-provider: a JSON file {name, kmipServers, keyId, clientCertificate, clientKey, serverCa} (files on this host)\n" +
      `  --agent: the host agent's socket (default ${DEFAULT_AGENT_SOCKET})`,
    options: {
      ...DIR,
      ...AGENT,
      "key-provider": { type: "string" },
      "standard-provider": { type: "string" },
      "vtpm-ca": { type: "string" },
      "vtpm-ca-key": { type: "string" },
    },
    required: ["dir"],
    run: addVtpmCmd,
  },
  {
    path: ["vm", "add-disk"],
    summary:
      "add a disk (qcow2) to a stopped VM, LUKS-encrypted when asked (or when the VM was created with --encrypt-disks), its passphrase under the vTPM's key provider",
    usage: "--dir D --name N --size 64M|2G [--encrypt | --no-encrypt] [--agent SOCKET] [--json]",
    options: { ...DIR, ...AGENT, name: { type: "string" }, size: { type: "string" }, encrypt: { type: "boolean" }, "no-encrypt": { type: "boolean" } },
    required: ["dir", "name", "size"],
    run: addDiskCmd,
  },
  {
    path: ["vm", "start"],
    summary: "start a VM's vTPM: the data key from its provider, the state opened into RAM (tmpfs), swtpm on D/run/tpm.sock; prints the guest's TCTI",
    usage:
      "--dir D [--agent SOCKET] [--no-startup] [--qemu] [--json]\n  --no-startup: leave TPM2_Startup to the guest's firmware\n" +
      "  --qemu: also run the VM in QEMU (qemu-system-x86_64, q35, TCG: no KVM needed; OVMF; the vTPM as its TPM; serial console in D/run/serial.log)",
    options: { ...DIR, ...AGENT, "no-startup": { type: "boolean" }, qemu: { type: "boolean" } },
    required: ["dir"],
    run: start,
  },
  {
    path: ["vm", "stop"],
    summary:
      "stop a VM (QEMU, if it runs it) and its vTPM, and save the vTPM's state into vm.nvram, encrypted, atomically (the last good state survives a crash)",
    usage: "--dir D [--agent SOCKET] [--json]",
    options: { ...DIR, ...AGENT },
    required: ["dir"],
    run: stop,
  },
  {
    path: ["vm", "describe"],
    summary: "what of a VM is encrypted, with which key provider (name, trusted or standard) and key id; never the key",
    usage: "--dir D [--json]",
    options: DIR,
    required: ["dir"],
    run: describe,
  },
  {
    path: ["vm", "rekey"],
    summary: "a new data key for a VM's vTPM state (optionally another key provider); the guest's secrets are not touched",
    usage: "--dir D [--key-provider KP | --standard-provider FILE] [--agent SOCKET] [--json]",
    options: { ...DIR, ...AGENT, "key-provider": { type: "string" }, "standard-provider": { type: "string" } },
    required: ["dir"],
    run: rekey,
  },
  {
    path: ["vm", "clone"],
    summary: "clone a stopped VM: --vtpm copy keeps the vTPM's identity and secrets (a new data key), replace gives the clone a new blank vTPM",
    usage: "--dir D --to D2 [--vtpm copy|replace] [--name N] [--vtpm-ca CERT.pem --vtpm-ca-key KEY.pem] [--agent SOCKET] [--json]",
    options: {
      ...DIR,
      ...AGENT,
      to: { type: "string" },
      vtpm: { type: "string" },
      name: { type: "string" },
      "vtpm-ca": { type: "string" },
      "vtpm-ca-key": { type: "string" },
    },
    required: ["dir", "to"],
    run: clone,
  },
  {
    path: ["vm", "backup"],
    summary: "back up a stopped VM into one file (0600): every VM file, vm.nvram as it is (encrypted)",
    usage: "--dir D --out FILE [--json]",
    options: { ...DIR, out: { type: "string" } },
    required: ["dir", "out"],
    run: backup,
  },
  {
    path: ["vm", "restore"],
    summary: "restore a VM backup into a new directory, once this host is seen to reach its vTPM's key (else refused, nothing written)",
    usage: "--from FILE --dir D [--agent SOCKET] [--json]",
    options: { ...DIR, ...AGENT, from: { type: "string" } },
    required: ["from", "dir"],
    run: restore,
  },
  {
    path: ["vm", "migrate-check"],
    summary: "may a VM move to HOST: a trusted-provider VM only to a host green at the same Trust Authority (asked with the tactl ta session); exit 1 if not",
    usage: "--dir D --to HOST [--json]",
    options: { ...DIR, to: { type: "string" } },
    required: ["dir", "to"],
    run: migrateCheck,
  },
];
