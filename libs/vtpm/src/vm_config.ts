/**
 * A VM as the vTPM manager keeps it: a directory with `vm.json` (this schema: no secret in it) and, once it has a
 * vTPM, `vm.nvram` (the vTPM's state in an envelope). The rules on who may have a vTPM live here, so that tactl, a
 * console and tests apply the same ones.
 * @module
 */
import { z } from "zod";
import { VmConfigError } from "./errors.ts";

/** The `format` of vm.json. */
export const VM_CONFIG_FORMAT = "tessera-vm/v1";
/** The lowest virtual hardware version that may have a vTPM (as vSphere: 14). */
export const MIN_VTPM_HW_VERSION = 14;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KMIP_SERVER = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;

const TrustedProvider = z.strictObject({
  kind: z.literal("trusted"),
  /** The trusted key provider's name at kmxd, reached through the host's agent. */
  name: z.string().regex(NAME, "is not a provider name (1-63 of A-Z a-z 0-9 . _ -)"),
});
const StandardProvider = z.strictObject({
  kind: z.literal("standard"),
  name: z.string().regex(NAME, "is not a provider name (1-63 of A-Z a-z 0-9 . _ -)"),
  /** The KMIP servers holding the key, tried in order (host:port). */
  kmipServers: z.array(z.string().regex(KMIP_SERVER, "is not host:port")).min(1, "names no KMIP server"),
  /** The key's Unique Identifier on them. */
  keyId: z.string().min(1, "is empty"),
  /** How the key server wraps (as probed when the provider was set). */
  mode: z.enum(["A256GCM", "CBC-HMAC-SHA256"]),
  /** The host's own client certificate, its key, and the servers' CA: files on this host, never copied here. */
  clientCertificate: z.string().min(1),
  clientKey: z.string().min(1),
  serverCa: z.string().min(1),
});

const Vtpm = z.strictObject({
  /** Who wraps the data key of vm.nvram. */
  provider: z.discriminatedUnion("kind", [TrustedProvider, StandardProvider]),
  /** The vTPM's EK certificate (PEM) as written to its NV, and its issuer. */
  ekCertificate: z.string().startsWith("-----BEGIN CERTIFICATE-----", "is not PEM"),
  ekIssuer: z.string(),
  /** When the vTPM was made (ISO 8601). */
  created: z.string(),
});

const Disk = z.strictObject({
  /** The disk's name: its image is `<name>.qcow2` in the VM's folder. */
  name: z.string().regex(NAME, "is not a disk name (1-63 of A-Z a-z 0-9 . _ -)"),
  /** Virtual size in MiB. */
  sizeMiB: z
    .number()
    .int()
    .min(1)
    .max(16 * 1024 * 1024),
  /** LUKS-encrypted (qcow2 `encrypt.format=luks`), its passphrase in `<name>.key`, an envelope under the vTPM's provider. */
  encrypted: z.boolean(),
});

const VmConfigSchema = z.strictObject({
  format: z.literal(VM_CONFIG_FORMAT),
  name: z.string().regex(NAME, "is not a VM name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"),
  uuid: z.string().regex(UUID, "is not a lower-case UUID"),
  firmware: z.enum(["efi", "bios"]),
  hwVersion: z.number().int().min(1).max(99),
  /** What is encrypted besides the home files (config secrets, vm.nvram), which always are when there is a vTPM. */
  encryption: z.strictObject({ disks: z.boolean() }),
  vtpm: Vtpm.optional(),
  /** The VM's disks, in the order QEMU attaches them. */
  disks: z.array(Disk).max(16, "has over 16 disks").optional(),
});

/** vm.json. */
export type VmConfig = z.infer<typeof VmConfigSchema>;
/** vm.json's `vtpm`. */
export type VtpmConfig = z.infer<typeof Vtpm>;
/** A key provider of a vTPM. */
export type VtpmProvider = VtpmConfig["provider"];
/** A disk of vm.json. */
export type VmDisk = z.infer<typeof Disk>;
/** A standard key provider (a KMIP server used with the host's own credentials). */
export type StandardProviderConfig = z.infer<typeof StandardProvider>;

/**
 * Reads vm.json.
 * @param where the file, for messages
 * @throws VmConfigError VM_CONFIG_INVALID naming the first bad field
 */
export function parseVmConfig(text: string, where: string): VmConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new VmConfigError("VM_CONFIG_INVALID", "vm.json", `${where} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const r = VmConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join(".") || "vm.json";
    throw new VmConfigError("VM_CONFIG_INVALID", field, `${where}: field ${field} ${issue.message}`, { cause: r.error });
  }
  return r.data;
}

/**
 * A new VM's configuration.
 * @throws VmConfigError VM_CONFIG_INVALID for a bad name, UUID or hardware version
 */
export function newVmConfig(o: { name: string; uuid: string; firmware?: "efi" | "bios"; hwVersion?: number; encryptDisks?: boolean }): VmConfig {
  const config = {
    format: VM_CONFIG_FORMAT,
    name: o.name,
    uuid: o.uuid,
    firmware: o.firmware ?? "efi",
    hwVersion: o.hwVersion ?? 21,
    encryption: { disks: o.encryptDisks ?? false },
  };
  return parseVmConfig(JSON.stringify(config), "the new VM");
}

/**
 * Why `config` may not have a vTPM (as a VmConfigError to throw), or undefined when it may: EFI firmware and virtual
 * hardware version {@link MIN_VTPM_HW_VERSION} or later are required, and a VM has one vTPM at most.
 */
export function vtpmRefusal(config: VmConfig): VmConfigError | undefined {
  if (config.firmware !== "efi") {
    return new VmConfigError(
      "VTPM_NOT_ALLOWED",
      "firmware",
      `VM ${config.name} boots with ${config.firmware.toUpperCase()} firmware: a vTPM needs EFI (tactl vm create --firmware efi)`,
    );
  }
  if (config.hwVersion < MIN_VTPM_HW_VERSION) {
    return new VmConfigError(
      "VTPM_NOT_ALLOWED",
      "hwVersion",
      `VM ${config.name} has hardware version ${config.hwVersion}: a vTPM needs ${MIN_VTPM_HW_VERSION} or later`,
    );
  }
  if (config.vtpm !== undefined) return new VmConfigError("VTPM_NOT_ALLOWED", "vtpm", `VM ${config.name} has a vTPM already (made ${config.vtpm.created})`);
  return undefined;
}

/** The envelope context of a VM's vm.nvram: its state is bound to the VM it belongs to. */
export function nvramContext(config: Pick<VmConfig, "uuid">): string {
  return `tessera-vm:${config.uuid}:nvram`;
}

/** Where a VM would move, as its Trust Authority sees the target host. */
export interface MigrationTarget {
  /** The target host's name. */
  readonly host: string;
  /** Its status at the Trust Authority cluster of the VM's trusted provider; undefined: that cluster does not know it. */
  readonly status?: "green" | "red" | "stale";
  /** The status's message (a red host's failures). */
  readonly message?: string;
}

/** Whether a VM may move, and why. */
export interface MigrationVerdict {
  readonly allowed: boolean;
  readonly reason: string;
}

/**
 * May a VM whose vTPM is `vtpm` move to `target`? A trusted-provider VM moves only to a host attested (green) against
 * the same Trust Authority cluster: its key reaches attested hosts of that cluster only. A standard-provider VM moves
 * to any host that can reach its KMIP servers with its own credentials (which only that host can check). A VM
 * without a vTPM has nothing bound to a key and moves anywhere.
 */
export function migrationVerdict(vtpm: VtpmConfig | undefined, target: MigrationTarget): MigrationVerdict {
  if (vtpm === undefined) return { allowed: true, reason: "the VM has no vTPM: nothing of it is bound to a key provider" };
  const p = vtpm.provider;
  if (p.kind === "standard") {
    return {
      allowed: true,
      reason: `standard key provider ${p.name}: ${target.host} must reach ${p.kmipServers.join(", ")} with its own KMIP credentials (key ${p.keyId})`,
    };
  }
  if (target.status === undefined) {
    return {
      allowed: false,
      reason: `trusted key provider ${p.name}: ${target.host} is not attested by this Trust Authority cluster (it does not know the host): its keys would not reach it`,
    };
  }
  if (target.status !== "green") {
    return {
      allowed: false,
      reason: `trusted key provider ${p.name}: ${target.host} is ${target.status} at this Trust Authority cluster${target.message ? ` (${target.message})` : ""}: its keys would not reach it`,
    };
  }
  return { allowed: true, reason: `trusted key provider ${p.name}: ${target.host} is attested (green) by the same Trust Authority cluster` };
}

/** The envelope context of a disk's passphrase file (`<name>.key`). Not bound to the VM's UUID: a copied clone keeps its disks. */
export function diskKeyContext(disk: Pick<VmDisk, "name">): string {
  return `tessera-vm-disk:${disk.name}:passphrase`;
}
