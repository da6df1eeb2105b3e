/**
 * Where Tessera's boot simulator records the software version: an EV_IPL on PCR 14 whose data is
 * `tessera_software_version: <version>`.
 * @module
 */

/**
 * The PCR holding the software version: 14. Shim uses PCR 14 only for its MOK lists, which are stable
 * per host, so PCR 14 identifies the release without the noise of grub's command PCR 8 (which changes with
 * every grub.cfg or command-line edit). A policy can seal to it or compare it on its own.
 */
export const SOFTWARE_VERSION_PCR = 14;

/**
 * The software-version event: an EV_IPL on PCR 14 whose data is the UTF-8 text
 * `tessera_software_version: <softwareVersion>` (no NUL) and whose digest is the hash of exactly that data,
 * so a verifier can check the text against the digest and read the version from it.
 */
export const SOFTWARE_VERSION_PREFIX = "tessera_software_version: ";
