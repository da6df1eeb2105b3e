/**
 * The connection test of a trust set-up: before kmxd has a client certificate, it can still check that each key
 * server is reachable and that its TLS certificate chains to the CA the administrator imported (the handshake
 * reaches the server's certificate before the server asks for kmxd's). With TLS 1.3 (kmipd) the client side of the
 * handshake completes and Node verifies the chain; with TLS 1.2 (PyKMIP) the server ends the handshake for want of
 * a client certificate first, so the certificate it sent is verified here against the CA.
 * @module
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { connect, type DetailedPeerCertificate, type TLSSocket } from "node:tls";
import { parseKmipServer } from "@tessera/key-provider";

/** What the connection test found for one key server. */
export interface ServerCheck {
  /** `host:port` as given. */
  readonly server: string;
  /** `trusted`: its certificate chains to the CA; `untrusted`: it does not; `unreachable`: no TLS handshake. */
  readonly status: "trusted" | "untrusted" | "unreachable";
  readonly detail?: string;
}

/** OpenSSL/Node verification failures: the server answered, with a certificate the CA does not vouch for. */
const VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "INVALID_CA",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The PEM certificates of a bundle. */
function caCertificates(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)) {
    try {
      out.push(new X509Certificate(m[0]));
    } catch {
      // not a certificate: skipped (the schema already required one)
    }
  }
  return out;
}

/** The chain the server sent, leaf first (as received, even when the handshake then failed). */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  while (c?.raw !== undefined && chain.length < 10) {
    chain.push(new X509Certificate(c.raw));
    if (c.issuerCertificate === undefined || c.issuerCertificate === c || c.issuerCertificate.raw?.equals(c.raw)) break;
    c = c.issuerCertificate;
  }
  return chain;
}

/** Why `chain` does not chain to one of `cas` for `host` at `now`, or undefined when it does. */
function chainProblem(chain: readonly X509Certificate[], cas: readonly X509Certificate[], host: string, now: Date): string | undefined {
  const leaf = chain[0];
  if (leaf === undefined) return "it sent no certificate";
  const names = isIP(host) === 0 ? leaf.checkHost(host) : leaf.checkIP(host);
  if (names === undefined) return `its certificate (${leaf.subject.replace(/\n/g, ", ")}) does not name ${host}`;
  for (const [i, cert] of chain.entries()) {
    if (new Date(cert.validFrom) > now || new Date(cert.validTo) < now) return `certificate ${cert.subject.replace(/\n/g, ", ")} is not valid now`;
    if (cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return undefined;
    const next = chain[i + 1];
    if (next === undefined || !(cert.checkIssued(next) && cert.verify(next.publicKey))) break;
  }
  return `its certificate (${leaf.subject.replace(/\n/g, ", ")}, issuer ${leaf.issuer.replace(/\n/g, ", ")}) does not chain to serverCa`;
}

/**
 * Checks one key server's TLS certificate against `ca` (PEM), within `timeoutMs` (default 3000).
 * @example await checkServerTls("kms-1:5696", caPem) // { server: "kms-1:5696", status: "trusted" }
 */
export function checkServerTls(server: string, ca: string, timeoutMs = 3000): Promise<ServerCheck> {
  const { host, port } = parseKmipServer(server);
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ServerCheck): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(r);
    };
    const socket = connect({ host, port, ca, ...(isIP(host) === 0 ? { servername: host } : {}), minVersion: "TLSv1.2", timeout: timeoutMs });
    socket.once("secureConnect", () => {
      // authorized is true here unless rejectUnauthorized were off; kept explicit.
      done(socket.authorized ? { server, status: "trusted" } : { server, status: "untrusted", detail: String(socket.authorizationError) });
    });
    socket.once("timeout", () => done({ server, status: "unreachable", detail: `no TLS handshake within ${timeoutMs} ms` }));
    socket.once("error", (e: Error & { code?: string }) => {
      if (e.code !== undefined && VERIFY_CODES.has(e.code)) {
        done({ server, status: "untrusted", detail: `its certificate does not chain to serverCa: ${e.message}` });
        return;
      }
      // TLS 1.2: the server sent its certificate, then ended the handshake (kmxd had no client certificate yet).
      let chain: X509Certificate[] = [];
      try {
        chain = peerChain(socket);
      } catch {
        // an unreadable certificate is treated as none
      }
      if (chain.length === 0) {
        done({ server, status: "unreachable", detail: e.message });
        return;
      }
      const why = chainProblem(chain, caCertificates(ca), host, new Date());
      done(why === undefined ? { server, status: "trusted" } : { server, status: "untrusted", detail: why });
    });
  });
}
