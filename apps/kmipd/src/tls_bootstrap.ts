/**
 * First start without TLS files: a local CA, a server certificate (localhost, 127.0.0.1, ::1 and the listen
 * host) and a client certificate, written to `<data-dir>/tls/` (private keys 0600) and reused afterwards.
 * @module
 */
import { createCa, issueCertificate } from "@tessera/pki";
import { chmod, mkdir, open, readFile, rename, stat } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";

/** Paths and PEMs of the generated material. */
export interface GeneratedTls {
  dir: string;
  caCertFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  created: boolean;
}

async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", mode);
  try {
    // Whatever the umask.
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

async function exists(f: string): Promise<boolean> {
  try {
    await stat(f);
    return true;
  } catch {
    return false;
  }
}

/** Loads or creates the local TLS material in `dataDir/tls`. */
export async function ensureLocalTls(dataDir: string, host: string): Promise<GeneratedTls> {
  const dir = path.join(dataDir, "tls");
  const f = {
    dir,
    caCertFile: path.join(dir, "ca.pem"),
    caKeyFile: path.join(dir, "ca-key.pem"),
    serverCertFile: path.join(dir, "server.pem"),
    serverKeyFile: path.join(dir, "server-key.pem"),
    clientCertFile: path.join(dir, "client.pem"),
    clientKeyFile: path.join(dir, "client-key.pem"),
  };
  if (await exists(f.clientKeyFile)) return { ...f, created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ca = await createCa({ commonName: "Tessera kmipd local CA", keyAlgorithm: "ecdsa-p256" });
  const ips = ["127.0.0.1", "::1", ...(/^[\d.]+$|:/.test(host) && host !== "0.0.0.0" && host !== "::" ? [host] : [])];
  const dns = ["localhost", ...(!/^[\d.]+$|:/.test(host) ? [host] : [])];
  const server = await issueCertificate(ca, {
    commonName: "kmipd",
    profile: "server",
    dnsNames: [...new Set(dns)],
    ipAddresses: [...new Set(ips)],
    keyAlgorithm: "ecdsa-p256",
  });
  const client = await issueCertificate(ca, { commonName: "kmipd-admin", profile: "client", keyAlgorithm: "ecdsa-p256" });
  await writeAtomic(f.caKeyFile, ca.privateKeyPem, 0o600);
  await writeAtomic(f.caCertFile, ca.certificatePem, 0o644);
  await writeAtomic(f.serverKeyFile, server.privateKeyPem!, 0o600);
  await writeAtomic(f.serverCertFile, server.certificatePem, 0o644);
  await writeAtomic(f.clientCertFile, client.certificatePem, 0o644);
  await writeAtomic(f.clientKeyFile, client.privateKeyPem!, 0o600);
  return { ...f, created: true };
}

/** Reads a PEM file, naming it in errors. */
export async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
