/**
 * TPM manufacturer CA bundles as administrators import them: one PEM, several PEMs in one text (with or
 * without an `openssl x509 -text` dump around them, as some vendors publish them), or one DER certificate.
 * @module
 */
import { X509Certificate as NodeX509 } from "node:crypto";
import { parseEkCertificate } from "@tessera/pki";
import { EkTrustError } from "./errors.ts";
import { looksLikePem, x509 } from "./_x509.ts";

/** One CA certificate of a bundle. */
export interface CaCertificate {
  /** The certificate's DER. */
  readonly certificate: Uint8Array;
  /** Subject DN as @tessera/pki's formatName writes it, e.g. `C=DE, O=Infineon Technologies AG, …`. */
  readonly subject: string;
  /** Issuer DN, same form. */
  readonly issuer: string;
  /** Start of validity. */
  readonly notBefore: Date;
  /** End of validity. */
  readonly notAfter: Date;
  /**
   * True for a self-signed certificate (issuer equals subject and its signature verifies with its own key).
   * Cross-signed vendor roots (IFX_RSA_RT, signed by a VeriSign root; STM's roots, signed by GlobalSign) are
   * not: they are intermediates that may still be trusted directly.
   */
  readonly isRoot: boolean;
}

/**
 * Reads every certificate of a CA bundle. Text (or bytes holding PEM text) gives one entry per
 * `CERTIFICATE` block, in order, ignoring other blocks and the text around them; other bytes are read as
 * one DER certificate. Every certificate must be a CA (basicConstraints cA) and must parse both with the
 * lenient EK-certificate reader and with the chain builder {@link checkEk} uses, so that a bundle that
 * loads is a bundle that can be trusted.
 *
 * @example
 * ```ts
 * for (const ca of parseCaBundle(await readFile("IFX_RSA_034.pem", "utf8"))) console.log(ca.subject, ca.isRoot);
 * ```
 * @throws EkTrustError EK_TRUST_PARSE naming the certificate (its position and PEM block) that does not decode,
 *   or when there is no certificate at all; EK_TRUST_NOT_CA naming a certificate that is not a CA.
 */
export function parseCaBundle(input: string | Uint8Array): CaCertificate[] {
  const ders = certificateDers(input);
  return ders.map(({ der, where }) => readCa(der, where));
}

function certificateDers(input: string | Uint8Array): { der: Uint8Array; where: string }[] {
  if (typeof input !== "string" && !looksLikePem(input)) {
    if (input.length === 0) throw new EkTrustError("EK_TRUST_PARSE", "Cannot read the CA bundle: it is empty");
    return [{ der: input, where: "the DER certificate" }];
  }
  const text = typeof input === "string" ? input : new TextDecoder("latin1").decode(input);
  let blocks: { type: string; rawData: ArrayBuffer }[];
  try {
    blocks = x509.PemConverter.decodeWithHeaders(text);
  } catch (cause) {
    throw new EkTrustError("EK_TRUST_PARSE", `Cannot read the CA bundle's PEM: ${(cause as Error).message}`, { cause });
  }
  const found = blocks.flatMap((b, i) => (b.type === "CERTIFICATE" ? [{ der: new Uint8Array(b.rawData), block: i }] : []));
  if (found.length === 0) {
    const labels = blocks.map((b) => b.type).join(", ");
    throw new EkTrustError("EK_TRUST_PARSE", `Cannot read the CA bundle: no PEM block labelled "CERTIFICATE"${labels ? ` (found ${labels})` : ""}`);
  }
  return found.map(({ der, block }, i) => ({ der, where: `certificate ${i + 1} (PEM block ${block + 1})` }));
}

function readCa(der: Uint8Array, where: string): CaCertificate {
  let parsed: ReturnType<typeof parseEkCertificate>;
  try {
    parsed = parseEkCertificate(der);
  } catch (cause) {
    throw new EkTrustError("EK_TRUST_PARSE", `Cannot parse ${where} of the CA bundle: ${(cause as Error).message}`, { cause });
  }
  try {
    new x509.X509Certificate(der.slice());
  } catch (cause) {
    throw new EkTrustError("EK_TRUST_PARSE", `Cannot use ${where} of the CA bundle ("${parsed.subject}") in a chain: ${(cause as Error).message}`, { cause });
  }
  if (!parsed.isCa) {
    throw new EkTrustError("EK_TRUST_NOT_CA", `${where} of the CA bundle ("${parsed.subject}") is not a CA: it has no basicConstraints cA`);
  }
  return {
    certificate: der.slice(),
    subject: parsed.subject,
    issuer: parsed.issuer,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    isRoot: parsed.subject === parsed.issuer && selfSigned(der),
  };
}

/** Whether the certificate's signature verifies with its own key (OpenSSL's reading; false when it cannot tell). */
function selfSigned(der: Uint8Array): boolean {
  try {
    const certificate = new NodeX509(der);
    return certificate.verify(certificate.publicKey);
  } catch {
    return false;
  }
}
