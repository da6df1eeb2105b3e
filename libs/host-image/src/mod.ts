/**
 * @tessera/host-image — the component model of a host image, below both the measured-boot simulator
 * (@tessera/boot) and the appraisal (@tessera/appraisal). Pure: no I/O.
 *
 * - {@link ImageModel}, {@link validateImage} / {@link parseImage}: an accepted image (name, version, boot
 *   chain, kernel, initrd, command line, Secure Boot, software version, firmware per hardware model).
 * - {@link imageFromEventLog}: the image a known-good host's log measured.
 * - {@link HostImage}, {@link validateManifest} / {@link parseManifest}, {@link imageFromManifest}: libs/boot's manifest.
 * - {@link matchImages}: the matching image, or each image's differences and the closest one.
 * - {@link HostImageError}: every failure, with a stable `code`.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./certificates.ts";
export * from "./software_version.ts";
export * from "./manifest.ts";
export * from "./image.ts";
export * from "./image_from_event_log.ts";
export * from "./image_from_manifest.ts";
export * from "./match_images.ts";
