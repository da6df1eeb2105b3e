/**
 * The host image manifest: what a known-good host boots (firmware, Secure Boot databases, boot
 * chain, kernel command line, initrd, software version), as JSON. The measured-boot simulator
 * measures it; the Attestation Service matches measured logs against it.
 * @module
 */
import { HostImageError } from "./errors.ts";
import { certificateMatches, parseCertificatePem, type ParsedCertificate } from "./certificates.ts";

/** One firmware volume measured as an EV_EFI_PLATFORM_FIRMWARE_BLOB2 into PCR 0. Exactly one of `sha256`, `contentBase64`. */
export interface FirmwareBlob {
  /** Printable ASCII, at most 255 characters (the blob description of the event). */
  readonly name: string;
  /** The blob's SHA-256 (hex), when only its digest is known. */
  readonly sha256?: string;
  /** The blob's bytes (base64), hashed in every bank. */
  readonly contentBase64?: string;
}

/** The platform firmware. */
export interface HostFirmware {
  /** Vendor, e.g. "Tessera". */
  readonly vendor: string;
  /** Version string, measured as the EV_S_CRTM_VERSION (UCS-2) into PCR 0. */
  readonly version: string;
  /** Firmware volumes, in the order the firmware measures them. */
  readonly blobs: readonly FirmwareBlob[];
}

/** The Secure Boot configuration measured into PCR 7. */
export interface SecureBootConfig {
  /** The `SecureBoot` variable: whether the firmware enforces image signatures. */
  readonly enabled: boolean;
  /** Platform Key certificates (PEM). */
  readonly pk: readonly string[];
  /** Key Exchange Key certificates (PEM). */
  readonly kek: readonly string[];
  /** Allowed-signature database certificates (PEM); boot images name theirs in `signedBy`. */
  readonly db: readonly string[];
  /** Forbidden-signature database: SHA-256 image digests (hex). */
  readonly dbx: readonly string[];
}

/** What a boot-chain image is. */
export type BootImageKind = "boot-manager" | "shim" | "bootloader" | "kernel" | "application";

/** The kinds of {@link BootImageKind}, in boot order. */
export const BOOT_IMAGE_KINDS: readonly BootImageKind[] = ["boot-manager", "shim", "bootloader", "kernel", "application"];

/** One EFI image of the boot chain, measured as an EV_EFI_BOOT_SERVICES_APPLICATION into PCR 4. */
export interface BootImage {
  /** What it is. */
  readonly kind: BootImageKind;
  /** Its file path on the EFI system partition (`\EFI\BOOT\BOOTX64.EFI`); for the kernel, on the boot partition (`\vmlinuz-6.1.0-28-amd64`). */
  readonly path: string;
  /** The image digest (hex): the Authenticode hash real firmware measures, and for the kernel also the file hash grub measures. */
  readonly sha256: string;
  /**
   * The db certificate that verified it, by commonName or full subject (`O=Tessera, CN=Tessera Test UEFI CA`).
   * When Secure Boot is on and this is absent, the first db certificate verified it.
   */
  readonly signedBy?: string;
}

/** A host image manifest (JSON). Validate untrusted input with {@link validateManifest}. */
export interface HostImage {
  /** The host image version, e.g. `esxi-8.0u2-tessera-1`. */
  readonly version: string;
  /** The platform firmware. */
  readonly firmware: HostFirmware;
  /** Secure Boot state and databases. */
  readonly secureBoot: SecureBootConfig;
  /** The boot chain in load order; exactly one `kernel`, and it comes last. */
  readonly bootChain: readonly BootImage[];
  /** The kernel arguments (after the kernel path), e.g. `root=UUID=… ro quiet`. */
  readonly kernelCommandLine: string;
  /** The initrd's SHA-256 (hex). */
  readonly initrdSha256: string;
  /** The software version, measured into PCR 14 (see `SOFTWARE_VERSION_PCR`) so attestation can match host images. */
  readonly softwareVersion: string;
}

const LIMITS = { text: 4096, pem: 65536, list: 64, dbx: 4096, base64: 16 * 1024 * 1024 };
const HEX32 = /^[0-9a-fA-F]{64}$/;

function fail(field: string, problem: string, cause?: unknown): never {
  throw new HostImageError("HOST_IMAGE_MANIFEST", `${field}: ${problem}`, { field, cause });
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

function list(v: unknown, field: string, max: number): unknown[] {
  if (v === undefined) fail(field, "missing");
  if (!Array.isArray(v)) fail(field, `expected an array, got ${typeOf(v)}`);
  if (v.length > max) fail(field, `${v.length} entries, at most ${max} allowed`);
  return v;
}

function text(v: unknown, field: string, opts: { empty?: boolean; max?: number } = {}): string {
  if (v === undefined) fail(field, "missing");
  if (typeof v !== "string") fail(field, `expected a string, got ${typeOf(v)}`);
  if (!opts.empty && v.length === 0) fail(field, "empty");
  const max = opts.max ?? LIMITS.text;
  if (v.length > max) fail(field, `${v.length} characters, at most ${max} allowed`);
  if (v.includes("\0")) fail(field, "contains a NUL character");
  return v;
}

function hex32(v: unknown, field: string): string {
  const s = text(v, field);
  if (!HEX32.test(s)) fail(field, `expected 64 hex digits (a SHA-256), got ${JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)}`);
  return s.toLowerCase();
}

function blob(v: unknown, field: string): FirmwareBlob {
  const o = record(v, field, ["name"], ["sha256", "contentBase64"]);
  const name = text(o.name, `${field}.name`, { max: 255 });
  if (!/^[\x20-\x7e]+$/.test(name)) fail(`${field}.name`, "must be printable ASCII");
  if ((o.sha256 === undefined) === (o.contentBase64 === undefined)) fail(field, "give exactly one of sha256 and contentBase64");
  if (o.sha256 !== undefined) return { name, sha256: hex32(o.sha256, `${field}.sha256`) };
  const b64 = text(o.contentBase64, `${field}.contentBase64`, { empty: true, max: LIMITS.base64 });
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) fail(`${field}.contentBase64`, "not base64");
  return { name, contentBase64: b64 };
}

function certs(v: unknown, field: string): { pems: string[]; parsed: ParsedCertificate[] } {
  const pems: string[] = [];
  const parsed: ParsedCertificate[] = [];
  list(v, field, LIMITS.list).forEach((p, i) => {
    const pem = text(p, `${field}[${i}]`, { max: LIMITS.pem });
    try {
      parsed.push(parseCertificatePem(pem));
    } catch (e) {
      fail(`${field}[${i}]`, `not an X.509 certificate (${e instanceof Error ? e.message : String(e)})`, e);
    }
    pems.push(pem);
  });
  return { pems, parsed };
}

function image(v: unknown, field: string, db: readonly ParsedCertificate[]): BootImage {
  const o = record(v, field, ["kind", "path", "sha256"], ["signedBy"]);
  const kind = text(o.kind, `${field}.kind`);
  if (!(BOOT_IMAGE_KINDS as readonly string[]).includes(kind))
    fail(`${field}.kind`, `expected one of ${BOOT_IMAGE_KINDS.join(", ")}, got ${JSON.stringify(kind)}`);
  const path = text(o.path, `${field}.path`, { max: 512 });
  if (!path.startsWith("\\") || path.includes("/")) fail(`${field}.path`, `expected an EFI path like \\EFI\\BOOT\\BOOTX64.EFI, got ${JSON.stringify(path)}`);
  const sha256 = hex32(o.sha256, `${field}.sha256`);
  if (o.signedBy === undefined) return { kind: kind as BootImageKind, path, sha256 };
  const signedBy = text(o.signedBy, `${field}.signedBy`);
  if (!db.some((c) => certificateMatches(c, signedBy))) fail(`${field}.signedBy`, `no db certificate has the subject ${JSON.stringify(signedBy)}`);
  return { kind: kind as BootImageKind, path, sha256, signedBy };
}

/**
 * Checks an untrusted value (parsed JSON) against the manifest schema and returns a normalized copy
 * (hex in lower case). Unknown fields are refused, so typos do not pass silently.
 *
 * @example
 * ```ts
 * const manifest = validateManifest(JSON.parse(await readFile("host-image.json", "utf8")));
 * ```
 * @throws HostImageError `HOST_IMAGE_MANIFEST` naming the field: `manifest.bootChain[2].path: missing`.
 */
export function validateManifest(value: unknown): HostImage {
  const m = record(value, "manifest", ["version", "firmware", "secureBoot", "bootChain", "kernelCommandLine", "initrdSha256", "softwareVersion"]);
  const version = text(m.version, "manifest.version");
  const fw = record(m.firmware, "manifest.firmware", ["vendor", "version", "blobs"]);
  const firmware: HostFirmware = {
    vendor: text(fw.vendor, "manifest.firmware.vendor"),
    version: text(fw.version, "manifest.firmware.version", { max: 1024 }),
    blobs: list(fw.blobs, "manifest.firmware.blobs", LIMITS.list).map((b, i) => blob(b, `manifest.firmware.blobs[${i}]`)),
  };
  const sb = record(m.secureBoot, "manifest.secureBoot", ["enabled", "pk", "kek", "db", "dbx"]);
  if (typeof sb.enabled !== "boolean") fail("manifest.secureBoot.enabled", `expected a boolean, got ${typeOf(sb.enabled)}`);
  const pk = certs(sb.pk, "manifest.secureBoot.pk");
  const kek = certs(sb.kek, "manifest.secureBoot.kek");
  const db = certs(sb.db, "manifest.secureBoot.db");
  const dbx = list(sb.dbx, "manifest.secureBoot.dbx", LIMITS.dbx).map((h, i) => hex32(h, `manifest.secureBoot.dbx[${i}]`));
  if (sb.enabled && pk.pems.length === 0) fail("manifest.secureBoot.pk", "empty, but Secure Boot is enabled (no PK means setup mode)");
  if (sb.enabled && db.pems.length === 0) fail("manifest.secureBoot.db", "empty, but Secure Boot is enabled (nothing could boot)");
  const chain = list(m.bootChain, "manifest.bootChain", LIMITS.list).map((b, i) => image(b, `manifest.bootChain[${i}]`, db.parsed));
  if (chain.length === 0) fail("manifest.bootChain", "empty");
  const kernels = chain.flatMap((b, i) => (b.kind === "kernel" ? [i] : []));
  if (kernels.length !== 1) fail("manifest.bootChain", `expected exactly one kernel, found ${kernels.length}`);
  if (kernels[0] !== chain.length - 1) fail(`manifest.bootChain[${kernels[0]}].kind`, "the kernel must be the last image of the chain");
  if (sb.enabled) {
    for (const [i, b] of chain.entries()) {
      if (dbx.includes(b.sha256)) fail(`manifest.bootChain[${i}].sha256`, "is in dbx: Secure Boot would refuse to load it");
    }
  }
  return {
    version,
    firmware,
    secureBoot: { enabled: sb.enabled, pk: pk.pems, kek: kek.pems, db: db.pems, dbx },
    bootChain: chain,
    kernelCommandLine: text(m.kernelCommandLine, "manifest.kernelCommandLine", { empty: true }),
    initrdSha256: hex32(m.initrdSha256, "manifest.initrdSha256"),
    softwareVersion: text(m.softwareVersion, "manifest.softwareVersion", { max: 256 }),
  };
}

/**
 * Parses and validates a manifest from JSON text.
 * @throws HostImageError `HOST_IMAGE_MANIFEST` (field `manifest`) when the text is not JSON, else as {@link validateManifest}.
 */
export function parseManifest(json: string): HostImage {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    fail("manifest", `not JSON (${e instanceof Error ? e.message : String(e)})`, e);
  }
  return validateManifest(value);
}
