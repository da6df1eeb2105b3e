/**
 * @tessera/boot — the measured-boot simulator for swtpm dev hosts. They have no firmware, so Tessera plays
 * its part: it measures a host image (firmware, Secure Boot databases, shim, grub, kernel, command line,
 * initrd, software version) into the TPM's PCRs and writes the TCG event log that goes with them.
 *
 * - {@link validateHostImage} / {@link parseHostImage}: the host image manifest.
 * - {@link defaultHostImage}, {@link makeTestSecureBootPki}: a realistic manifest and its Secure Boot PKI.
 * - {@link measuredBootEvents}: the events a boot measures; {@link expectedPcrs}: the PCRs they lead to.
 * - {@link bootHost}: measure into a TPM and return the log.
 * - {@link withKernel}, {@link withSecureBootOff}, {@link withExtraApplication}, {@link tamperLog}: variants for tests.
 * - {@link BootError}: every failure, with a stable `code`.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./host_image.ts";
export * from "./make_test_secure_boot_pki.ts";
export * from "./default_host_image.ts";
export * from "./measure.ts";
export * from "./expected_pcrs.ts";
export * from "./boot_host.ts";
export * from "./variants.ts";
