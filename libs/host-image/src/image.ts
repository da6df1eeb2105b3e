/**
 * The accepted-image model: a named, versioned set of the measurements a known-good host makes, as the
 * TCG event log records them. Made from a known-good host's log ({@link imageFromEventLog}) or from a
 * libs/boot manifest ({@link imageFromManifest}); compared with {@link matchImages}. JSON-safe.
 * @module
 */
import { HostImageError } from "./errors.ts";

/** Digests of one measurement by bank name (`sha1`, `sha256`, `sha384`, `sha512`, `sm3_256`): lower-case hex. */
export type BankDigests = Readonly<Record<string, string>>;

/** One EFI boot application (EV_EFI_BOOT_SERVICES_APPLICATION on PCR 4): shim, boot loader, kernel (EFI stub)… */
export interface BootComponent {
  /** What it is, when known: `boot-manager`, `shim`, `bootloader`, `kernel`, `application`. */
  readonly kind?: string;
  /** Its file path as the image load event's device path ends (`\EFI\BOOT\BOOTX64.EFI`), when known. */
  readonly path?: string;
  /** The measured digests (the Authenticode hash for PE images). */
  readonly digests: BankDigests;
  /**
   * The SHA-256 (hex) of the certificate of the EV_EFI_VARIABLE_AUTHORITY event logged just before this image
   * (firmware logs each authority once, at the first image it verifies), when one was.
   */
  readonly authority?: string;
}

/** A file the boot loader read and measured (grub: PCR 9): the kernel or the initrd. */
export interface FileComponent {
  /** The path as the boot loader logged it (`/vmlinuz-6.1.0-28-amd64`), when known. */
  readonly path?: string;
  /** The measured digests. */
  readonly digests: BankDigests;
}

/** The Secure Boot configuration (PCR 7): the SecureBoot variable and the entries of each database. */
export interface SecureBootModel {
  /** The SecureBoot variable. */
  readonly enabled: boolean;
  /** The entries of PK, KEK, db, dbx in order: SHA-256 (hex) of each certificate, or the digest itself for hash entries. */
  readonly pk: readonly string[];
  /** See {@link SecureBootModel.pk}. */
  readonly kek: readonly string[];
  /** See {@link SecureBootModel.pk}. */
  readonly db: readonly string[];
  /** See {@link SecureBootModel.pk}. */
  readonly dbx: readonly string[];
}

/** The firmware PCRs (0–6) of one hardware model: bank name → PCR index → value (hex). */
export interface FirmwareModel {
  /** The hardware model (administrator's name, e.g. `gcp-n2-shielded`). */
  readonly model: string;
  /** The PCR values. */
  readonly pcrs: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** An accepted host image. Validate untrusted JSON with {@link validateImage}. */
export interface ImageModel {
  /** The image's name, e.g. `debian-12-tessera`. */
  readonly name: string;
  /** Its version; a new kernel is a new version. */
  readonly version: string;
  /** The boot applications in load order. */
  readonly bootChain: readonly BootComponent[];
  /** The kernel file the boot loader read, when one was logged. */
  readonly kernel?: FileComponent;
  /** The initrd file, when one was logged. */
  readonly initrd?: FileComponent;
  /** The kernel command line as grub logs it after `kernel_cmdline: ` (kernel path, then arguments). */
  readonly kernelCommandLine?: string;
  /** The Secure Boot state and databases. */
  readonly secureBoot: SecureBootModel;
  /** The software version logged on PCR 14 (`tessera_software_version: …`), when one was. */
  readonly softwareVersion?: string;
  /** Firmware PCRs per hardware model; when present and non-empty, the host's PCRs 0–6 must match one of them. */
  readonly firmware?: readonly FirmwareModel[];
}

const BANKS = ["sha1", "sha256", "sha384", "sha512", "sm3_256"];
const HEX_SIZE: Record<string, number> = { sha1: 40, sha256: 64, sha384: 96, sha512: 128, sm3_256: 64 };
const MAX_LIST = 4096;

function fail(field: string, problem: string): never {
  throw new HostImageError("HOST_IMAGE_INVALID", `${field}: ${problem}`, { field });
}

function typeOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

function record(v: unknown, field: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (v === undefined) fail(field, "missing");
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(field, `expected an object, got ${typeOf(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) fail(`${field}.${k}`, "unknown field");
  for (const k of required) if (o[k] === undefined) fail(`${field}.${k}`, "missing");
  return o;
}

function list(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) fail(field, `expected an array, got ${typeOf(v)}`);
  if (v.length > MAX_LIST) fail(field, `${v.length} entries, at most ${MAX_LIST} allowed`);
  return v;
}

function text(v: unknown, field: string, empty = false): string {
  if (typeof v !== "string") fail(field, `expected a string, got ${typeOf(v)}`);
  if (!empty && v.length === 0) fail(field, "empty");
  if (v.length > 4096) fail(field, `${v.length} characters, at most 4096 allowed`);
  if (v.includes("\0")) fail(field, "contains a NUL character");
  return v;
}

function hex(v: unknown, field: string, size?: number): string {
  const s = text(v, field);
  if (!/^[0-9a-fA-F]+$/.test(s) || s.length % 2 !== 0) fail(field, "expected hex digits");
  if (size !== undefined && s.length !== size) fail(field, `expected ${size} hex digits, got ${s.length}`);
  return s.toLowerCase();
}

function digests(v: unknown, field: string): BankDigests {
  const o = record(v, field, [], BANKS);
  const out: Record<string, string> = {};
  for (const [bank, d] of Object.entries(o)) out[bank] = hex(d, `${field}.${bank}`, HEX_SIZE[bank]);
  if (Object.keys(out).length === 0) fail(field, "no digest in any bank");
  return out;
}

function file(v: unknown, field: string): FileComponent {
  const o = record(v, field, ["digests"], ["path"]);
  const d = digests(o.digests, `${field}.digests`);
  return o.path === undefined ? { digests: d } : { path: text(o.path, `${field}.path`), digests: d };
}

function boot(v: unknown, field: string): BootComponent {
  const o = record(v, field, ["digests"], ["kind", "path", "authority"]);
  return {
    ...(o.kind === undefined ? {} : { kind: text(o.kind, `${field}.kind`) }),
    ...(o.path === undefined ? {} : { path: text(o.path, `${field}.path`) }),
    digests: digests(o.digests, `${field}.digests`),
    ...(o.authority === undefined ? {} : { authority: hex(o.authority, `${field}.authority`, 64) }),
  };
}

function firmware(v: unknown, field: string): FirmwareModel {
  const o = record(v, field, ["model", "pcrs"]);
  const banks = record(o.pcrs, `${field}.pcrs`, [], BANKS);
  const pcrs: Record<string, Record<string, string>> = {};
  for (const [bank, values] of Object.entries(banks)) {
    const b = record(values, `${field}.pcrs.${bank}`, [], ["0", "1", "2", "3", "4", "5", "6"]);
    pcrs[bank] = Object.fromEntries(Object.entries(b).map(([pcr, d]) => [pcr, hex(d, `${field}.pcrs.${bank}.${pcr}`, HEX_SIZE[bank])]));
  }
  return { model: text(o.model, `${field}.model`), pcrs };
}

/**
 * Checks an untrusted value (parsed JSON) against the image schema and returns a normalized copy (hex in lower
 * case). Unknown fields are refused.
 * @throws HostImageError `HOST_IMAGE_INVALID` naming the field: `image.bootChain[1].digests.sha256: expected 64 hex digits, got 10`.
 */
export function validateImage(value: unknown): ImageModel {
  const f = "image";
  const o = record(value, f, ["name", "version", "bootChain", "secureBoot"], ["kernel", "initrd", "kernelCommandLine", "softwareVersion", "firmware"]);
  const sb = record(o.secureBoot, `${f}.secureBoot`, ["enabled", "pk", "kek", "db", "dbx"]);
  if (typeof sb.enabled !== "boolean") fail(`${f}.secureBoot.enabled`, `expected a boolean, got ${typeOf(sb.enabled)}`);
  const entries = (k: string): string[] => list(sb[k], `${f}.secureBoot.${k}`).map((e, i) => hex(e, `${f}.secureBoot.${k}[${i}]`));
  return {
    name: text(o.name, `${f}.name`),
    version: text(o.version, `${f}.version`),
    bootChain: list(o.bootChain, `${f}.bootChain`).map((b, i) => boot(b, `${f}.bootChain[${i}]`)),
    ...(o.kernel === undefined ? {} : { kernel: file(o.kernel, `${f}.kernel`) }),
    ...(o.initrd === undefined ? {} : { initrd: file(o.initrd, `${f}.initrd`) }),
    ...(o.kernelCommandLine === undefined ? {} : { kernelCommandLine: text(o.kernelCommandLine, `${f}.kernelCommandLine`, true) }),
    secureBoot: { enabled: sb.enabled, pk: entries("pk"), kek: entries("kek"), db: entries("db"), dbx: entries("dbx") },
    ...(o.softwareVersion === undefined ? {} : { softwareVersion: text(o.softwareVersion, `${f}.softwareVersion`) }),
    ...(o.firmware === undefined ? {} : { firmware: list(o.firmware, `${f}.firmware`).map((m, i) => firmware(m, `${f}.firmware[${i}]`)) }),
  };
}

/**
 * Parses and validates an image from JSON text.
 * @throws HostImageError `HOST_IMAGE_INVALID` (field `image`) when the text is not JSON, else as {@link validateImage}.
 */
export function parseImage(json: string): ImageModel {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new HostImageError("HOST_IMAGE_INVALID", `image: not JSON (${e instanceof Error ? e.message : String(e)})`, { field: "image", cause: e });
  }
  return validateImage(value);
}
