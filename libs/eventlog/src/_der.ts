/**
 * Just enough DER to name an X.509 certificate's subject (private): a bounded, non-recursive walk down
 * Certificate → TBSCertificate → subject. Anything unexpected gives undefined.
 * @module
 */

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(b: Uint8Array, pos: number, limit: number): Tlv | undefined {
  if (pos + 2 > limit) return undefined;
  const tag = b[pos];
  let len = b[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i];
    start += n;
  }
  if (start + len > limit) return undefined;
  return { tag, start, end: start + len };
}

const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "street",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "GN",
  "1.2.840.113549.1.9.1": "emailAddress",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
};

function oidText(b: Uint8Array, t: Tlv): string {
  if (t.end === t.start) return "";
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join(".");
}

function stringValue(b: Uint8Array, t: Tlv): string {
  const v = b.subarray(t.start, t.end);
  switch (t.tag) {
    case 0x0c:
      return new TextDecoder().decode(v);
    case 0x1e: {
      let s = "";
      for (let i = 0; i + 1 < v.length; i += 2) s += String.fromCharCode((v[i] << 8) | v[i + 1]);
      return s;
    }
    case 0x13:
    case 0x16:
    case 0x14:
    case 0x1a: {
      let s = "";
      for (const c of v) s += String.fromCharCode(c);
      return s;
    }
    default:
      return "#" + Array.from(v, (x) => x.toString(16).padStart(2, "0")).join("");
  }
}

/** The total size of the DER element at the start of `b` (tag, length and content), or undefined. */
export function derSize(b: Uint8Array): number | undefined {
  const t = tlv(b, 0, b.length);
  return t?.end;
}

/**
 * The subject of a DER certificate as `C=US, O=Microsoft Corporation, CN=…` (attributes in certificate order),
 * or undefined when the bytes are not a certificate.
 */
export function certificateSubject(der: Uint8Array): string | undefined {
  const cert = tlv(der, 0, der.length);
  if (cert?.tag !== 0x30) return undefined;
  const tbs = tlv(der, cert.start, cert.end);
  if (tbs?.tag !== 0x30) return undefined;
  let p = tbs.start;
  let x = tlv(der, p, tbs.end);
  if (x?.tag === 0xa0) x = tlv(der, x.end, tbs.end); // version
  if (x?.tag !== 0x02) return undefined; // serialNumber
  // signature, issuer, validity, then subject
  const want = [0x30, 0x30, 0x30, 0x30];
  p = x.end;
  let subject: Tlv | undefined;
  for (const tag of want) {
    subject = tlv(der, p, tbs.end);
    if (subject?.tag !== tag) return undefined;
    p = subject.end;
  }
  if (!subject) return undefined;
  const rdns: string[] = [];
  for (let q = subject.start; q < subject.end;) {
    const set = tlv(der, q, subject.end);
    if (set?.tag !== 0x31) return undefined;
    const atvs: string[] = [];
    for (let r = set.start; r < set.end;) {
      const atv = tlv(der, r, set.end);
      if (atv?.tag !== 0x30) return undefined;
      const oid = tlv(der, atv.start, atv.end);
      if (oid?.tag !== 0x06) return undefined;
      const value = tlv(der, oid.end, atv.end);
      if (!value) return undefined;
      const o = oidText(der, oid);
      // Separators inside values are escaped as RFC 4514 (and OpenSSL) do: "O=VMware\, Inc.".
      atvs.push(`${ATTRIBUTE_NAMES[o] ?? o}=${stringValue(der, value).replace(/[,+;"\\<>]/g, "\\$&")}`);
      r = atv.end;
    }
    rdns.push(atvs.join(" + "));
    q = set.end;
  }
  return rdns.join(", ");
}
