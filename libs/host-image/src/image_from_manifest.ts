/**
 * An accepted image made from a host image manifest (libs/boot's format): what booting it measures.
 * @module
 */
import { hash, TPM_ALG, toHex } from "@tessera/tpm2";
import { certificateMatches, parseCertificatePem } from "./certificates.ts";
import type { BootComponent, ImageModel } from "./image.ts";
import { validateManifest, type HostImage } from "./manifest.ts";

/** Options of {@link imageFromManifest}. */
export interface ImageFromManifestOptions {
  /** The image's name (default: the manifest's version). */
  readonly name?: string;
  /** The image's version (default: the manifest's version). */
  readonly version?: string;
}

/**
 * Makes an accepted image from a manifest: its boot chain (kind, path, SHA-256; with Secure Boot on, the
 * authority — the db certificate that verified it — on the first image each certificate verifies, as
 * firmware logs authorities once), kernel and initrd SHA-256, the kernel command line as grub logs it
 * (`/vmlinuz-… <arguments>`), Secure Boot state and database entries, and the software version. Manifests
 * record SHA-256 digests only, so only the SHA-256 bank is matched. Firmware is not recorded.
 *
 * @throws HostImageError `HOST_IMAGE_MANIFEST` for an invalid manifest.
 */
export function imageFromManifest(manifest: HostImage, options: ImageFromManifestOptions = {}): ImageModel {
  const m = validateManifest(manifest);
  const sha256 = (der: Uint8Array): string => toHex(hash(TPM_ALG.SHA256, der));
  const db = m.secureBoot.db.map(parseCertificatePem);
  const seen = new Set<string>();
  const bootChain: BootComponent[] = m.bootChain.map((b) => {
    let authority: string | undefined;
    if (m.secureBoot.enabled) {
      const signer = b.signedBy === undefined ? db[0] : db.find((c) => certificateMatches(c, b.signedBy ?? ""));
      if (signer !== undefined) {
        const a = sha256(signer.der);
        if (!seen.has(a)) authority = a;
        seen.add(a);
      }
    }
    return { kind: b.kind, path: b.path, digests: { sha256: b.sha256 }, ...(authority === undefined ? {} : { authority }) };
  });
  const kernel = m.bootChain[m.bootChain.length - 1];
  const kernelPath = kernel.path.replaceAll("\\", "/");
  const certs = (pems: readonly string[]): string[] => pems.map((p) => sha256(parseCertificatePem(p).der));
  return {
    name: options.name ?? m.version,
    version: options.version ?? m.version,
    bootChain,
    kernel: { path: kernelPath, digests: { sha256: kernel.sha256 } },
    initrd: { digests: { sha256: m.initrdSha256 } },
    kernelCommandLine: m.kernelCommandLine === "" ? kernelPath : `${kernelPath} ${m.kernelCommandLine}`,
    secureBoot: {
      enabled: m.secureBoot.enabled,
      pk: certs(m.secureBoot.pk),
      kek: certs(m.secureBoot.kek),
      db: certs(m.secureBoot.db),
      dbx: [...m.secureBoot.dbx],
    },
    softwareVersion: m.softwareVersion,
  };
}
