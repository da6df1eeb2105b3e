/**
 * The DER ECDSA-Sig-Value (RFC 3279 §2.2.3: SEQUENCE { r INTEGER, s INTEGER }), which node:crypto signs and verifies
 * with a key object passed bare, to and from the r and s that TPMs (TPMS_SIGNATURE_ECDSA) and JWS ES256 (r ‖ s, RFC
 * 7518 §3.4) carry. node:crypto's own conversion (`dsaEncoding: "ieee-p1363"`) costs ~20 µs more per call.
 * @module
 */
import { TpmDecodeError } from "./errors.ts";

/** A DER INTEGER's content for the unsigned big-endian `v`: no leading zeros, a zero byte before a set top bit. */
function derUint(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const t = v.subarray(i);
  if (t.length === 0) return Uint8Array.of(0);
  if ((t[0]! & 0x80) === 0) return t;
  const out = new Uint8Array(t.length + 1);
  out.set(t, 1);
  return out;
}

/**
 * The ECDSA-Sig-Value of `r` and `s` (unsigned big-endian, leading zeros allowed); r and s at most 67 bytes (P-521),
 * so short lengths suffice but for the sequence.
 */
export function ecdsaDer(r: Uint8Array, s: Uint8Array): Uint8Array {
  const R = derUint(r);
  const S = derUint(s);
  const body = 2 + R.length + 2 + S.length;
  const head = body < 0x80 ? [0x30, body] : [0x30, 0x81, body];
  const out = new Uint8Array(head.length + body);
  out.set(head, 0);
  let o = head.length;
  out[o++] = 0x02;
  out[o++] = R.length;
  out.set(R, o);
  o += R.length;
  out[o++] = 0x02;
  out[o++] = S.length;
  out.set(S, o);
  return out;
}

/**
 * r ‖ s, each left-padded to `size` bytes (32 for P-256), from an ECDSA-Sig-Value as {@link ecdsaDer} or OpenSSL
 * writes it (short INTEGER lengths; the sequence's short or 0x81 form).
 * @throws TpmDecodeError (structure `ECDSA-Sig-Value`) naming the field and offset where it is not that, or where r
 *   or s is longer than `size`
 */
export function ecdsaRsFromDer(der: Uint8Array, size: number): Uint8Array {
  const fail = (field: string, offset: number, reason: string): never => {
    throw new TpmDecodeError("ECDSA-Sig-Value", field, offset, reason);
  };
  if (der[0] !== 0x30) fail("", 0, "is not a SEQUENCE");
  let o = der[1] === 0x81 ? 3 : 2;
  const end = o + (der[1] === 0x81 ? der[2]! : der[1]!);
  if (der.length < 2 || end !== der.length) fail("", 1, `the SEQUENCE's length does not match the ${der.length} bytes`);
  const out = new Uint8Array(2 * size);
  for (const [k, field] of [[0, "r"], [1, "s"]] as const) {
    if (o + 2 > end || der[o] !== 0x02) fail(field, o, "is not an INTEGER");
    const len = der[o + 1]!;
    if (len === 0 || len >= 0x80 || o + 2 + len > end) fail(field, o + 1, `length ${len} does not fit`);
    let v = der.subarray(o + 2, o + 2 + len);
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) fail(field, o + 2, `is longer than ${size} bytes`);
    out.set(v, (k + 1) * size - v.length);
    o += 2 + len;
  }
  if (o !== end) fail("", o, `${end - o} bytes follow s`);
  return out;
}
