/**
 * The wire encodings of PROTOCOL.md: base64 (RFC 4648 §4, padded) for binary values, lowercase hex for
 * nonces, digests and Names, RFC 3339 times, and host names of 1–253 characters of `a-z 0-9 . -`.
 * @module
 */
import { ProblemError } from "@tessera/http";
import { z } from "zod";

// The alphabet and at most two trailing "=": with a length that is a multiple of 4 this is exactly padded base64.
// It runs only when the fast check below fails (it costs ~120 µs on a 45 KB event log).
const B64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const HOST = /^[a-z0-9.-]{1,253}$/;
const B64_MESSAGE = "is not padded base64 (RFC 4648 §4)";

/**
 * A padded standard base64 string, decoded to bytes (a zod schema, so a bad value names its field). The string is
 * decoded and encoded again: when that gives the same string it is canonical padded base64 (~25 µs for an event
 * log, in node's C++). Otherwise the grammar decides, so the accepted set stays exactly RFC 4648 §4's (which also
 * admits non-zero bits in the last character before the padding: they are decoded as Buffer does).
 */
export const base64Bytes = z.string().transform((s, ctx) => {
  const bytes = Buffer.from(s, "base64");
  if (bytes.toString("base64") !== s && !(s.length % 4 === 0 && B64_CHARS.test(s))) {
    ctx.addIssue({ code: "custom", message: B64_MESSAGE });
    return z.NEVER;
  }
  // A plain Uint8Array over the decoded bytes, not a copy of them (an event log's 34 KB were copied once more). A
  // value decoded from more than 4 KB of base64 has a backing store of its own; a smaller one may be a slice of
  // Node's pool, which the view keeps alive but cannot reach past.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
});

/** A non-empty base64 value. */
export const base64NonEmpty = base64Bytes.refine((b) => b.length > 0, "is empty");

/** Lowercase hex of whole bytes. */
export const hexString = z.string().regex(/^(?:[0-9a-f]{2})+$/, "is not lowercase hex of whole bytes");

/** Encodes bytes as padded base64. */
export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

/** An epoch-milliseconds time as RFC 3339 (UTC). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The `{host}` path parameter, checked against PROTOCOL.md.
 * @throws ProblemError 400 `bad-request` naming the value.
 */
export function hostParam(value: string | undefined): string {
  if (value === undefined || !HOST.test(value)) {
    throw new ProblemError("bad-request", 400, `host "${String(value).slice(0, 300)}" is not 1–253 characters of a-z 0-9 . -`);
  }
  return value;
}
