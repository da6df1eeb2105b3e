/**
 * X.509 certificates inside EFI signature lists and authority events (private): how long a DER
 * element is, and a certificate's subject. Decoded with @peculiar/asn1-schema/asn1-x509 and
 * named with formatName from @tessera/pki/names, as pki names every certificate (that entry
 * loads only the ASN.1 packages, not @peculiar/x509). A hostile log's bytes can be anything:
 * every failure here is `undefined`, never a throw.
 * @module
 */
import { AsnConvert, type IAsnConvertible } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { formatName } from "@tessera/pki/names";
import { ContentCache } from "./content_cache.ts";

/**
 * The certificates a log holds (db entries, the authorities that verified each image) are the same on every host
 * of an image, and an ASN.1 decode of one costs hundreds of microseconds: both answers are kept by content.
 */
const CACHE_SIZE = 512;
const sizes = new ContentCache<number | undefined>(CACHE_SIZE);
const subjects = new ContentCache<string | undefined>(CACHE_SIZE);

/** The caches, for tests. */
export const _caches = { sizes, subjects, max: CACHE_SIZE };

/** The first BER element of the input, as asn1-schema reads it: only its length is kept. */
class DerElement implements IAsnConvertible {
  size = 0;

  fromASN(asn: { valueBeforeDecodeView: Uint8Array }): this {
    this.size = asn.valueBeforeDecodeView.byteLength;
    return this;
  }

  toASN(): never {
    throw new TypeError("DerElement is read-only");
  }

  toSchema(): never {
    throw new TypeError("DerElement is read-only");
  }
}

/** The total size of the DER element at the start of `b` (tag, length and content), or undefined. */
export function derSize(b: Uint8Array): number | undefined {
  return sizes.get(b, () => {
    try {
      return AsnConvert.parse(b, DerElement).size;
    } catch {
      return undefined;
    }
  });
}

/**
 * The subject of a DER certificate as `C=US, O=Microsoft Corporation, CN=…` (attributes in certificate order,
 * values escaped as RFC 4514 says), or undefined when the bytes are not a certificate.
 */
export function certificateSubject(der: Uint8Array): string | undefined {
  return subjects.get(der, () => {
    try {
      return formatName(AsnConvert.parse(der, Certificate).tbsCertificate.subject);
    } catch {
      return undefined;
    }
  });
}
