/**
 * What UEFI firmware, shim and grub measure while booting a host image, event by event (TCG PC Client
 * Platform Firmware Profile 1.06, and the grub/shim conventions seen in real logs).
 * @module
 */
import { concat, fromHex, hash, hashSize, TPM_ALG } from "@tessera/tpm2";
import {
  EFI_GUID,
  EV,
  encodeEfiImageLoadEvent,
  encodeEfiSignatureList,
  encodeEfiVariableData,
  encodeFilePathDevicePath,
  encodeStartupLocality,
} from "@tessera/eventlog";
import { parseCertificatePem, certificateMatches, type ParsedCertificate } from "./_certs.ts";
import { SOFTWARE_VERSION_PCR, SOFTWARE_VERSION_PREFIX } from "@tessera/host-image";
import { firmwareBlob2, loadOption, signatureData, u16le, ucs2z, utf8 } from "./_efi.ts";
import type { BootImage, HostImage } from "./host_image.ts";

/** One measurement: the PCR, the event type, the logged data and what its digest is of. */
export interface BootEvent {
  /** The PCR extended. */
  readonly pcr: number;
  /** The event type (`EV` of @tessera/eventlog). */
  readonly type: number;
  /** The event data written to the log. */
  readonly data: Uint8Array;
  /**
   * The bytes hashed (in every bank) for the digest, when they are not `data`: grub hashes its command
   * strings without the `grub_cmd: ` prefix and NUL its data carries; a firmware blob's digest is of its
   * content; a Boot#### variable's digest is of the variable's value only (as EDK II does).
   */
  readonly digestOf?: Uint8Array;
  /**
   * The SHA-256 digest itself, when only a digest is known: a PE image's Authenticode hash, the kernel's and
   * initrd's file hashes. The SHA-256 bank measures it as is; other banks measure H_bank(sha256) in its place
   * (the manifest records SHA-256 digests only).
   */
  readonly sha256?: Uint8Array;
}

/** Options of {@link measuredBootEvents}. */
export interface MeasuredBootOptions {
  /**
   * Log the EV_NO_ACTION "StartupLocality" event (TCG PFP §10.4.5.3) for locality 0 first. Optional in the
   * specification for locality 0, and left out by EDK II; default false.
   */
  readonly logStartupLocality?: boolean;
}

export { SOFTWARE_VERSION_PCR, SOFTWARE_VERSION_PREFIX } from "@tessera/host-image";

/** The PCRs a boot extends: 0–9 (firmware, Secure Boot, boot manager, grub) and 14 (software version). */
export const BOOT_PCRS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, SOFTWARE_VERSION_PCR];

/** Owner GUID of the signature list entries the simulated firmware holds. */
const OWNER_GUID = "3b5a8c2e-7d41-4f0a-9e63-1d2c4b5a6f70";
/** Where grub finds its config: the EFI system partition. */
const GRUB_CFG = "(hd0,gpt1)/EFI/tessera/grub.cfg";
/** Where the firmware simulates its flash volumes and image loads (the values only need to look real). */
const FLASH_BASE = 0xffc00000n;
const FLASH_STRIDE = 0x100000n;
const LOAD_BASE = 0x7d000000;
const IMAGE_SIZE: Record<BootImage["kind"], number> = {
  "boot-manager": 0x000e8000,
  shim: 0x000f2000,
  bootloader: 0x00262000,
  kernel: 0x007e4000,
  application: 0x00024000,
};

function base64Bytes(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, "base64"));
}

function driverConfig(guid: string, name: string, value: Uint8Array): BootEvent {
  return { pcr: 7, type: EV.EFI_VARIABLE_DRIVER_CONFIG, data: encodeEfiVariableData(guid, name, value) };
}

/** One EFI_SIGNATURE_LIST per certificate: entries of one list must have one size. */
function x509Lists(certs: readonly ParsedCertificate[]): Uint8Array {
  return concat(...certs.map((c) => encodeEfiSignatureList("x509", OWNER_GUID, [c.der])));
}

/** grub's measurement of a command: data `grub_cmd: <cmd>\0`, digest of `<cmd>`. */
function grubCommand(cmd: string): BootEvent {
  return { pcr: 8, type: EV.IPL, data: utf8(`grub_cmd: ${cmd}\0`), digestOf: utf8(cmd) };
}

/** grub's measurement of a file it read: data `<path>\0` on PCR 9, digest of the file. */
function grubFile(path: string, content: { sha256: Uint8Array } | { bytes: Uint8Array }): BootEvent {
  const data = utf8(`${path}\0`);
  return "sha256" in content ? { pcr: 9, type: EV.IPL, data, sha256: content.sha256 } : { pcr: 9, type: EV.IPL, data, digestOf: content.bytes };
}

/** The grub path of an EFI path (`\vmlinuz-6.1` → `/vmlinuz-6.1`). */
function grubPath(efiPath: string): string {
  return efiPath.replaceAll("\\", "/");
}

/** The initrd that goes with a kernel: `/vmlinuz-<release>` → `/initrd.img-<release>`, else `initrd.img` beside it. */
function initrdPathOf(kernelGrubPath: string): string {
  const slash = kernelGrubPath.lastIndexOf("/");
  const dir = kernelGrubPath.slice(0, slash + 1);
  const base = kernelGrubPath.slice(slash + 1);
  return base.startsWith("vmlinuz") ? `${dir}initrd.img${base.slice("vmlinuz".length)}` : `${dir}initrd.img`;
}

/** The grub.cfg the simulated host boots from, and the commands grub runs (and measures) from it. */
function grubConfig(manifest: HostImage, kernel: BootImage): { cfg: string; kernelPath: string; initrdPath: string; linuxArgs: string } {
  const kernelPath = grubPath(kernel.path);
  const initrdPath = initrdPathOf(kernelPath);
  const linuxArgs = manifest.kernelCommandLine === "" ? kernelPath : `${kernelPath} ${manifest.kernelCommandLine}`;
  const cfg = ["set default=0", "set timeout=0", "menuentry 'Tessera' --id tessera {", `\tlinux ${linuxArgs}`, `\tinitrd ${initrdPath}`, "}", ""].join("\n");
  return { cfg, kernelPath, initrdPath, linuxArgs };
}

/**
 * The measurements of booting `manifest`, in the order firmware, shim and grub make them:
 *
 * | PCR | events |
 * | --- | --- |
 * | 0 | (EV_NO_ACTION StartupLocality, optional), EV_S_CRTM_VERSION (UCS-2 firmware version), EV_EFI_PLATFORM_FIRMWARE_BLOB2 per blob |
 * | 7 | EV_EFI_VARIABLE_DRIVER_CONFIG SecureBoot (1 byte), PK, KEK, db, dbx (EFI_SIGNATURE_LISTs), EV_SEPARATOR |
 * | 1 | EV_EFI_VARIABLE_BOOT BootOrder (0001), Boot0001 (EFI_LOAD_OPTION to the first image) |
 * | 4 | EV_EFI_ACTION "Calling EFI Application from Boot Option" |
 * | 0–6 | EV_SEPARATOR (00000000) |
 * | 7, 4 | per boot image: EV_EFI_VARIABLE_AUTHORITY (db entry of its signer, once per distinct certificate, Secure Boot on only), EV_EFI_BOOT_SERVICES_APPLICATION (UEFI_IMAGE_LOAD_EVENT with its file path; digest = its sha256) |
 * | 9, 8 | before the kernel image: grub reads grub.cfg (PCR 9), runs its commands (PCR 8 `grub_cmd: …`), reads the kernel (PCR 9), measures `kernel_cmdline: …` (PCR 8), reads the initrd (PCR 9) |
 * | 14 | EV_IPL `tessera_software_version: …` ({@link SOFTWARE_VERSION_PCR}) |
 * | 5 | EV_EFI_ACTION "Exit Boot Services Invocation", "Exit Boot Services Returned with Success" |
 *
 * The manifest must be valid (see `validateHostImage`).
 */
export function measuredBootEvents(manifest: HostImage, options: MeasuredBootOptions = {}): BootEvent[] {
  const out: BootEvent[] = [];
  const sb = manifest.secureBoot;
  const db = sb.db.map(parseCertificatePem);

  // PCR 0: the S-CRTM and the firmware volumes.
  if (options.logStartupLocality) {
    out.push({ pcr: 0, type: EV.NO_ACTION, data: encodeStartupLocality(0) });
  }
  out.push({ pcr: 0, type: EV.S_CRTM_VERSION, data: ucs2z(manifest.firmware.version) });
  manifest.firmware.blobs.forEach((b, i) => {
    const content = b.contentBase64 === undefined ? undefined : base64Bytes(b.contentBase64);
    const data = firmwareBlob2(b.name, FLASH_BASE + BigInt(i) * FLASH_STRIDE, content === undefined ? FLASH_STRIDE : BigInt(content.length));
    out.push(
      content === undefined
        ? { pcr: 0, type: EV.EFI_PLATFORM_FIRMWARE_BLOB2, data, sha256: fromHex(b.sha256 ?? "") }
        : { pcr: 0, type: EV.EFI_PLATFORM_FIRMWARE_BLOB2, data, digestOf: content },
    );
  });

  // PCR 7: the Secure Boot configuration, always in this order (TCG PFP §3.3.4.8).
  out.push(driverConfig(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", Uint8Array.of(sb.enabled ? 1 : 0)));
  out.push(driverConfig(EFI_GUID.GLOBAL_VARIABLE, "PK", x509Lists(sb.pk.map(parseCertificatePem))));
  out.push(driverConfig(EFI_GUID.GLOBAL_VARIABLE, "KEK", x509Lists(sb.kek.map(parseCertificatePem))));
  out.push(driverConfig(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", x509Lists(db)));
  const dbx = sb.dbx.length === 0 ? new Uint8Array(0) : encodeEfiSignatureList("sha256", OWNER_GUID, sb.dbx.map(fromHex));
  out.push(driverConfig(EFI_GUID.IMAGE_SECURITY_DATABASE, "dbx", dbx));
  out.push(separator(7));

  // PCR 1: the boot variables the boot manager acts on; digests of their values (EDK II).
  const first = manifest.bootChain[0];
  const bootOrder = u16le([0x0001]);
  out.push({ pcr: 1, type: EV.EFI_VARIABLE_BOOT, data: encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "BootOrder", bootOrder), digestOf: bootOrder });
  const boot0001 = loadOption("Tessera", encodeFilePathDevicePath(first.path));
  out.push({ pcr: 1, type: EV.EFI_VARIABLE_BOOT, data: encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "Boot0001", boot0001), digestOf: boot0001 });

  // PCR 4 and the separators: the pre-OS to OS-present transition.
  out.push(action(4, "Calling EFI Application from Boot Option"));
  for (let pcr = 0; pcr <= 6; pcr++) out.push(separator(pcr));

  // The boot chain: each image verified (PCR 7 authority) then measured (PCR 4) as LoadImage does.
  const logged = new Set<ParsedCertificate>();
  manifest.bootChain.forEach((image, i) => {
    if (image.kind === "kernel") out.push(...grubEvents(manifest, image));
    if (sb.enabled) {
      const signer = image.signedBy === undefined ? db[0] : db.find((c) => certificateMatches(c, image.signedBy ?? ""));
      if (signer !== undefined && !logged.has(signer)) {
        logged.add(signer);
        const value = signatureData(OWNER_GUID, signer.der);
        out.push({ pcr: 7, type: EV.EFI_VARIABLE_AUTHORITY, data: encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", value) });
      }
    }
    const data = encodeEfiImageLoadEvent({
      location: BigInt(LOAD_BASE + i * 0x01000000),
      length: BigInt(IMAGE_SIZE[image.kind]),
      devicePath: encodeFilePathDevicePath(image.path),
    });
    out.push({ pcr: 4, type: EV.EFI_BOOT_SERVICES_APPLICATION, data, sha256: fromHex(image.sha256) });
  });

  // The kernel's EFI stub leaves boot services.
  out.push(action(5, "Exit Boot Services Invocation"));
  out.push(action(5, "Exit Boot Services Returned with Success"));
  return out;
}

function separator(pcr: number): BootEvent {
  return { pcr, type: EV.SEPARATOR, data: new Uint8Array(4) };
}

function action(pcr: number, text: string): BootEvent {
  return { pcr, type: EV.EFI_ACTION, data: utf8(text) };
}

/** What grub measures between reading its config and starting the kernel, then the software version. */
function grubEvents(manifest: HostImage, kernel: BootImage): BootEvent[] {
  const g = grubConfig(manifest, kernel);
  const version = utf8(`${SOFTWARE_VERSION_PREFIX}${manifest.softwareVersion}`);
  return [
    grubFile(GRUB_CFG, { bytes: utf8(g.cfg) }),
    grubCommand("set default=0"),
    grubCommand("set timeout=0"),
    grubCommand("menuentry Tessera --id tessera {"),
    grubCommand("setparams Tessera"),
    grubCommand(`linux ${g.linuxArgs}`),
    grubFile(g.kernelPath, { sha256: fromHex(kernel.sha256) }),
    { pcr: 8, type: EV.IPL, data: utf8(`kernel_cmdline: ${g.linuxArgs}\0`), digestOf: utf8(g.linuxArgs) },
    grubCommand(`initrd ${g.initrdPath}`),
    grubFile(g.initrdPath, { sha256: fromHex(manifest.initrdSha256) }),
    { pcr: SOFTWARE_VERSION_PCR, type: EV.IPL, data: version },
  ];
}

/**
 * The digest of `event` in bank `alg`: zeros for EV_NO_ACTION, else the hash of `digestOf` or `data`, or the
 * `sha256` digest (see {@link BootEvent.sha256} for banks other than SHA-256).
 */
export function bootEventDigest(event: BootEvent, alg: number): Uint8Array {
  if (event.type === EV.NO_ACTION) return new Uint8Array(hashSize(alg));
  if (event.sha256 !== undefined) return alg === TPM_ALG.SHA256 ? event.sha256 : hash(alg, event.sha256);
  return hash(alg, event.digestOf ?? event.data);
}
