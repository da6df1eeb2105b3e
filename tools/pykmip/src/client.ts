/**
 * Runs KMIP operations with PyKMIP 0.10's `kmip.pie.client.ProxyKmipClient` against any KMIP
 * server (PyKMIP's own, or ours), from a list of JSON-describable ops.
 *
 * PyKMIP client behaviour worth knowing:
 * - TLS: `ssl.wrap_socket` with `ssl_version` (default here `PROTOCOL_TLS`: TLS 1.2 or 1.3, the
 *   system OpenSSL's default ciphers), the CA is verified but the host name is NOT checked.
 * - KMIP version: one per client (`kmip_version`), written into every request header; PyKMIP's
 *   default is 1.2. Encrypt/Decrypt/Sign/Signature Verify/MAC need 1.2+ on PyKMIP's server; GCM
 *   AAD and tag are only encoded for 1.4+.
 * - The client is hermetic: `config_file=/dev/null`, so ~/.pykmip/pykmip.conf and
 *   /etc/pykmip/pykmip.conf are not read.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { PYKMIP_CLIENT_RESULT_MARKER, PYKMIP_CLIENT_SCRIPT } from "./client_script.ts";
import { ensurePykmip, PYKMIP_BINARIES } from "./ensure.ts";
import type { KmipVersion, PykmipOp, PykmipOpResults } from "./ops.ts";
import type { TestPki } from "./pki.ts";

/** Where the KMIP server listens (a {@link PykmipServer} fits). */
export interface PykmipTarget {
  readonly host: string;
  readonly port: number;
}

/** Client TLS files given directly instead of a {@link TestPki}. */
export interface ClientTlsFiles {
  /** CA certificate(s) that verify the server. */
  readonly caPath: string;
  /** Client certificate (needs EKU clientAuth for PyKMIP's server). */
  readonly certPath: string;
  /** Its private key. */
  readonly keyPath: string;
}

/** Python `ssl` protocol constants PyKMIP's client accepts (hostname checking is never done). */
export type PykmipSslVersion = "PROTOCOL_TLS" | "PROTOCOL_SSLv23" | "PROTOCOL_TLSv1_2";

/** Options of {@link runPykmipClient}. */
export interface RunPykmipClientOptions {
  /** Which client certificate of a {@link TestPki} to use (default `"alice"`). */
  readonly client?: string;
  /** KMIP protocol version of the requests (default: PyKMIP's default, 1.2). */
  readonly kmipVersion?: KmipVersion;
  /** Default `"PROTOCOL_TLS"`. */
  readonly sslVersion?: PykmipSslVersion;
  /** Sends a Credential (username/password) in the request header. */
  readonly username?: string;
  readonly password?: string;
  /** Socket timeout of the PyKMIP client (default 20 s). */
  readonly socketTimeoutSeconds?: number;
  /** Kill the Python process after this long (default 60000 ms). */
  readonly timeoutMs?: number;
  /** Receives the program's stderr (Python tracebacks of non-KMIP failures, PyKMIP log lines). */
  readonly onStderr?: (stderr: string) => void;
}

function tlsFiles(pki: TestPki | ClientTlsFiles, client: string): ClientTlsFiles {
  if ("caPath" in pki) return pki;
  const pair = pki.clients[client];
  if (pair === undefined) throw new Error(`runPykmipClient: the PKI has no client ${JSON.stringify(client)}`);
  return { caPath: pki.ca.certPath, certPath: pair.certPath, keyPath: pair.keyPath };
}

/**
 * Runs `ops` in order over one PyKMIP client connection (reconnecting after a transport failure)
 * and returns one result per op. A failing op never stops the others: its result is
 * `{ ok: false, error }` (see {@link PykmipOpError}); ops may reference earlier results
 * (`"$0"`, `"$label.field"`, see `ops.ts`).
 *
 * @param target server address.
 * @param pki a {@link TestPki} (client chosen by `options.client`) or explicit TLS files.
 * @param ops the operations.
 * @param options KMIP version, TLS protocol, credentials, timeouts.
 * @returns the results, typed element-wise when `ops` is a literal tuple.
 * @throws Error when PyKMIP is missing, or the Python program crashes, times out or prints no
 *   result (the message includes its stderr).
 */
export async function runPykmipClient<const Ops extends readonly PykmipOp[]>(
  target: PykmipTarget,
  pki: TestPki | ClientTlsFiles,
  ops: Ops,
  options: RunPykmipClientOptions = {},
): Promise<PykmipOpResults<Ops>> {
  ensurePykmip();
  const files = tlsFiles(pki, options.client ?? "alice");
  const request = {
    connection: {
      host: target.host,
      port: target.port,
      cert: files.certPath,
      key: files.keyPath,
      ca: files.caPath,
      sslVersion: options.sslVersion ?? "PROTOCOL_TLS",
      kmipVersion: options.kmipVersion ?? null,
      username: options.username ?? null,
      password: options.password ?? null,
      timeoutSeconds: options.socketTimeoutSeconds ?? 20,
    },
    ops,
  };
  const timeoutMs = options.timeoutMs ?? 60_000;
  const argv = [PYKMIP_BINARIES.python, "-I", "-W", "ignore", "-c", PYKMIP_CLIENT_SCRIPT];
  const { stdout, stderr, status } = await new Promise<{ stdout: string; stderr: string; status: string }>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => {
      err += `\n(killed after ${timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${argv[0]}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout: out, stderr: err, status: signal !== null ? `killed by ${signal}` : `exit ${code ?? "?"}` });
    });
    child.stdin.on("error", () => {
      // The program died before reading stdin; reported through close.
    });
    child.stdin.end(JSON.stringify(request));
  });
  if (stderr.length > 0) options.onStderr?.(stderr);
  const line = stdout.split("\n").find((l) => l.startsWith(PYKMIP_CLIENT_RESULT_MARKER));
  if (line === undefined) {
    throw new Error(`PyKMIP client program produced no result (${status}). stderr:\n${stderr}\nstdout:\n${stdout}`);
  }
  const results: unknown = JSON.parse(line.slice(PYKMIP_CLIENT_RESULT_MARKER.length));
  if (!Array.isArray(results) || results.length !== ops.length) {
    throw new Error(`PyKMIP client program returned a malformed result: ${line}`);
  }
  return results as PykmipOpResults<Ops>;
}
