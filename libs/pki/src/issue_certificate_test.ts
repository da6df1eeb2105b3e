import test, { type ExecutionContext } from "ava";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { createCa, type CertificateAndKey } from "./create_ca.ts";
import { PkiError } from "./errors.ts";
import { issueCertificate, type IssuedCertificate } from "./issue_certificate.ts";

// ---------------------------------------------------------------------------------------------
// helpers

const dir = mkdtempSync(path.join(tmpdir(), "tessera-pki-"));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function writeTemp(name: string, text: string): string {
  const file = path.join(dir, `${fileCounter++}_${name}`);
  writeFileSync(file, text);
  return file;
}

/** Runs openssl; throws (fails the test loudly) if it is not installed. */
function openssl(args: string[]): { status: number | null; output: string } {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  if (result.error) throw new Error(`openssl is required for these tests and could not be run: ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface TlsOutcome {
  /** What the client received (the server writes "hello <client CN>"). */
  readonly received: string;
  /** CN of the client certificate as the server saw it ("" when the handshake failed). */
  readonly serverSawClient: string;
  /** Why OpenSSL did not authorize the client (only reachable with `rejectUnauthorized: false`). */
  readonly authorizationError?: string;
  readonly clientError?: Error;
  readonly serverError?: Error;
}

/** A real mutually authenticated TLS connection over 127.0.0.1. */
async function mutualTls(opts: {
  server: {
    cert: string;
    key: string;
    ca: string[];
    rejectUnauthorized?: boolean;
  };
  client: { cert: string; key: string; ca: string[]; servername?: string };
}): Promise<TlsOutcome> {
  let serverError: Error | undefined;
  let serverSawClient = "";
  let authorizationError: string | undefined;
  const server = tls.createServer(
    {
      cert: opts.server.cert,
      key: opts.server.key,
      ca: opts.server.ca,
      requestCert: true,
      rejectUnauthorized: opts.server.rejectUnauthorized ?? true,
    },
    (socket) => {
      if (!socket.authorized) authorizationError = String(socket.authorizationError);
      const cn = socket.getPeerCertificate().subject?.CN;
      serverSawClient = typeof cn === "string" ? cn : String(cn);
      socket.end(`hello ${serverSawClient}`);
    },
  );
  server.on("tlsClientError", (error) => (serverError = error));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  try {
    const { received, clientError } = await new Promise<{
      received: string;
      clientError?: Error;
    }>((resolve) => {
      let received = "";
      let clientError: Error | undefined;
      const socket = tls.connect({
        host: "127.0.0.1",
        port,
        ca: opts.client.ca,
        cert: opts.client.cert,
        key: opts.client.key,
        ...(opts.client.servername === undefined ? {} : { servername: opts.client.servername }),
      });
      const timer = setTimeout(() => socket.destroy(new Error("TLS test timed out")), 5000);
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (received += chunk));
      socket.on("error", (error) => (clientError = error));
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(clientError === undefined ? { received } : { received, clientError });
      });
    });
    // The server-side error event can trail the client's close by a tick.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return {
      received,
      serverSawClient,
      ...(authorizationError === undefined ? {} : { authorizationError }),
      ...(clientError ? { clientError } : {}),
      ...(serverError ? { serverError } : {}),
    };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

function keyOf(issued: IssuedCertificate): string {
  if (issued.privateKeyPem === undefined) throw new Error("expected a generated private key");
  return issued.privateKeyPem;
}

/** One side of a TLS connection: `issued`'s certificate and key, trusting `ca`. */
function tlsSide(issued: IssuedCertificate, ca: IssuedCertificate): { cert: string; key: string; ca: string[] } {
  return { cert: issued.certificatePem, key: keyOf(issued), ca: [ca.certificatePem] };
}

// One PKI for the file: an RSA CA with an RSA server and an ECDSA client, and a second CA.
interface Pki {
  ca: CertificateAndKey;
  server: IssuedCertificate;
  client: IssuedCertificate;
  otherCa: CertificateAndKey;
  otherClient: IssuedCertificate;
}
let pkiPromise: Promise<Pki> | undefined;
function pki(): Promise<Pki> {
  pkiPromise ??= (async () => {
    const ca = await createCa({
      commonName: "Tessera Test Root",
      organization: "Tessera",
      keyAlgorithm: "rsa-2048",
    });
    const server = await issueCertificate(ca, {
      commonName: "localhost",
      profile: "server",
      dnsNames: ["localhost", "kmip.tessera.test"],
      ipAddresses: ["127.0.0.1", "::1"],
      keyAlgorithm: "rsa-2048",
    });
    const client = await issueCertificate(ca, {
      commonName: "tessera-client",
      profile: "client",
      organization: "Tessera",
    });
    // Same subject name as the real CA: only the signature tells them apart.
    const otherCa = await createCa({
      commonName: "Tessera Test Root",
      organization: "Tessera",
    });
    const otherClient = await issueCertificate(otherCa, {
      commonName: "impostor-client",
      profile: "client",
    });
    return { ca, server, client, otherCa, otherClient };
  })();
  return pkiPromise;
}

// ---------------------------------------------------------------------------------------------
// TLS with node (OpenSSL)

test("mutual TLS on 127.0.0.1 succeeds with server and client certificates from the CA", async (t) => {
  const { ca, server, client } = await pki();
  const outcome = await mutualTls({
    server: tlsSide(server, ca),
    client: tlsSide(client, ca),
  });
  t.is(outcome.clientError, undefined, outcome.clientError?.message);
  t.is(outcome.serverError, undefined, outcome.serverError?.message);
  t.is(outcome.serverSawClient, "tessera-client");
  t.is(outcome.received, "hello tessera-client");
});

test("mutual TLS checks the DNS subjectAltName when connecting by host name", async (t) => {
  const { ca, server, client } = await pki();
  const ok = await mutualTls({
    server: tlsSide(server, ca),
    client: { ...tlsSide(client, ca), servername: "kmip.tessera.test" },
  });
  t.is(ok.received, "hello tessera-client");
  const wrongName = await mutualTls({
    server: tlsSide(server, ca),
    client: { ...tlsSide(client, ca), servername: "other.example" },
  });
  t.regex(wrongName.clientError?.message ?? "", /altnames|does not match/i);
  t.is(wrongName.received, "");
});

// Node reports a rejected client certificate to the server only as a reset socket, so each
// rejection is run twice: with rejectUnauthorized (the handshake must fail) and without it (to
// read OpenSSL's reason and make sure it is the certificate, not something else).
async function rejectedClient(
  t: ExecutionContext,
  server: { cert: string; key: string; ca: string[] },
  client: { cert: string; key: string; ca: string[] },
  reason: RegExp,
): Promise<void> {
  const rejected = await mutualTls({ server, client });
  t.is(rejected.received, "", "no application data may flow");
  t.is(rejected.serverSawClient, "", "the server's connection handler must not run");
  t.truthy(rejected.serverError ?? rejected.clientError, "the handshake must fail");
  const diagnosed = await mutualTls({
    server: { ...server, rejectUnauthorized: false },
    client,
  });
  t.regex(diagnosed.authorizationError ?? "(authorized)", reason);
}

test("mutual TLS fails when the client presents a certificate from another CA with the same name", async (t) => {
  const { ca, server, otherClient } = await pki();
  await rejectedClient(t, tlsSide(server, ca), tlsSide(otherClient, ca), /CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
});

test("mutual TLS fails when the client presents a server-only certificate", async (t) => {
  const { ca, server } = await pki();
  await rejectedClient(t, tlsSide(server, ca), tlsSide(server, ca), /INVALID_PURPOSE/);
});

// ---------------------------------------------------------------------------------------------
// Python's ssl (what PyKMIP uses), with X.509 strict checks as Python 3.13 enables by default

const PYTHON_TLS = String.raw`
import socket, ssl, sys
mode, cafile, certfile, keyfile = sys.argv[1:5]
if mode == "server":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
else:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
ctx.load_verify_locations(cafile)
ctx.load_cert_chain(certfile, keyfile)
if mode == "server":
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(listener.getsockname()[1], flush=True)
        conn, _ = listener.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tconn:
                cn = dict(x[0] for x in tconn.getpeercert()["subject"])["commonName"]
                tconn.sendall(("python saw " + cn).encode())
        except ssl.SSLError as e:
            print("SSLERROR", e, flush=True)
else:
    port = int(sys.argv[5])
    with socket.create_connection(("127.0.0.1", port)) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tconn:
            print(tconn.recv(100).decode(), flush=True)
`;

function runPython(args: string[]): Promise<{
  stdout: string;
  stderr: string;
  code: number | null;
  child: ReturnType<typeof spawn>;
}> {
  const child = spawn("python3", ["-c", PYTHON_TLS, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`python3 is required for this test and could not be run: ${e.message}`)));
    child.on("close", (code) => resolve({ stdout, stderr, code, child }));
  });
}

test("Python ssl (strict) accepts the server certificate and presents the client certificate", async (t) => {
  const { ca, server, client } = await pki();
  const caFile = writeTemp("ca.pem", ca.certificatePem);
  const outcome = await (async () => {
    let seen = "";
    const srv = tls.createServer({ ...tlsSide(server, ca), requestCert: true, rejectUnauthorized: true }, (socket) => {
      seen = String(socket.getPeerCertificate().subject?.CN);
      socket.end(`node saw ${seen}`);
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const address = srv.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const py = await runPython(["client", caFile, writeTemp("client.pem", client.certificatePem), writeTemp("client.key", keyOf(client)), String(port)]);
      return { ...py, seen };
    } finally {
      await new Promise((resolve) => srv.close(resolve));
    }
  })();
  t.is(outcome.code, 0, outcome.stderr);
  t.is(outcome.stdout.trim(), "node saw tessera-client");
});

test("Python ssl (strict) as a server accepts the client certificate", async (t) => {
  const { ca, server, client } = await pki();
  const caFile = writeTemp("ca.pem", ca.certificatePem);
  const child = spawn("python3", ["-c", PYTHON_TLS, "server", caFile, writeTemp("server.pem", server.certificatePem), writeTemp("server.key", keyOf(server))], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  const port = await new Promise<number>((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`python3 is required for this test and could not be run: ${e.message}`)));
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
      const line = stdout.split("\n")[0] ?? "";
      if (stdout.includes("\n")) resolve(Number(line));
    });
    setTimeout(() => reject(new Error(`python server did not start: ${stderr}`)), 5000);
  });
  const received = await new Promise<string>((resolve, reject) => {
    let data = "";
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ...tlsSide(client, ca),
    });
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (data += c));
    socket.on("error", reject);
    socket.on("close", () => resolve(data));
  });
  t.is(await closed, 0, stderr);
  t.is(received, "python saw tessera-client", stdout);
});

// ---------------------------------------------------------------------------------------------
// OpenSSL command line

test("openssl verify accepts the server and client certificates for their purposes", async (t) => {
  const { ca, server, client } = await pki();
  const caFile = writeTemp("ca.pem", ca.certificatePem);
  const serverFile = writeTemp("server.pem", server.certificatePem);
  const clientFile = writeTemp("client.pem", client.certificatePem);
  for (const [file, purpose] of [
    [serverFile, "sslserver"],
    [clientFile, "sslclient"],
  ] as const) {
    const result = openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", caFile, file]);
    t.is(result.status, 0, result.output);
    t.regex(result.output, /: OK/);
  }
  const wrongPurpose = openssl(["verify", "-purpose", "sslserver", "-CAfile", caFile, clientFile]);
  t.not(wrongPurpose.status, 0, "a client-only certificate must not pass as a server certificate");
  const serverHost = openssl(["verify", "-verify_hostname", "kmip.tessera.test", "-verify_ip", "127.0.0.1", "-CAfile", caFile, serverFile]);
  t.is(serverHost.status, 0, serverHost.output);
});

test("openssl x509 -text shows the EKUs, SANs, key usages, key identifiers and serial", async (t) => {
  const { ca, server, client } = await pki();
  const text = openssl(["x509", "-noout", "-text", "-in", writeTemp("server.pem", server.certificatePem)]).output;
  t.regex(text, /X509v3 Extended Key Usage: *\n\s*TLS Web Server Authentication\n/);
  t.regex(text, /DNS:localhost, DNS:kmip\.tessera\.test, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  t.regex(text, /X509v3 Key Usage: critical\n\s*Digital Signature, Key Encipherment\n/);
  t.regex(text, /X509v3 Basic Constraints: critical\n\s*CA:FALSE/);
  t.regex(text, /X509v3 Subject Key Identifier/);
  const caSki = openssl(["x509", "-noout", "-ext", "subjectKeyIdentifier", "-in", writeTemp("ca.pem", ca.certificatePem)])
    .output.split("\n")[1]
    ?.trim();
  t.truthy(caSki);
  t.regex(text, new RegExp(`X509v3 Authority Key Identifier: *\\n\\s*(keyid:)?${caSki}`));
  t.regex(text, /Issuer: O = Tessera, CN = Tessera Test Root/);
  // 16 random bytes, positive: 16 colon-separated octets and no leading 00.
  const serial = /Serial Number:\s*\n\s*([0-9a-f:]+)/.exec(text)?.[1] ?? "";
  t.is(serial.split(":").length, 16, serial);
  t.true(Number.parseInt(serial.slice(0, 2), 16) < 0x80 && serial.slice(0, 2) !== "00", serial);

  const clientText = openssl(["x509", "-noout", "-text", "-in", writeTemp("client.pem", client.certificatePem)]).output;
  t.regex(clientText, /X509v3 Extended Key Usage: *\n\s*TLS Web Client Authentication\n/);
  t.regex(clientText, /X509v3 Key Usage: critical\n\s*Digital Signature\n/, "ECDSA keys get no keyEncipherment");
  t.notRegex(clientText, /Subject Alternative Name/);
});

test("notBefore is 5 minutes in the past and notAfter follows validityDays", async (t) => {
  const { ca } = await pki();
  const before = Math.floor(Date.now() / 1000) * 1000; // certificate times have whole seconds
  const issued = await issueCertificate(ca, {
    commonName: "svc",
    profile: "both",
    validityDays: 30,
  });
  const after = Date.now();
  const { notBefore, notAfter } = issued.certificate;
  const within = (d: Date, offset: number) => d.getTime() >= before + offset && d.getTime() <= after + offset;
  t.true(within(notBefore, -5 * 60_000), notBefore.toISOString());
  t.true(within(notAfter, 30 * 86_400_000), notAfter.toISOString());
  const text = openssl(["x509", "-noout", "-text", "-in", writeTemp("both.pem", issued.certificatePem)]).output;
  t.regex(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  t.regex(text, /DNS:svc/, "a server certificate without SANs gets its commonName as dNSName");
});

// ---------------------------------------------------------------------------------------------
// existing keys, intermediates, errors

test("publicKeyPem certifies an existing key and returns no private key", async (t) => {
  const { ca } = await pki();
  const keys = await globalThis.crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(await globalThis.crypto.subtle.exportKey("spki", keys.publicKey));
  const publicKeyPem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(spki).toString("base64")}\n-----END PUBLIC KEY-----\n`;
  const issued = await issueCertificate(ca, {
    commonName: "tpm-key",
    profile: "client",
    publicKeyPem,
  });
  t.is(issued.privateKeyPem, undefined);
  t.deepEqual(new Uint8Array(issued.certificate.publicKey.rawData), spki);
  const text = openssl(["x509", "-noout", "-text", "-in", writeTemp("tpm.pem", issued.certificatePem)]).output;
  t.regex(text, /Digital Signature, Key Encipherment/);
});

test("an intermediate CA (profile ca) issues certificates that openssl verifies through it", async (t) => {
  const { ca } = await pki();
  const intermediate = await issueCertificate(ca, {
    commonName: "Tessera Issuing CA",
    profile: "ca",
    pathLength: 0,
  });
  const leaf = await issueCertificate(
    {
      certificatePem: intermediate.certificatePem,
      privateKeyPem: keyOf(intermediate),
    },
    {
      commonName: "leaf.tessera.test",
      profile: "server",
      dnsNames: ["leaf.tessera.test"],
    },
  );
  const result = openssl([
    "verify",
    "-x509_strict",
    "-purpose",
    "sslserver",
    "-CAfile",
    writeTemp("root.pem", ca.certificatePem),
    "-untrusted",
    writeTemp("int.pem", intermediate.certificatePem),
    writeTemp("leaf.pem", leaf.certificatePem),
  ]);
  t.is(result.status, 0, result.output);
  const text = openssl(["x509", "-noout", "-text", "-in", writeTemp("int2.pem", intermediate.certificatePem)]).output;
  t.regex(text, /CA:TRUE, pathlen:0/);
  t.regex(text, /Certificate Sign, CRL Sign/);
  t.notRegex(text, /Extended Key Usage/);
});

test("issuing from a non-CA certificate is refused (PKI_PROFILE)", async (t) => {
  const { client } = await pki();
  const error = await t.throwsAsync(
    issueCertificate({ certificatePem: client.certificatePem, privateKeyPem: keyOf(client) }, { commonName: "x", profile: "client" }),
    {
      instanceOf: PkiError,
    },
  );
  t.is(error?.code, "PKI_PROFILE");
  t.regex(error?.message ?? "", /"O=Tessera, CN=tessera-client" is not a CA/);
});

test("a CA key that does not belong to the CA certificate is refused (PKI_KEY)", async (t) => {
  const { ca, otherCa } = await pki();
  const error = await t.throwsAsync(
    issueCertificate(
      {
        certificatePem: ca.certificatePem,
        privateKeyPem: otherCa.privateKeyPem,
      },
      { commonName: "x", profile: "server" },
    ),
    {
      instanceOf: PkiError,
    },
  );
  t.is(error?.code, "PKI_KEY");
  const ecCa = await createCa({ commonName: "EC CA" });
  const other = await createCa({ commonName: "EC CA 2" });
  const mismatch = await t.throwsAsync(
    issueCertificate(
      {
        certificatePem: ecCa.certificatePem,
        privateKeyPem: other.privateKeyPem,
      },
      { commonName: "x", profile: "server" },
    ),
  );
  t.is((mismatch as PkiError).code, "PKI_KEY");
  t.regex(mismatch?.message ?? "", /does not match the public key of "CN=EC CA"/);
});

test("bad options are refused with PKI_PROFILE naming the value", async (t) => {
  const { ca } = await pki();
  const cases: [Parameters<typeof issueCertificate>[1], RegExp][] = [
    [{ commonName: "x", profile: "server", ipAddresses: ["300.1.1.1"] }, /ipAddresses entry "300\.1\.1\.1"/],
    [{ commonName: "x", profile: "server", ipAddresses: ["fe80::1%eth0"] }, /ipAddresses entry "fe80::1%eth0"/],
    [{ commonName: "x", profile: "server", dnsNames: ["bad name"] }, /dnsNames entry "bad name"/],
    [{ commonName: "", profile: "server" }, /Bad commonName ""/],
    [{ commonName: "x", profile: "server", validityDays: 0 }, /Bad validityDays 0/],
    [{ commonName: "x", profile: "client", pathLength: 1 }, /Bad pathLength 1/],
    [
      {
        commonName: "x",
        profile: "server",
        notBefore: new Date(2030, 0, 1),
        notAfter: new Date(2029, 0, 1),
      },
      /notAfter .* is not after notBefore/,
    ],
    [{ commonName: "x", profile: "gateway" as "server" }, /Unknown profile "gateway"/],
  ];
  for (const [options, message] of cases) {
    const error = await t.throwsAsync(issueCertificate(ca, options), { instanceOf: PkiError }, JSON.stringify(options));
    t.is(error?.code, "PKI_PROFILE");
    t.regex(error?.message ?? "", message);
  }
});

test("a PKCS#1 (traditional) RSA CA key is accepted", async (t) => {
  const { ca } = await pki();
  const { createPrivateKey } = await import("node:crypto");
  const pkcs1 = createPrivateKey(ca.privateKeyPem).export({ type: "pkcs1", format: "pem" }).toString();
  t.regex(pkcs1, /BEGIN RSA PRIVATE KEY/);
  const issued = await issueCertificate({ certificatePem: ca.certificatePem, privateKeyPem: pkcs1 }, { commonName: "svc2", profile: "server" });
  t.is(issued.certificate.issuer, ca.certificate.subject);
});
