/**
 * A Tessera service's home on first start and every later one: the private data directory, its local TLS (a CA and
 * a server certificate for the names it is reached by), and the master key that wraps its secrets at rest. attestd
 * and kmxd share it.
 * @module
 */
import { ensurePrivateDir } from "./data_dir.ts";
import { ensureLocalTls } from "./local_tls.ts";
import { aesGcmKeyring, loadOrCreateMasterKey, type Keyring } from "./master_key.ts";
import { readPem } from "./secret_file.ts";

/** The TLS material a service serves with (PEM) and where its CA certificate is. */
export interface ServiceTls {
  readonly cert: string;
  readonly key: string;
  readonly caCert: string;
  readonly caCertFile: string;
}

/** Options of {@link prepareServiceHome}. */
export interface ServiceHomeOptions {
  /** The service's name (the certificates' subjects). */
  readonly service: string;
  readonly dataDir: string;
  /** The address it listens on and its public URL: the server certificate names both hosts (and localhost). */
  readonly listenHost: string;
  readonly publicUrl: string;
  readonly masterKeyFile: string;
  /** Where a changed directory mode and a new master key are reported. */
  readonly log: { warn(fields: Record<string, unknown>, msg: string): void; info(fields: Record<string, unknown>, msg: string): void };
}

/**
 * Makes (or reuses) the data directory (0700), `D/tls/` and the master key file (0600), and reads them.
 * @throws ServiceError naming the file that cannot be made or read
 */
export async function prepareServiceHome(o: ServiceHomeOptions): Promise<{ readonly keyring: Keyring; readonly tls: ServiceTls }> {
  await ensurePrivateDir(o.dataDir, (msg, fields) => o.log.warn(fields ?? {}, msg));
  const hosts = [...new Set([o.listenHost, new URL(o.publicUrl).hostname.replace(/^\[|\]$/g, ""), "localhost", "127.0.0.1"])].filter(
    (h) => h !== "" && h !== "0.0.0.0" && h !== "::",
  );
  const tlsFiles = await ensureLocalTls(o.dataDir, { service: o.service, hosts });
  const { key, created } = await loadOrCreateMasterKey(o.masterKeyFile);
  if (created) o.log.info({ file: o.masterKeyFile }, "master key created");
  const tls: ServiceTls = {
    cert: await readPem(tlsFiles.serverCertFile, "TLS certificate"),
    key: await readPem(tlsFiles.serverKeyFile, "TLS private key"),
    caCert: await readPem(tlsFiles.caCertFile, "TLS CA certificate"),
    caCertFile: tlsFiles.caCertFile,
  };
  return { keyring: aesGcmKeyring(key), tls };
}
