/**
 * A realistic default host image: UEFI firmware, the removable-media boot manager, shim, grub and a
 * Linux kernel with its command line and initrd.
 * @module
 */
import { createHash } from "node:crypto";
import { parseCertificatePem } from "./_certs.ts";
import { validateHostImage, type HostImage } from "./host_image.ts";

/** The Secure Boot certificates {@link defaultHostImage} needs (what `makeTestSecureBootPki` returns fits). */
export interface SecureBootCertificates {
  /** Platform Key certificate. */
  readonly pk: { readonly certificatePem: string };
  /** Key Exchange Key certificate. */
  readonly kek: { readonly certificatePem: string };
  /** db certificates: `[0]` signs the boot manager and shim, `[1]` (or `[0]` when alone) grub and the kernel. */
  readonly db: readonly { readonly certificatePem: string }[];
}

/** Options of {@link defaultHostImage}. */
export interface DefaultHostImageOptions {
  /** The Secure Boot certificates. */
  readonly pki: SecureBootCertificates;
  /** Host image version (default `tessera-host-1.0.0`). */
  readonly version?: string;
  /** Software version measured into PCR 14 (default `tessera 1.0.0`). */
  readonly softwareVersion?: string;
  /** Kernel release, naming `\vmlinuz-<release>` and `/initrd.img-<release>` (default `6.1.0-28-amd64`). */
  readonly kernelRelease?: string;
  /** Secure Boot on (default true). */
  readonly secureBoot?: boolean;
}

/** A stable stand-in digest for a named test artefact (real hosts record their images' Authenticode hashes). */
function testDigest(label: string): string {
  return createHash("sha256").update(`tessera test artefact\0${label}`).digest("hex");
}

function signer(pem: string): string {
  const c = parseCertificatePem(pem);
  return c.commonName !== "" ? c.commonName : c.subject;
}

/**
 * Builds the manifest of a typical Linux host: OVMF-like firmware (version string and three firmware
 * volumes, one given by content), Secure Boot on with the given PK/KEK/db and two revoked digests in
 * dbx, then `\EFI\BOOT\BOOTX64.EFI` (boot manager) → `\EFI\tessera\shimx64.efi` → `\EFI\tessera\grubx64.efi`
 * → `\vmlinuz-<release>`, a root-by-UUID command line and an initrd. Digests are stable stand-ins, so two
 * calls with the same options give equal manifests.
 *
 * @example
 * ```ts
 * const manifest = defaultHostImage({ pki: await makeTestSecureBootPki(), softwareVersion: "tessera 1.2.0" });
 * ```
 */
export function defaultHostImage(options: DefaultHostImageOptions): HostImage {
  const { pki } = options;
  if (pki.db.length === 0) throw new TypeError("defaultHostImage: pki.db is empty");
  const release = options.kernelRelease ?? "6.1.0-28-amd64";
  const uefiCa = signer(pki.db[0].certificatePem);
  const osCa = signer((pki.db[1] ?? pki.db[0]).certificatePem);
  return validateHostImage({
    version: options.version ?? "tessera-host-1.0.0",
    firmware: {
      vendor: "Tessera",
      version: "Tessera Virtual Firmware 1.0 (swtpm dev host)",
      blobs: [
        { name: "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)", sha256: testDigest("firmware volume PEIFV") },
        { name: "Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)", sha256: testDigest("firmware volume DXEFV") },
        { name: "Tessera platform defaults", contentBase64: Buffer.from("tessera platform defaults v1\n").toString("base64") },
      ],
    },
    secureBoot: {
      enabled: options.secureBoot ?? true,
      pk: [pki.pk.certificatePem],
      kek: [pki.kek.certificatePem],
      db: pki.db.map((c) => c.certificatePem),
      dbx: [testDigest("revoked image 1"), testDigest("revoked image 2")],
    },
    bootChain: [
      { kind: "boot-manager", path: "\\EFI\\BOOT\\BOOTX64.EFI", sha256: testDigest("BOOTX64.EFI"), signedBy: uefiCa },
      { kind: "shim", path: "\\EFI\\tessera\\shimx64.efi", sha256: testDigest("shimx64.efi 15.8"), signedBy: uefiCa },
      { kind: "bootloader", path: "\\EFI\\tessera\\grubx64.efi", sha256: testDigest("grubx64.efi 2.12"), signedBy: osCa },
      { kind: "kernel", path: `\\vmlinuz-${release}`, sha256: testDigest(`vmlinuz-${release}`), signedBy: osCa },
    ],
    kernelCommandLine: "root=UUID=6f1d4f0e-3c55-4d2a-9d8e-1a2b3c4d5e6f ro quiet lockdown=integrity",
    initrdSha256: testDigest(`initrd.img-${release}`),
    softwareVersion: options.softwareVersion ?? "tessera 1.0.0",
  });
}
