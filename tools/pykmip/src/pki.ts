/**
 * A throw-away PKI for KMIP-over-TLS tests, made with the `openssl` CLI.
 *
 * What PyKMIP 0.10 needs (kmip/services/server/session.py, kmip/services/server/auth/utils.py):
 * - client certificates MUST carry extendedKeyUsage `clientAuth` (checked after the handshake
 *   unless `enable_tls_client_auth = False`; otherwise every request is answered with
 *   Authentication Not Successful), and exactly one subject CN, which becomes the client identity
 *   (object owner) — here `alice` and `bob`;
 * - the server certificate is loaded with `ssl.wrap_socket` (TLS 1.2 only); PyKMIP's client does not
 *   check the host name, but Node clients do, hence SAN `IP:127.0.0.1, DNS:localhost`.
 * Both EC P-256 and RSA 2048 keys work with PyKMIP; the key type decides which of PyKMIP's TLS 1.2
 * cipher suites can be negotiated: EC → `ECDHE-ECDSA-AES{128,256}-GCM-SHA{256,384}` (also in Node's
 * default list); RSA → only CBC suites (`ECDHE-RSA-AES128-SHA256`, `AES128-SHA256`, ...).
 *
 * @module
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { PYKMIP_BINARIES } from "./ensure.ts";

const execFileAsync = promisify(execFile);

/** Key algorithm of every key in the test PKI. */
export type PkiKeyType = "ec" | "rsa";

/** A certificate and its private key, as files (key: mode 0600) and PEM strings. */
export interface CertKeyPair {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  /** PKCS#8 (`BEGIN PRIVATE KEY`), unencrypted. */
  readonly keyPem: string;
}

/** The client certificates: `alice` and `bob` always, plus any `extraClients`. */
export interface TestClients {
  readonly alice: CertKeyPair;
  readonly bob: CertKeyPair;
  readonly [commonName: string]: CertKeyPair;
}

/** Everything {@link makeTestPki} made. */
export interface TestPki {
  /** Folder holding the files. */
  readonly dir: string;
  readonly keyType: PkiKeyType;
  /** Self-signed root (CN "Tessera PyKMIP Test CA"); `ca.certPath` is the trust anchor for both sides. */
  readonly ca: CertKeyPair;
  /** CN=localhost, SAN IP:127.0.0.1 + DNS:localhost (+ extras), EKU serverAuth. */
  readonly server: CertKeyPair;
  /** Client certificates, EKU clientAuth, CN = the name (= PyKMIP client identity). */
  readonly clients: TestClients;
}

/** Options of {@link makeTestPki}. */
export interface MakeTestPkiOptions {
  /** `"ec"` (default, NIST P-256) or `"rsa"` (2048 bits). */
  readonly keyType?: PkiKeyType;
  /** More client certificates besides alice and bob (names: `[A-Za-z0-9._-]+`). */
  readonly extraClients?: readonly string[];
  /** Extra server SAN DNS names. */
  readonly serverDnsNames?: readonly string[];
  /** Extra server SAN IP addresses. */
  readonly serverIps?: readonly string[];
  /** Validity in days (default 30). */
  readonly days?: number;
}

const NAME_RE = /^[A-Za-z0-9._-]+$/;

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await execFileAsync(PYKMIP_BINARIES.openssl, args, { cwd, timeout: 60_000 });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${(err.stderr ?? "").trim() || err.message}`);
  }
}

function newKeyArgs(keyType: PkiKeyType): string[] {
  return keyType === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"];
}

async function readPair(dir: string, base: string): Promise<CertKeyPair> {
  const certPath = path.join(dir, `${base}.crt`);
  const keyPath = path.join(dir, `${base}.key`);
  await chmod(keyPath, 0o600);
  await chmod(certPath, 0o644);
  return { certPath, keyPath, certPem: await readFile(certPath, "utf8"), keyPem: await readFile(keyPath, "utf8") };
}

/**
 * Creates a CA, a server certificate and client certificates under `dir` (created if needed).
 * Files: `ca.{crt,key}`, `server.{crt,key}`, `<client>.{crt,key}`; keys are mode 0600.
 *
 * @param dir target folder (existing files with the same names are overwritten).
 * @param options key type, extra clients / SANs, validity.
 * @returns paths and PEM contents.
 * @throws Error with openssl's stderr when a step fails, or for an invalid client name.
 */
export async function makeTestPki(dir: string, options: MakeTestPkiOptions = {}): Promise<TestPki> {
  const keyType = options.keyType ?? "ec";
  const days = String(options.days ?? 30);
  const clientNames = ["alice", "bob", ...(options.extraClients ?? [])];
  for (const n of clientNames) {
    if (!NAME_RE.test(n) || n === "ca" || n === "server") throw new Error(`makeTestPki: invalid client name ${JSON.stringify(n)}`);
  }
  if (new Set(clientNames).size !== clientNames.length) throw new Error("makeTestPki: duplicate client names");
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const san = [
    "IP:127.0.0.1",
    "DNS:localhost",
    ...(options.serverIps ?? []).map((ip) => `IP:${ip}`),
    ...(options.serverDnsNames ?? []).map((d) => `DNS:${d}`),
  ].join(",");
  const leafKeyUsage = keyType === "ec" ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment";
  // Our own config, so that neither the system openssl.cnf nor OPENSSL_CONF can add or clash
  // with extensions.
  const cnf = "pki.cnf";
  await writeFile(
    path.join(dir, cnf),
    [
      "[req]",
      "distinguished_name = dn",
      "prompt = no",
      "x509_extensions = ca_ext",
      "[dn]",
      "CN = unused",
      "[ca_ext]",
      "basicConstraints = critical,CA:TRUE",
      "keyUsage = critical,keyCertSign,cRLSign",
      "subjectKeyIdentifier = hash",
      "[server]",
      "basicConstraints = critical,CA:FALSE",
      `keyUsage = ${leafKeyUsage}`,
      "extendedKeyUsage = serverAuth",
      `subjectAltName = ${san}`,
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid",
      "[client]",
      "basicConstraints = critical,CA:FALSE",
      `keyUsage = ${leafKeyUsage}`,
      "extendedKeyUsage = clientAuth",
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid",
      "",
    ].join("\n"),
  );

  await openssl(
    [
      "req",
      "-x509",
      "-new",
      "-config",
      cnf,
      ...newKeyArgs(keyType),
      "-nodes",
      "-sha256",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      days,
      "-subj",
      "/CN=Tessera PyKMIP Test CA",
    ],
    dir,
  );

  const issue = async (base: string, cn: string, section: "server" | "client"): Promise<void> => {
    await openssl(
      ["req", "-new", "-config", cnf, ...newKeyArgs(keyType), "-nodes", "-sha256", "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${cn}`],
      dir,
    );
    await openssl(
      [
        "x509",
        "-req",
        "-sha256",
        "-in",
        `${base}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        `0x${randomBytes(12).toString("hex")}`,
        "-days",
        days,
        "-extfile",
        cnf,
        "-extensions",
        section,
        "-out",
        `${base}.crt`,
      ],
      dir,
    );
    await rm(path.join(dir, `${base}.csr`), { force: true });
  };

  await issue("server", "localhost", "server");
  for (const n of clientNames) await issue(n, n, "client");
  await rm(path.join(dir, cnf), { force: true });

  const extra: Record<string, CertKeyPair> = {};
  for (const n of clientNames.slice(2)) extra[n] = await readPair(dir, n);
  const clients: TestClients = { ...extra, alice: await readPair(dir, "alice"), bob: await readPair(dir, "bob") };
  return { dir, keyType, ca: await readPair(dir, "ca"), server: await readPair(dir, "server"), clients };
}
