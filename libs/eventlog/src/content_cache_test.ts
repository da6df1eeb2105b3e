import test from "ava";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { formatName } from "@tessera/pki/names";
import { _caches, certificateSubject, derSize } from "./_certificate.ts";
import { ContentCache, contentKey } from "./_content_cache.ts";
import { fixture } from "./_fixtures_test.ts";
import { decodeEvent } from "./decode_event.ts";
import { parseEventLog } from "./parse_event_log.ts";

/** The first DER element's size, as _certificate.ts reads it without a cache. */
class Any {
  size = 0;
  fromASN(asn: { valueBeforeDecodeView: Uint8Array }): this {
    this.size = asn.valueBeforeDecodeView.byteLength;
    return this;
  }
  toASN(): never {
    throw new TypeError("read-only");
  }
  toSchema(): never {
    throw new TypeError("read-only");
  }
}

test("a content cache computes once per content: repeated and equal inputs hit, different inputs get their own result", (t) => {
  const cache = new ContentCache<string>(8);
  let computed = 0;
  const f = (b: Uint8Array) =>
    cache.get(b, () => {
      computed++;
      return Buffer.from(b).toString("hex");
    });
  const a = new Uint8Array([1, 2, 3]);
  t.is(f(a), "010203");
  t.is(f(a), "010203");
  t.is(f(new Uint8Array([1, 2, 3])), "010203", "another array with the same bytes");
  t.is(computed, 1);
  t.is(f(new Uint8Array([1, 2, 4])), "010204");
  t.is(f(new Uint8Array([1, 2, 3, 0])), "01020300", "a longer input with the same prefix");
  t.is(f(new Uint8Array([1, 2, 3]).subarray(1)), "0203", "a view is keyed by its own bytes");
  t.is(computed, 4);
  t.not(contentKey(new Uint8Array(0)), contentKey(new Uint8Array(1)));
});

test("a content cache keeps undefined results and stays within its size, the oldest entry going first", (t) => {
  const cache = new ContentCache<number | undefined>(4);
  let computed = 0;
  const f = (n: number) =>
    cache.get(new Uint8Array([n]), () => {
      computed++;
      return n % 2 === 0 ? n : undefined;
    });
  for (let i = 0; i < 10; i++) t.is(f(i), i % 2 === 0 ? i : undefined);
  t.is(cache.size, 4);
  t.is(computed, 10);
  t.is(f(9), undefined, "a kept undefined is a hit");
  t.is(computed, 10);
  t.is(f(0), 0, "the oldest was evicted and is computed again");
  t.is(computed, 11);
  t.is(cache.size, 4);
});

test("derSize and certificateSubject answer from their caches exactly what the ASN.1 decode answers, for every certificate of every input, within their bound", (t) => {
  const log = parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin"));
  const certs = log.events
    .map((e) => decodeEvent(e, log))
    .flatMap((d) => (d.kind === "efi-variable" ? (d.signatureLists ?? []).filter((l) => l.typeName === "x509").flatMap((l) => l.signatures.map((s) => s.data)) : []));
  t.true(certs.length >= 4);
  const direct = (der: Uint8Array) => {
    try {
      return formatName(AsnConvert.parse(der, Certificate).tbsCertificate.subject);
    } catch {
      return undefined;
    }
  };
  const directSize = (b: Uint8Array) => {
    try {
      return AsnConvert.parse(b, Any).size;
    } catch {
      return undefined;
    }
  };
  for (let round = 0; round < 2; round++) {
    for (const c of certs) {
      t.is(certificateSubject(c), direct(c));
      t.is(derSize(c), c.length);
      // Not a certificate, and not a whole DER element: another answer for other bytes with the same prefix.
      t.is(certificateSubject(c.subarray(0, c.length - 1)), undefined);
      t.is(derSize(new Uint8Array([...c, 0, 0])), c.length);
      t.is(derSize(c.subarray(4)), directSize(c.subarray(4)), "the TBSCertificate inside");
      t.is(derSize(c.subarray(1)), directSize(c.subarray(1)));
    }
  }
  const subjects = new Set(certs.map((c) => certificateSubject(c)));
  t.is(subjects.size, new Set(certs.map(direct)).size, "different certificates keep different subjects");
  for (let i = 0; i < _caches.max + 50; i++) derSize(new Uint8Array([0x04, 0x02, i & 0xff, i >> 8]));
  t.is(_caches.sizes.size, _caches.max);
  t.true(_caches.subjects.size <= _caches.max);
  t.is(derSize(new Uint8Array([0x04, 0x02, 7, 0])), 4);
  t.is(derSize(new Uint8Array([0x04, 0x05, 7, 0])), undefined, "a length past the end");
});
