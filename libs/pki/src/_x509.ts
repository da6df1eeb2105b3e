/**
 * The one place that loads @peculiar/x509: installs the metadata shim it needs first and
 * points it at the platform WebCrypto. Every other file imports `x509` from here, so the
 * configuration happens exactly once and before first use.
 *
 * @module
 */
import "./_reflect_metadata.ts";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
