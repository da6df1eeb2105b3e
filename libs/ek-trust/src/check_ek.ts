/**
 * Whether attestd may trust a host's endorsement key: by its manufacturer's certificate chain, by a pinned
 * EK certificate, or by a pinned bare EK public key (issue #10, "TPM trust").
 * @module
 */
import type { KeyObject } from "node:crypto";
import { parseEkCertificate, PkiError, TCG_OID, verifyChain, type EkCertificate } from "@tessera/pki";
import { hash, keyMaterial, marshal, publicKeyOf, samePublicKey, toHex, TPM2B_PUBLIC, TPM_ALG, unmarshalPublic, type TpmtPublic } from "@tessera/tpm2";
import { ekFingerprint } from "./ek_fingerprint.ts";
import { ekPublicFromCertificateKey, spkiKey } from "./_ek_public.ts";
import { parseCrls, revokedBy } from "./_crl.ts";
import { looksLikePem, sameBytes, trimDer, x509 } from "./_x509.ts";

/** What a host presents: its EK certificate (DER, as read from NV, or PEM) and/or its EK public area. */
export interface EkPresented {
  /** The host's name, used in every refusal's detail. */
  readonly host: string;
  /** The EK certificate: DER (trailing NV padding allowed) or PEM text as bytes. */
  readonly ekCertificate?: Uint8Array;
  /** The EK public area: TPM2B_PUBLIC (`tpm2_createek -u`) or TPMT_PUBLIC bytes. */
  readonly ekPublic?: Uint8Array;
}

/** The trust configuration for one host: the cluster's CAs, CRLs and mode, and this host's pin if it has one. */
export interface EkTrust {
  /** "ca": certificates must chain to `cas`; "pin": they must also be the host's pinned certificate. */
  readonly mode: "ca" | "pin";
  /** Trusted CA certificates (DER), roots or intermediates: each one is a trust anchor. */
  readonly cas: readonly Uint8Array[];
  /** CRLs (DER or PEM bytes) of those CAs. */
  readonly crls: readonly Uint8Array[];
  /** This host's pin: its EK certificate (DER) and/or a bare EK public area (TPM2B_PUBLIC or TPMT_PUBLIC). */
  readonly pin?: { readonly certificate?: Uint8Array; readonly ekPublic?: Uint8Array };
}

/** How a trusted EK was trusted. */
export type EkTrustedVia = "ca" | "pinned-certificate" | "pinned-key";

/** A trusted EK. */
export interface EkTrusted {
  readonly ok: true;
  /** The EK public area to make credentials to. */
  readonly ekPublic: TpmtPublic;
  /** The same as TPM2B_PUBLIC bytes. */
  readonly ekPublicBytes: Uint8Array;
  /** {@link ekFingerprint} of the EK. */
  readonly fingerprint: string;
  /** What made it trusted. */
  readonly via: EkTrustedVia;
  /** Subjects of the certificate chain, EK certificate first, trust anchor last (absent for a pinned key). */
  readonly chain?: string[];
  /**
   * Lowercase hex SHA-256 of the trust anchor's certificate DER: the CA of `cas` the chain ended at (absent for a
   * pinned key). kmxd places hosts in trusted clusters by it (`tessera.ekCa` of the token).
   */
  readonly anchorFingerprint?: string;
}

/** A refused EK: `code` for machines (stable), `reason` the kind of refusal, `detail` for people. */
export type EkRefused = { readonly ok: false; readonly detail: string } & (
  | { readonly code: "ek-untrusted"; readonly reason: "expired" | "revoked" | "wrong-usage" | "unknown-issuer" }
  | { readonly code: "ek-not-pinned"; readonly reason: "not-pinned" }
  | { readonly code: "ek-mismatch"; readonly reason: "mismatch" }
  | { readonly code: "ek-malformed"; readonly reason: "malformed" }
);

/** The answer of {@link checkEk}. */
export type EkVerdict = EkTrusted | EkRefused;

const untrusted = (reason: "expired" | "revoked" | "wrong-usage" | "unknown-issuer", detail: string): EkRefused => ({
  ok: false,
  code: "ek-untrusted",
  reason,
  detail,
});
const notPinned = (detail: string): EkRefused => ({ ok: false, code: "ek-not-pinned", reason: "not-pinned", detail });
const malformed = (detail: string): EkRefused => ({ ok: false, code: "ek-malformed", reason: "malformed", detail });

/**
 * Decides whether a host's EK is trusted. Never throws: every input, however broken, gets a verdict.
 *
 * The rules, in the order they are applied (the first that fails is the answer):
 * 1. Something must be sent, and what is sent must decode: `ekPublic` as a TPM public area holding a usable RSA
 *    or ECC key, `ekCertificate` as an X.509 certificate (→ `ek-malformed`, detail naming the field).
 * 2. Both sent: they must hold the same key (→ `ek-mismatch`). Only the certificate: the EK public area is the TCG
 *    default low-range EK template (RSA 2048 L-1 / ECC P-256 L-2) with the certificate's key; other keys need
 *    `ekPublic` (→ `ek-malformed`).
 * 3. Pins narrow, in both modes. A pinned EK key: the host's EK must be that key (another key →
 *    `ek-not-pinned`); when no certificate is pinned beside it (a bare key, for TPMs without certificates) it is
 *    trusted by the pin alone, certificate sent or not (`via: "pinned-key"`, the pinned public area is returned). A pinned certificate: the host's certificate must be byte for byte that one
 *    (→ `ek-not-pinned`), and it is then still checked against the CAs below (`via: "pinned-certificate"`).
 *    No certificate and no pinned key → `ek-not-pinned`. Mode "pin" and no pinned certificate → `ek-not-pinned`.
 * 4. The certificate must chain to one of `cas` (→ `ek-untrusted`/`unknown-issuer`). Every CA in `cas` is a
 *    trust anchor, roots and intermediates alike: an intermediate alone trusts what it issued, and with a root
 *    and its intermediate both listed the chain stops at the intermediate. Signatures, issuers being CAs and
 *    path lengths are checked by @tessera/pki's verifyChain.
 * 5. Every certificate of the chain up to the anchor must be valid at `now` (→ `expired`, also for "not yet valid").
 * 6. No certificate of the chain below the anchor may be listed by a CRL that its issuer signed (→ `revoked`).
 *    CRLs whose signature does not verify with the issuer's key are ignored (they are not the issuer's word);
 *    a CRL that does not decode at all fails closed (→ `ek-malformed` naming `trust.crls[i]`).
 * 7. EK usage, per the TCG EK Credential Profile (→ `wrong-usage`): not a CA (basicConstraints cA); keyUsage
 *    present, with keyEncipherment for an RSA EK or keyAgreement for an ECC EK (the EK is a decryption key:
 *    RSA-OAEP or ECDH), and neither keyCertSign nor cRLSign; extendedKeyUsage, when present, must contain
 *    tcg-kp-EKCertificate (2.23.133.8.1). A missing extendedKeyUsage is accepted: real EK certificates (e.g.
 *    Google's vTPM) omit it. Other keyUsage bits (digitalSignature) next to the required one are tolerated.
 *
 * @param presented what the host sent
 * @param trust the cluster's CAs, CRLs and mode, with this host's pin
 * @param now the time certificates must be valid at
 * @example
 * ```ts
 * const v = await checkEk({ host: "web-1", ekCertificate: der }, { mode: "ca", cas: [vendorCa], crls: [] }, new Date());
 * if (!v.ok) throw new ProblemError(v.code, 403, v.detail);
 * const { credentialBlob, secret } = makeCredential(v.ekPublic, akName, challenge);
 * ```
 */
export async function checkEk(presented: EkPresented, trust: EkTrust, now: Date): Promise<EkVerdict> {
  try {
    return await check(presented, trust, now);
  } catch (cause) {
    // Every expected failure is answered above; this keeps the promise of a verdict for the unexpected.
    return malformed(`the EK of host ${String(presented?.host)} could not be checked: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

async function check(presented: EkPresented, trust: EkTrust, now: Date): Promise<EkVerdict> {
  const host = presented.host;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) return malformed("now is not a valid Date");
  if (presented.ekCertificate === undefined && presented.ekPublic === undefined) {
    return malformed(`host ${host} sent neither ekCertificate nor ekPublic`);
  }

  // 1. Decode what was sent.
  let sentPublic: TpmtPublic | undefined;
  if (presented.ekPublic !== undefined) {
    const r = readPublic(presented.ekPublic, "ekPublic");
    if (typeof r === "string") return malformed(`host ${host}: ${r}`);
    sentPublic = r;
  }
  let certificate: { der: Uint8Array; parsed: EkCertificate; key: KeyObject } | undefined;
  if (presented.ekCertificate !== undefined) {
    const r = readCertificate(presented.ekCertificate);
    if (typeof r === "string") return malformed(`host ${host}: ${r}`);
    certificate = r;
  }

  // 2. One key.
  let ekPublic: TpmtPublic;
  if (certificate !== undefined && sentPublic !== undefined) {
    if (!samePublicKey(sentPublic, certificate.key)) {
      return {
        ok: false,
        code: "ek-mismatch",
        reason: "mismatch",
        detail: `host ${host}: ekPublic (${ekFingerprint(sentPublic)}) is not the key of its EK certificate (${fingerprintOfKey(certificate.key)})`,
      };
    }
    ekPublic = sentPublic;
  } else if (certificate !== undefined) {
    try {
      ekPublic = ekPublicFromCertificateKey(certificate.key);
    } catch (cause) {
      return malformed(`host ${host}: ekCertificate: ${(cause as Error).message}`);
    }
  } else {
    ekPublic = sentPublic as TpmtPublic;
  }
  const fingerprint = ekFingerprint(ekPublic);

  // 3. Pins.
  const pin = trust.pin;
  if (pin?.ekPublic !== undefined) {
    const pinned = readPublic(pin.ekPublic, "trust.pin.ekPublic");
    if (typeof pinned === "string") return malformed(`host ${host}: ${pinned}`);
    if (!samePublicKey(pinned, publicKeyOf(ekPublic))) {
      return notPinned(`host ${host}: its EK (${fingerprint}) is not the EK key pinned for it (${ekFingerprint(pinned)})`);
    }
    // A bare key pin (no certificate pinned) is the whole trust; with a pinned certificate the checks go on.
    if (pin.certificate === undefined) return trusted(pinned, "pinned-key", undefined);
  }
  if (certificate === undefined) {
    return notPinned(`host ${host} sent no EK certificate and has no pinned EK key (EK ${fingerprint})`);
  }
  if (pin?.certificate !== undefined) {
    if (!sameBytes(trimDer(pin.certificate), certificate.der)) {
      return notPinned(`host ${host}: its EK certificate (EK ${fingerprint}) is not the certificate pinned for it`);
    }
  } else if (trust.mode === "pin") {
    return notPinned(`host ${host}: EK trust mode is "pin" and no EK certificate is pinned for it (EK ${fingerprint})`);
  }

  // 4, 5. Chain and validity.
  let chain: x509.X509Certificate[];
  try {
    chain = (await verifyChain(certificate.der, { roots: trust.cas, at: now })).chain;
  } catch (cause) {
    if (!(cause instanceof PkiError)) throw cause;
    if (cause.code === "PKI_EXPIRED") return untrusted("expired", `host ${host}: ${cause.message}`);
    if (cause.code === "PKI_PARSE") return malformed(`host ${host}: ${cause.message.replace(/\broots\[(\d+)\]/, "trust.cas[$1]")}`);
    return untrusted("unknown-issuer", `host ${host}: ${cause.message}`);
  }

  // 6. Revocation.
  const crls = parseCrls(trust.crls);
  if (typeof crls === "string") return malformed(crls);
  for (let i = 0; i + 1 < chain.length; i++) {
    const subject = chain[i] as x509.X509Certificate;
    const revoked = await revokedBy(subject, chain[i + 1] as x509.X509Certificate, crls);
    if (revoked !== undefined) {
      const what = i === 0 ? "its EK certificate" : `the CA "${subject.subject}" of its EK certificate`;
      return untrusted(
        "revoked",
        `host ${host}: ${what} (serial ${subject.serialNumber}) was revoked on ${revoked.date.toISOString()} by the CRL of "${subject.issuer}" (${revoked.where})`,
      );
    }
  }

  // 7. Usage.
  const usage = wrongUsage(certificate.parsed, ekPublic);
  if (usage !== undefined) return untrusted("wrong-usage", `host ${host}: its EK certificate ${usage}`);

  const anchor = chain[chain.length - 1] as x509.X509Certificate;
  return trusted(ekPublic, pin?.certificate !== undefined ? "pinned-certificate" : "ca", {
    chain: chain.map((c) => c.subject),
    anchorFingerprint: await sha256Hex(anchor.rawData),
  });
}

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  return Buffer.from(await crypto.subtle.digest("SHA-256", bytes)).toString("hex");
}

function trusted(ekPublic: TpmtPublic, via: EkTrustedVia, from?: { chain: string[]; anchorFingerprint: string }): EkTrusted {
  return {
    ok: true,
    ekPublic,
    ekPublicBytes: marshal(TPM2B_PUBLIC, ekPublic),
    fingerprint: ekFingerprint(ekPublic),
    via,
    ...(from === undefined ? {} : from),
  };
}

/** The public area, or a text naming `field` and what is wrong. */
function readPublic(bytes: Uint8Array, field: string): TpmtPublic | string {
  let pub: TpmtPublic;
  try {
    pub = unmarshalPublic(bytes);
  } catch (cause) {
    return `${field} is not a TPM public area: ${(cause as Error).message}`;
  }
  if (pub.type !== TPM_ALG.RSA && pub.type !== TPM_ALG.ECC) return `${field} is not an RSA or ECC key (type 0x${pub.type.toString(16).padStart(4, "0")})`;
  try {
    publicKeyOf(pub);
    ekFingerprint(pub);
  } catch (cause) {
    return `${field} holds no usable key: ${(cause as Error).message}`;
  }
  return pub;
}

/** The certificate's DER (padding trimmed), what pki reads from it, and its key; or a text naming what fails. */
function readCertificate(bytes: Uint8Array): { der: Uint8Array; parsed: EkCertificate; key: KeyObject } | string {
  let der: Uint8Array;
  if (looksLikePem(bytes)) {
    const text = new TextDecoder("latin1").decode(bytes);
    let block: { type: string; rawData: ArrayBuffer } | undefined;
    try {
      block = x509.PemConverter.decodeWithHeaders(text).find((b) => b.type === "CERTIFICATE");
    } catch (cause) {
      return `ekCertificate is not PEM: ${(cause as Error).message}`;
    }
    if (block === undefined) return `ekCertificate has no PEM block labelled "CERTIFICATE"`;
    der = new Uint8Array(block.rawData);
  } else {
    der = trimDer(bytes).slice();
  }
  let parsed: EkCertificate;
  try {
    parsed = parseEkCertificate(der);
  } catch (cause) {
    return `ekCertificate is not an X.509 certificate: ${(cause as Error).message}`;
  }
  let key: KeyObject;
  try {
    key = spkiKey(parsed.publicKeyDer);
    keyMaterial(key); // RSA, or an ECC curve the TPM code knows
  } catch (cause) {
    return `ekCertificate's subjectPublicKeyInfo is not a usable RSA or ECC key: ${(cause as Error).message}`;
  }
  return { der, parsed, key };
}

/** Like {@link ekFingerprint}, for a certificate's key: the hex SHA-256 of its SubjectPublicKeyInfo DER. */
function fingerprintOfKey(key: KeyObject): string {
  return toHex(hash(TPM_ALG.SHA256, new Uint8Array(key.export({ type: "spki", format: "der" }))));
}

/** Why the certificate is not an EK certificate by its usage, or undefined. See rule 7 of {@link checkEk}. */
function wrongUsage(ek: EkCertificate, ekPublic: TpmtPublic): string | undefined {
  if (ek.isCa) return "is a CA certificate (basicConstraints cA), not an EK certificate";
  const bits = ek.keyUsage;
  if (bits.length === 0) return "has no keyUsage (the TCG EK Credential Profile requires keyEncipherment for RSA, keyAgreement for ECC)";
  const needed = ekPublic.type === TPM_ALG.RSA ? "keyEncipherment" : "keyAgreement";
  if (!bits.includes(needed)) return `has keyUsage ${bits.join(", ")} without ${needed}, which an ${ekPublic.type === TPM_ALG.RSA ? "RSA" : "ECC"} EK needs`;
  const ca = bits.filter((b) => b === "keyCertSign" || b === "cRLSign");
  if (ca.length > 0) return `has keyUsage ${ca.join(", ")}, which belongs to a CA, not an EK`;
  if (ek.extendedKeyUsage.length > 0 && !ek.extendedKeyUsage.includes(TCG_OID.ekCertificate)) {
    return `has extendedKeyUsage ${ek.extendedKeyUsage.join(", ")} without tcg-kp-EKCertificate (${TCG_OID.ekCertificate})`;
  }
  return undefined;
}
