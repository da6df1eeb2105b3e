/**
 * @tessera/swtpm-testing: throw-away software TPMs for tests.
 *
 * - {@link startSwtpm}: a freshly manufactured swtpm (EK certs from a private local CA) on loopback
 *   TCP or a unix socket.
 * - {@link startPtyBridge}: a pty that behaves like `/dev/tpmrm0`, bridged to an swtpm TCP port.
 * - {@link ensureDebianPackages}: checks (and as root installs) the Debian packages needed.
 *
 * @module
 */
export {
  EK_CERT_NV_INDEX,
  SWTPM_BINARIES,
  sendRawTpmCommand,
  startSwtpm,
  type EkCertKind,
  type RawTpmTarget,
  type SwtpmEkCert,
  type SwtpmInstance,
  type SwtpmOptions,
} from "./swtpm.ts";
export { startPtyBridge, type PtyBridge, type PtyBridgeOptions } from "./pty_bridge.ts";
export {
  DEBIAN_PACKAGE_BINARIES,
  SWTPM_DEBIAN_PACKAGES,
  ensureDebianPackages,
  findMissingDebianPackages,
  type MissingDebianPackage,
} from "./ensure_packages.ts";
