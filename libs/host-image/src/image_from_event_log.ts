/**
 * An accepted image made from a known-good host's TCG event log: what the log measured.
 * @module
 */
import { decodeEvent, EV, parseEventLog, replay, type EventLog, type LogEvent } from "@tessera/eventlog";
import { algName } from "@tessera/tpm2";
import { toHex, variableFact } from "./_variable_facts.ts";
import { HostImageError } from "./errors.ts";
import type { BankDigests, BootComponent, FileComponent, FirmwareModel, ImageModel, SecureBootModel } from "./image.ts";
import { SOFTWARE_VERSION_PCR, SOFTWARE_VERSION_PREFIX } from "./software_version.ts";

/** Options of {@link imageFromEventLog}. */
export interface ImageFromEventLogOptions {
  /** The image's name. */
  readonly name: string;
  /** The image's version. */
  readonly version: string;
  /** Record the replayed firmware PCRs 0–6 under this hardware model, so hosts are matched on them too. */
  readonly firmwareModel?: string;
}

const FIRMWARE_PCRS = [0, 1, 2, 3, 4, 5, 6];
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: false });

const BANK_NAMES = new Map<number, string>();

/** @tessera/tpm2's algName, remembered for the few ids logs use (it searches every TPM_ALG entry per call). */
function bankName(alg: number): string {
  let n = BANK_NAMES.get(alg);
  if (n === undefined) {
    n = algName(alg);
    if (BANK_NAMES.size < 64) BANK_NAMES.set(alg, n);
  }
  return n;
}

/** The digests of an event by bank name. */
function bankDigests(e: LogEvent): BankDigests {
  const out: Record<string, string> = {};
  for (const [alg, d] of e.digests) out[bankName(alg)] = toHex(d);
  return out;
}

/** Event data as text without trailing NULs. */
function eventText(e: LogEvent): string {
  return utf8.decode(e.data).replace(/\0+$/, "");
}

/** The file part of a device path text (`HD(…)/\EFI\BOOT\BOOTX64.EFI` → `\EFI\BOOT\BOOTX64.EFI`). */
function filePart(devicePath: string): string | undefined {
  const parts = devicePath.split("/").filter((p) => p.startsWith("\\"));
  return parts.length === 0 ? undefined : parts.join("");
}

function guessKind(path: string | undefined): string | undefined {
  const p = (path ?? "").toLowerCase();
  if (/shim[^\\]*\.efi$/.test(p)) return "shim";
  if (/(grub|systemd-boot|winload)[^\\]*\.efi$/.test(p)) return "bootloader";
  if (/bootmgfw\.efi$|\\efi\\boot\\boot(x64|aa64|ia32)\.efi$/.test(p)) return "boot-manager";
  if (/vmlinuz|bzimage|\\linux[^\\]*\.efi$/.test(p)) return "kernel";
  return undefined;
}

/**
 * Makes an accepted image from what `log` measured: the boot applications on PCR 4 (path, digests, the
 * authority that verified each), grub's kernel and initrd reads (PCR 9) and kernel command line (PCR 8), the
 * SecureBoot variable and the entries of PK, KEK, db, dbx (PCR 7, last measurement counts), the software
 * version on PCR 14, and with `firmwareModel` the replayed PCRs 0–6. Use a log whose replay matched a
 * known-good host's quote: the log alone proves nothing.
 *
 * @example
 * ```ts
 * const image = imageFromEventLog(await readFile("binary_bios_measurements"), { name: "debian-12", version: "1" });
 * ```
 * @throws HostImageError `HOST_IMAGE_LOG` when the bytes are not an event log.
 */
export function imageFromEventLog(log: Uint8Array | EventLog, options: ImageFromEventLogOptions): ImageModel {
  let parsed: EventLog;
  try {
    parsed = log instanceof Uint8Array ? parseEventLog(log) : log;
  } catch (e) {
    throw new HostImageError("HOST_IMAGE_LOG", `The event log does not parse: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const bootChain: BootComponent[] = [];
  const sb: { -readonly [K in keyof SecureBootModel]: SecureBootModel[K] } = { enabled: false, pk: [], kek: [], db: [], dbx: [] };
  let authority: string | undefined;
  let kernel: FileComponent | undefined;
  let initrd: FileComponent | undefined;
  let kernelCommandLine: string | undefined;
  let softwareVersion: string | undefined;
  let nextFile: "kernel" | "initrd" | undefined;
  for (const e of [parsed.header, ...parsed.events]) {
    if (e.type === EV.NO_ACTION) continue;
    if (e.pcr === 7 && (e.type === EV.EFI_VARIABLE_DRIVER_CONFIG || e.type === EV.EFI_VARIABLE_AUTHORITY)) {
      const f = variableFact(e, parsed);
      if (f.kind === "authority") authority = f.sha256;
      else if (f.kind === "secure-boot") sb.enabled = f.enabled;
      else if (f.kind === "database") sb[f.database] = [...f.entries];
      continue;
    }
    if (e.type === EV.EFI_BOOT_SERVICES_APPLICATION && e.pcr === 4) {
      const d = decodeEvent(e, parsed);
      const path = d.kind === "efi-image" ? filePart(d.devicePath) : undefined;
      const kind = guessKind(path);
      bootChain.push({
        ...(kind === undefined ? {} : { kind }),
        ...(path === undefined ? {} : { path }),
        digests: bankDigests(e),
        ...(authority === undefined ? {} : { authority }),
      });
      authority = undefined;
      continue;
    }
    if (e.type !== EV.IPL) continue;
    if (e.pcr === 8) {
      const t = eventText(e);
      if (t.startsWith("kernel_cmdline: ")) kernelCommandLine = t.slice("kernel_cmdline: ".length);
      else if (/^grub_cmd: (linux|linuxefi|linux16) /.test(t)) nextFile = "kernel";
      else if (/^grub_cmd: (initrd|initrdefi|initrd16) /.test(t)) nextFile = "initrd";
    } else if (e.pcr === 9 && nextFile !== undefined) {
      const file = { path: eventText(e), digests: bankDigests(e) };
      if (nextFile === "kernel") kernel = file;
      else initrd = file;
      nextFile = undefined;
    } else if (e.pcr === SOFTWARE_VERSION_PCR) {
      const t = latin1.decode(e.data);
      if (t.startsWith(SOFTWARE_VERSION_PREFIX)) softwareVersion = utf8.decode(e.data).slice(SOFTWARE_VERSION_PREFIX.length);
    }
  }
  let firmware: FirmwareModel[] | undefined;
  if (options.firmwareModel !== undefined) {
    const values = replay(parsed);
    const pcrs: Record<string, Record<string, string>> = {};
    for (const [alg, bank] of values) {
      pcrs[bankName(alg)] = Object.fromEntries(FIRMWARE_PCRS.filter((p) => bank.has(p)).map((p) => [String(p), toHex(bank.get(p) ?? new Uint8Array())]));
    }
    firmware = [{ model: options.firmwareModel, pcrs }];
  }
  return {
    name: options.name,
    version: options.version,
    bootChain,
    ...(kernel === undefined ? {} : { kernel }),
    ...(initrd === undefined ? {} : { initrd }),
    ...(kernelCommandLine === undefined ? {} : { kernelCommandLine }),
    secureBoot: sb,
    ...(softwareVersion === undefined ? {} : { softwareVersion }),
    ...(firmware === undefined ? {} : { firmware }),
  };
}
