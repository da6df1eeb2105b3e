/**
 * Revocation by CRLs (RFC 5280 5), the small part Tessera needs: is a certificate listed by a CRL that its
 * issuer signed? Built on @peculiar/x509's X509Crl (@tessera/pki has no CRL support).
 * @module
 */
import { x509 } from "./_x509.ts";

/** A CRL of the trust configuration, parsed once per check. */
export interface ParsedCrl {
  /** Where it came from, e.g. `trust.crls[2]`. */
  readonly where: string;
  readonly crl: x509.X509Crl;
}

/** Parses `trust.crls`; the first one that does not decode is returned as an error text naming it. */
export function parseCrls(crls: readonly Uint8Array[]): ParsedCrl[] | string {
  const parsed: ParsedCrl[] = [];
  for (const [i, bytes] of crls.entries()) {
    try {
      parsed.push({ where: `trust.crls[${i}]`, crl: new x509.X509Crl(bytes.slice()) });
    } catch (cause) {
      return `trust.crls[${i}] is not a CRL: ${(cause as Error).message}`;
    }
  }
  return parsed;
}

/**
 * The CRL that revokes `certificate`, if any. A CRL counts only when it names the issuer and its signature
 * verifies with the issuer's key (and the issuer's keyUsage, when present, allows cRLSign): a CRL of another CA
 * that happens to bear the same name, or a forged one, says nothing about this certificate and is ignored.
 * Stale CRLs (nextUpdate passed) still count: a revocation is permanent.
 */
export async function revokedBy(
  certificate: x509.X509Certificate,
  issuer: x509.X509Certificate,
  crls: readonly ParsedCrl[],
): Promise<{ where: string; date: Date } | undefined> {
  const usage = issuer.getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.cRLSign) === 0) return undefined;
  for (const { where, crl } of crls) {
    if (crl.issuer !== issuer.subject) continue;
    const entry = crl.findRevoked(certificate);
    if (entry === null) continue;
    let authentic = false;
    try {
      authentic = await crl.verify({ publicKey: issuer });
    } catch {
      authentic = false;
    }
    if (authentic) return { where, date: entry.revocationDate };
  }
  return undefined;
}
