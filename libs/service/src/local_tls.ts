/**
 * First start without TLS files: a local CA, a server certificate (localhost, 127.0.0.1, ::1 and the
 * service's hosts) and, when asked, a client certificate, written to `<data-dir>/tls/` (directory 0700,
 * private keys 0600) and reused afterwards.
 * @module
 */
import { createCa, issueCertificate, type IssuingCa } from "@tessera/pki";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { writeSecretFile } from "./secret_file.ts";

/** Options of {@link ensureLocalTls}. */
export interface LocalTlsOptions {
  /** The service's name (`kmipd`, `attestd`): the server certificate's commonName and part of the CA's. */
  readonly service: string;
  /**
   * Names and addresses the server is reached by, besides localhost, 127.0.0.1 and ::1 (always included).
   * Wildcard listen addresses (`0.0.0.0`, `::`) and empty strings are skipped.
   */
  readonly hosts: readonly string[];
  /** Also issue a client certificate (for an admin or a test client) with this commonName. */
  readonly client?: { readonly commonName: string };
}

/** Paths of the material {@link ensureLocalTls} made or found. */
export interface GeneratedTls {
  /** `<data-dir>/tls`. */
  dir: string;
  /** The local CA certificate (clients trust it). */
  caCertFile: string;
  /** The local CA private key (0600). */
  caKeyFile: string;
  /** The server certificate. */
  serverCertFile: string;
  /** The server private key (0600). */
  serverKeyFile: string;
  /** The client certificate, when one was asked for. */
  clientCertFile?: string;
  /** The client private key (0600), when a client certificate was asked for. */
  clientKeyFile?: string;
  /** True when anything was created by this call. */
  created: boolean;
}

/** {@link GeneratedTls} when a client certificate was asked for. */
export interface GeneratedTlsWithClient extends GeneratedTls {
  clientCertFile: string;
  clientKeyFile: string;
}

async function exists(f: string): Promise<boolean> {
  try {
    await stat(f);
    return true;
  } catch {
    return false;
  }
}

const IP = /^[\d.]+$|:/;
const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/**
 * Loads or creates the local TLS material in `dataDir/tls`. Each certificate and its key are written key
 * first, certificate last, each atomically: a certificate file present means its key is too. What exists is
 * reused: the CA is created once, and a missing server or client certificate is issued by the existing CA,
 * so clients that trust the CA keep working. To cover new hosts, delete server.pem and restart.
 *
 * @example
 * ```ts
 * const g = await ensureLocalTls(dataDir, { service: "attestd", hosts: [config.host] });
 * await serveHttps(app.fetch, { host, port, cert: await readPem(g.serverCertFile, "TLS certificate"), key: … });
 * ```
 * @throws ServiceError SERVICE_FILE when a file cannot be written; PkiError when the existing CA does not load.
 */
export async function ensureLocalTls(dataDir: string, options: LocalTlsOptions & { readonly client: { readonly commonName: string } }): Promise<GeneratedTlsWithClient>;
export async function ensureLocalTls(dataDir: string, options: LocalTlsOptions): Promise<GeneratedTls>;
export async function ensureLocalTls(dataDir: string, options: LocalTlsOptions): Promise<GeneratedTls> {
  const dir = path.join(dataDir, "tls");
  const f: GeneratedTls = {
    dir,
    caCertFile: path.join(dir, "ca.pem"),
    caKeyFile: path.join(dir, "ca-key.pem"),
    serverCertFile: path.join(dir, "server.pem"),
    serverKeyFile: path.join(dir, "server-key.pem"),
    ...(options.client ? { clientCertFile: path.join(dir, "client.pem"), clientKeyFile: path.join(dir, "client-key.pem") } : {}),
    created: false,
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  let ca: IssuingCa;
  if (await exists(f.caCertFile)) {
    ca = { certificatePem: await readFile(f.caCertFile, "utf8"), privateKeyPem: await readFile(f.caKeyFile, "utf8") };
  } else {
    const made = await createCa({ commonName: `Tessera ${options.service} local CA`, keyAlgorithm: "ecdsa-p256" });
    await writeSecretFile(f.caKeyFile, made.privateKeyPem, { mode: 0o600 });
    await writeSecretFile(f.caCertFile, made.certificatePem, { mode: 0o644 });
    ca = made;
    f.created = true;
  }
  if (!(await exists(f.serverCertFile))) {
    const hosts = options.hosts.filter((h) => !WILDCARD.has(h));
    const server = await issueCertificate(ca, {
      commonName: options.service,
      profile: "server",
      dnsNames: [...new Set(["localhost", ...hosts.filter((h) => !IP.test(h))])],
      ipAddresses: [...new Set(["127.0.0.1", "::1", ...hosts.filter((h) => IP.test(h))])],
      keyAlgorithm: "ecdsa-p256",
    });
    await writeSecretFile(f.serverKeyFile, server.privateKeyPem!, { mode: 0o600 });
    await writeSecretFile(f.serverCertFile, server.certificatePem, { mode: 0o644 });
    f.created = true;
  }
  if (options.client && f.clientCertFile && f.clientKeyFile && !(await exists(f.clientCertFile))) {
    const client = await issueCertificate(ca, { commonName: options.client.commonName, profile: "client", keyAlgorithm: "ecdsa-p256" });
    await writeSecretFile(f.clientKeyFile, client.privateKeyPem!, { mode: 0o600 });
    await writeSecretFile(f.clientCertFile, client.certificatePem, { mode: 0o644 });
    f.created = true;
  }
  return f;
}
