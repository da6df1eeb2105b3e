/**
 * @tessera/swtpm-testing: throw-away software TPMs for tests.
 *
 * - {@link startSwtpm}: a freshly manufactured swtpm (EK certs from a private local CA) on loopback
 *   TCP or a unix socket. Talk to it with @tessera/tss (`Tpm.open(instance.tcti)`) or tpm2-tools.
 * - {@link startPtyBridge}: a pty that behaves like `/dev/tpmrm0`, bridged to an swtpm TCP port.
 * - {@link ensureDebianPackages}: checks (and as root installs) the Debian packages needed.
 *
 * @module
 */
export { SWTPM_BINARIES } from "./binaries.ts";
export { EK_CERT_NV_INDEX, type EkCertKind, type SwtpmEkCert } from "./ek_cert.ts";
export { SwtpmError, type SwtpmErrorCode } from "./errors.ts";
export { startSwtpm, type SwtpmInstance, type SwtpmOptions } from "./start_swtpm.ts";
export { startPtyBridge, type PtyBridge, type PtyBridgeOptions } from "./pty_bridge.ts";
export {
  DEBIAN_PACKAGE_BINARIES,
  SWTPM_DEBIAN_PACKAGES,
  ensureDebianPackages,
  findMissingDebianPackages,
  type MissingDebianPackage,
} from "./ensure_packages.ts";
