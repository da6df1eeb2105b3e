/**
 * PyKMIP (Debian python3-pykmip 0.10) test helpers: a throw-away PKI, a throw-away PyKMIP server,
 * and a JSON-driven PyKMIP client, for interop tests of our KMIP server and client.
 *
 * ```ts
 * const server = await startPykmipServer();
 * try {
 *   const [created, got] = await runPykmipClient(server, server.pki, [
 *     { op: "create", algorithm: "AES", length: 256, name: "k" },
 *     { op: "get", uid: "$0" },
 *   ]);
 * } finally {
 *   await server.stop();
 * }
 * ```
 *
 * @module
 */
export { ensurePykmip, PYKMIP_BINARIES, PYKMIP_DEBIAN_PACKAGE, type PykmipInstallation } from "./ensure.ts";
export { makeTestPki, type CertKeyPair, type MakeTestPkiOptions, type PkiKeyType, type TestClients, type TestPki } from "./pki.ts";
export { defaultCipherSuites, startPykmipServer, type PykmipLogLevel, type PykmipServer, type StartPykmipServerOptions } from "./server.ts";
export { runPykmipClient, type ClientTlsFiles, type PykmipSslVersion, type PykmipTarget, type RunPykmipClientOptions } from "./client.ts";
export { PYKMIP_CLIENT_RESULT_MARKER, PYKMIP_CLIENT_SCRIPT } from "./client_script.ts";
export * from "./ops.ts";
