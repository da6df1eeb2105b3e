/**
 * Certificate path validation against a set of trusted roots.
 *
 * @module
 */
import { parseCertificate } from "./_common.ts";
import { PkiError } from "./errors.ts";
import { x509 } from "./_x509.ts";

/** A certificate as PEM text or DER bytes. */
export type CertificateInput = string | Uint8Array;

/** Options of {@link verifyChain}. */
export interface VerifyChainOptions {
  /** Untrusted certificates that may be needed to reach a root. */
  readonly intermediates?: readonly CertificateInput[];
  /** Trust anchors. A chain ends at the first of these it reaches (they need not be self-signed). */
  readonly roots: readonly CertificateInput[];
  /** Time at which every certificate of the chain must be valid (default: now). */
  readonly at?: Date;
}

/** The result of {@link verifyChain}. */
export interface VerifiedChain {
  /** The path, leaf first, trusted root last. */
  readonly chain: x509.X509Certificate[];
}

/**
 * Builds the path from `leaf` to one of `roots` (with @peculiar's X509ChainBuilder, which
 * links by issuer name, key identifiers and signature) and validates it: every signature
 * against its issuer's key, every issuer a CA (basicConstraints cA, keyCertSign when keyUsage
 * is present, path length constraints), and every certificate, root included, valid at `at`.
 * The root's own signature is not checked: it is trusted by being listed.
 *
 * @example
 * ```ts
 * const { chain } = await verifyChain(ekCertDer, { intermediates: [vendorCaPem], roots: [vendorRootPem] });
 * ```
 * @throws PkiError PKI_PARSE when an input does not parse (names it, e.g. `roots[1]`);
 *   PKI_CHAIN when no path reaches a root, a signature fails, or an issuer is not a CA;
 *   PKI_EXPIRED when a certificate is outside its validity period. Messages and `subject` name
 *   the certificate that failed.
 */
export async function verifyChain(leaf: CertificateInput, options: VerifyChainOptions): Promise<VerifiedChain> {
  const leafCertificate = parseCertificate(leaf, "leaf certificate");
  const roots = options.roots.map((r, i) => parseCertificate(r, `roots[${i}]`));
  const intermediates = (options.intermediates ?? []).map((c, i) => parseCertificate(c, `intermediates[${i}]`));
  const at = options.at ?? new Date();
  if (Number.isNaN(at.getTime())) throw new PkiError("PKI_CHAIN", "Bad `at`: Invalid Date");
  if (roots.length === 0) throw new PkiError("PKI_CHAIN", "No trusted roots given");

  // Roots first, so that where a root and an intermediate share a name and key (cross
  // certificates) the builder takes the root and the path stops there.
  const builder = new x509.X509ChainBuilder({
    certificates: [...roots, ...intermediates],
  });
  let built: x509.X509Certificate[];
  try {
    built = [...(await builder.build(leafCertificate))];
  } catch (cause) {
    throw new PkiError("PKI_CHAIN", `Cannot build a chain for "${leafCertificate.subject}": ${(cause as Error).message}`, {
      cause,
      subject: leafCertificate.subject,
    });
  }
  const anchorIndex = built.findIndex((c) => roots.some((r) => sameCertificate(r, c)));
  if (anchorIndex < 0) throw noPathError(leafCertificate, built);
  const chain = built.slice(0, anchorIndex + 1);

  for (let i = 0; i + 1 < chain.length; i++) {
    const certificate = chain[i] as x509.X509Certificate;
    const issuer = chain[i + 1] as x509.X509Certificate;
    await checkSignature(certificate, issuer);
    checkIssuerIsCa(issuer, certificate, i);
  }
  for (const certificate of chain) checkValidity(certificate, at);
  return { chain };
}

function sameCertificate(a: x509.X509Certificate, b: x509.X509Certificate): boolean {
  const x = new Uint8Array(a.rawData);
  const y = new Uint8Array(b.rawData);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function noPathError(leaf: x509.X509Certificate, built: readonly x509.X509Certificate[]): PkiError {
  const last = built[built.length - 1] ?? leaf;
  const path = built.map((c) => `"${c.subject}"`).join(" <- ");
  const reason =
    last.subject === last.issuer
      ? `it ends at the self-signed "${last.subject}", which is not a trusted root`
      : `no trusted root or intermediate named "${last.issuer}" (with a matching key identifier and signature) issued "${last.subject}"`;
  return new PkiError("PKI_CHAIN", `No path from "${leaf.subject}" to a trusted root: ${reason} (path: ${path})`, { subject: last.subject });
}

async function checkSignature(certificate: x509.X509Certificate, issuer: x509.X509Certificate): Promise<void> {
  let ok = false;
  let cause: unknown;
  try {
    const algorithm = {
      ...issuer.publicKey.algorithm,
      ...certificate.signatureAlgorithm,
    };
    const publicKey = await issuer.publicKey.export(algorithm, ["verify"]);
    ok = await certificate.verify({ publicKey, signatureOnly: true });
  } catch (error) {
    cause = error;
  }
  if (!ok) {
    throw new PkiError("PKI_CHAIN", `Signature of "${certificate.subject}" does not verify with the key of "${issuer.subject}"`, {
      cause,
      subject: certificate.subject,
    });
  }
}

function checkIssuerIsCa(issuer: x509.X509Certificate, certificate: x509.X509Certificate, intermediatesBelow: number): void {
  const subject = issuer.subject;
  const basic = issuer.getExtension(x509.BasicConstraintsExtension);
  if (basic === null || !basic.ca) {
    const state = basic === null ? "has no basicConstraints" : "has basicConstraints cA=false";
    throw new PkiError("PKI_CHAIN", `"${subject}" signed "${certificate.subject}" but is not a CA: it ${state}`, { subject });
  }
  const usage = issuer.getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new PkiError("PKI_CHAIN", `"${subject}" signed "${certificate.subject}" but its keyUsage lacks keyCertSign`, { subject });
  }
  if (basic.pathLength !== undefined && intermediatesBelow > basic.pathLength) {
    throw new PkiError("PKI_CHAIN", `"${subject}" allows ${basic.pathLength} intermediate CA(s) below it, the chain has ${intermediatesBelow}`, { subject });
  }
}

function checkValidity(certificate: x509.X509Certificate, at: Date): void {
  const subject = certificate.subject;
  if (at.getTime() < certificate.notBefore.getTime()) {
    throw new PkiError("PKI_EXPIRED", `Certificate "${subject}" is not yet valid at ${at.toISOString()}: notBefore is ${certificate.notBefore.toISOString()}`, {
      subject,
    });
  }
  if (at.getTime() > certificate.notAfter.getTime()) {
    throw new PkiError("PKI_EXPIRED", `Certificate "${subject}" expired: notAfter ${certificate.notAfter.toISOString()} is before ${at.toISOString()}`, {
      subject,
    });
  }
}
