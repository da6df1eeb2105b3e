import test from "ava";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { formatName } from "@tessera/pki/names";
import { _caches, certificateSubject, derSize } from "./_certificate.ts";
import { ContentCache, contentKey } from "./content_cache.ts";
import { fixture } from "./_fixtures_test.ts";
import { createHash } from "node:crypto";
import { TPM_ALG } from "@tessera/tpm2";
import { appendEvent } from "./append_event.ts";
import { decodeEvent } from "./decode_event.ts";
import { EFI_GUID } from "./efi_guid.ts";
import { encodeEfiSignatureList } from "./encode_efi_signature_list.ts";
import { encodeEfiVariableData } from "./encode_efi_variable_data.ts";
import { EV } from "./event_type.ts";
import { newCryptoAgileLog } from "./new_crypto_agile_log.ts";
import { parseEventLog } from "./parse_event_log.ts";
import { FACTS_CACHE } from "./_variable_facts.ts";
import { secureBootState } from "./secure_boot_state.ts";
import { writeEventLog } from "./write_event_log.ts";

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

test("a content cache also bounds the input bytes it holds results for, and keeps nothing for an input over the bound", (t) => {
  const cache = new ContentCache<number>(100, 1000);
  let computed = 0;
  const f = (size: number, fill: number) =>
    cache.get(new Uint8Array(size).fill(fill), () => {
      computed++;
      return size;
    });
  for (let i = 0; i < 5; i++) f(300, i);
  t.is(cache.size, 3, "three inputs of 300 bytes fit in 1000");
  t.true(cache.bytes <= 1000);
  t.is(f(2000, 1), 2000);
  t.is(f(2000, 1), 2000);
  t.is(computed, 7, "an input over the bound is computed each time");
  t.is(cache.size, 3);
  t.is(f(300, 4), 300);
  t.is(computed, 7, "the newest 300-byte input is still held");
  t.is(f(10, 1), 10);
  t.is(new ContentCache<string>(4).get(new Uint8Array([1]), () => "a", "x"), "a");
  const tagged = new ContentCache<string>(4);
  t.is(tagged.get(new Uint8Array([1]), () => "a", "1"), "a");
  t.is(tagged.get(new Uint8Array([1]), () => "b", "2"), "b", "the same bytes under another tag are another entry");
  t.is(tagged.get(new Uint8Array([1]), () => "c", "1"), "a");
});

test("secureBootState from its facts cache: the same state again, another state for another db, copies the caller may change, and at most 256 events kept", (t) => {
  const certs = (() => {
    const log = parseEventLog(fixture("go-attestation_sb_cert_eventlog.bin"));
    const d = log.events.map((e) => decodeEvent(e, log)).find((x) => x.kind === "efi-variable" && x.name === "db");
    return (d as { signatureLists: { signatures: { data: Uint8Array }[] }[] }).signatureLists.flatMap((l) => l.signatures.map((s) => s.data));
  })();
  const stateWith = (db: Uint8Array[], secureBoot: number) => {
    const log = newCryptoAgileLog([TPM_ALG.SHA256]);
    appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SecureBoot", new Uint8Array([secureBoot])));
    appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", Buffer.concat(db.map((c) => encodeEfiSignatureList("x509", EFI_GUID.MICROSOFT, [c])))));
    appendEvent(log, 7, EV.EFI_VARIABLE_AUTHORITY, encodeEfiVariableData(EFI_GUID.IMAGE_SECURITY_DATABASE, "db", new Uint8Array([...new Uint8Array(16), ...db[0]])));
    return secureBootState(parseEventLog(writeEventLog(log)));
  };
  const a = stateWith(certs.slice(0, 2), 1);
  t.is(a.enabled, true);
  t.deepEqual(
    a.dbCertificates.map((c) => c.sha256),
    certs.slice(0, 2).map((c) => createHash("sha256").update(c).digest("hex")),
  );
  t.is(a.authorities[0].certificateSha256, a.dbCertificates[0].sha256);
  t.deepEqual(stateWith(certs.slice(0, 2), 1), a, "the same log again");
  const b = stateWith(certs.slice(1, 3), 0);
  t.is(b.enabled, false, "another SecureBoot value");
  t.deepEqual(
    b.dbCertificates.map((c) => c.sha256),
    certs.slice(1, 3).map((c) => createHash("sha256").update(c).digest("hex")),
    "another db",
  );
  t.not(b.authorities[0].certificateSha256, a.authorities[0].certificateSha256, "another authority");
  a.dbCertificates[0].sha256 = "changed by the caller";
  a.authorities[0].subject = "changed by the caller";
  const again = stateWith(certs.slice(0, 2), 1);
  t.is(again.dbCertificates[0].sha256, createHash("sha256").update(certs[0]).digest("hex"), "a caller's change does not reach the cache");
  t.not(again.authorities[0].subject, "changed by the caller");
  for (let i = 0; i < 300; i++) {
    const log = newCryptoAgileLog([TPM_ALG.SHA256]);
    appendEvent(log, 7, EV.EFI_VARIABLE_DRIVER_CONFIG, encodeEfiVariableData(EFI_GUID.GLOBAL_VARIABLE, "SetupMode", new Uint8Array([i & 1, i >> 1])));
    t.is(secureBootState(log).setupMode, (i & 1) === 1);
  }
  t.is(FACTS_CACHE.size, 256);
});
