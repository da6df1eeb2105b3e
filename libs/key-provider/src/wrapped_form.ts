/**
 * The wrapped form of a key (PROTOCOL.md's `wrapped`, and the `ciphertext` of `…/encrypt`): standard padded base64
 * of the UTF-8 JSON `{"v":1,"provider":…,"kv":…,"mode":…,"iv":…,"ct":…,"tag":…}`, keys in that order. It names the
 * provider and the primary-key version, and records the wrap mode, so that older keys still unwrap after a
 * rotation or a change of mode.
 * @module
 */
import { WrappedKeyError } from "./errors.ts";

/** How a key is wrapped on the key server (see {@link wrap}). */
export type WrapMode = "A256GCM" | "CBC-HMAC-SHA256";

/** The wrap modes, in the order `auto` tries them. */
export const WRAP_MODES: readonly WrapMode[] = ["A256GCM", "CBC-HMAC-SHA256"];

/** A wrapped key, decoded. */
export interface WrappedKey {
  /** Format version: 1. */
  v: 1;
  /** The provider whose primary key wrapped it. */
  provider: string;
  /** The provider's primary-key version (1, 2, …). */
  kv: number;
  /** Wrap mode. */
  mode: WrapMode;
  /** IV: 12 bytes (A256GCM) or 16 (CBC-HMAC-SHA256). */
  iv: Uint8Array;
  /** Ciphertext: any length for A256GCM; a non-empty multiple of 16 bytes for CBC-HMAC-SHA256. */
  ct: Uint8Array;
  /** Authentication tag: the GCM tag (16 bytes) or the HMAC-SHA256 (32 bytes). */
  tag: Uint8Array;
}

/** Longest wrapped form accepted, in characters; longer ones are refused before any parsing. */
export const MAX_WRAPPED_LENGTH = 64 * 1024;

/**
 * The largest plaintext a provider encrypts (`…/encrypt` of kmxd and kmxa): its wrapped form (base64 of JSON holding
 * the base64 ciphertext, about 16/9 of it plus the header) stays within {@link MAX_WRAPPED_LENGTH}.
 */
export const MAX_PLAINTEXT_LENGTH = 32 * 1024;

/** Longest provider name in a wrapped form, in UTF-16 code units. */
export const MAX_PROVIDER_LENGTH = 256;

const IV_LENGTH: Record<WrapMode, number> = { A256GCM: 12, "CBC-HMAC-SHA256": 16 };
const TAG_LENGTH: Record<WrapMode, number> = { A256GCM: 16, "CBC-HMAC-SHA256": 32 };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const KEYS = ["v", "provider", "kv", "mode", "iv", "ct", "tag"];
// Control characters would make the AAD's NUL separators ambiguous and have no business in a name.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Encodes a wrapped key. The fields are checked as {@link decodeWrapped} checks them, so that what is encoded
 * always decodes.
 * @throws WrappedKeyError naming the first bad field
 * @example encodeWrapped({ v: 1, provider: "kms-1", kv: 2, mode: "A256GCM", iv, ct, tag }) // "eyJ2IjoxLCJwcm92aWRlciI6…"
 */
export function encodeWrapped(w: WrappedKey): string {
  check(w);
  return Buffer.from(canonicalJson(w), "utf8").toString("base64");
}

/** The one JSON text of a (checked) wrapped form. */
function canonicalJson(w: WrappedKey): string {
  return `{"v":1,"provider":${JSON.stringify(w.provider)},"kv":${w.kv},"mode":"${w.mode}","iv":"${b64(w.iv)}","ct":"${b64(w.ct)}","tag":"${b64(w.tag)}"}`;
}

/** A wrapped form's text: UTF-8 or refused (a decoder made once: making one costs more than decoding a form). */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes a wrapped form. Refuses (before parsing) one longer than {@link MAX_WRAPPED_LENGTH}; then anything that
 * is not the exact form {@link encodeWrapped} writes: standard padded base64, UTF-8, JSON with exactly the seven
 * keys in order, each field well-typed, IV and tag of the mode's lengths.
 * @throws WrappedKeyError (`WRAPPED_MALFORMED`) naming the field
 */
export function decodeWrapped(wrapped: string): WrappedKey {
  if (typeof wrapped !== "string") throw new WrappedKeyError("wrapped", `expected a base64 string, got ${typeof wrapped}`);
  if (wrapped.length > MAX_WRAPPED_LENGTH) throw new WrappedKeyError("wrapped", `${wrapped.length} characters exceed the limit of ${MAX_WRAPPED_LENGTH}`);
  if (wrapped.length === 0) throw new WrappedKeyError("wrapped", "empty");
  const bytes = unbase64(wrapped, "wrapped");
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch (e) {
    throw new WrappedKeyError("wrapped", "not UTF-8 once base64-decoded", { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new WrappedKeyError("json", `not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new WrappedKeyError("json", "not a JSON object");
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o);
  for (const k of KEYS) if (!Object.hasOwn(o, k)) throw new WrappedKeyError(k, "missing");
  const extra = keys.find((k) => !KEYS.includes(k));
  if (extra !== undefined) throw new WrappedKeyError(JSON.stringify(extra).slice(0, 80), "unknown field");
  if (o.v !== 1) throw new WrappedKeyError("v", `version ${JSON.stringify(o.v)?.slice(0, 40)} is not supported (1 is)`);
  if (typeof o.provider !== "string") throw new WrappedKeyError("provider", "not a string");
  if (typeof o.kv !== "number") throw new WrappedKeyError("kv", "not a number");
  if (o.mode !== "A256GCM" && o.mode !== "CBC-HMAC-SHA256")
    throw new WrappedKeyError("mode", `${JSON.stringify(o.mode)?.slice(0, 40)} is not A256GCM or CBC-HMAC-SHA256`);
  for (const f of ["iv", "ct", "tag"] as const) if (typeof o[f] !== "string") throw new WrappedKeyError(f, "not a base64 string");
  const w: WrappedKey = {
    v: 1,
    provider: o.provider,
    kv: o.kv,
    mode: o.mode,
    iv: unbase64(o.iv as string, "iv"),
    ct: unbase64(o.ct as string, "ct"),
    tag: unbase64(o.tag as string, "tag"),
  };
  check(w);
  // Only the canonical text is accepted (key order, no spaces, no escapes JSON.stringify would not write), so
  // that a wrapped key has exactly one spelling.
  if (keys.join() !== KEYS.join() || canonicalJson(w) !== text) {
    throw new WrappedKeyError("json", "not in the canonical form (key order, spacing or escapes differ)");
  }
  return w;
}

function check(w: WrappedKey): void {
  if (w.v !== 1) throw new WrappedKeyError("v", `version ${String(w.v)} is not supported (1 is)`);
  if (typeof w.provider !== "string" || w.provider.length === 0 || w.provider.length > MAX_PROVIDER_LENGTH) {
    throw new WrappedKeyError("provider", `must be 1 to ${MAX_PROVIDER_LENGTH} characters`);
  }
  if (CONTROL.test(w.provider)) throw new WrappedKeyError("provider", "contains a control character");
  if (!w.provider.isWellFormed()) throw new WrappedKeyError("provider", "contains a lone surrogate");
  if (!Number.isSafeInteger(w.kv) || w.kv < 1 || w.kv > 0x7fffffff) throw new WrappedKeyError("kv", `${String(w.kv)} is not an integer from 1 to 2147483647`);
  if (w.mode !== "A256GCM" && w.mode !== "CBC-HMAC-SHA256") throw new WrappedKeyError("mode", `${String(w.mode)} is not A256GCM or CBC-HMAC-SHA256`);
  if (!(w.iv instanceof Uint8Array) || w.iv.length !== IV_LENGTH[w.mode]) {
    throw new WrappedKeyError("iv", `${w.mode} needs ${IV_LENGTH[w.mode]} bytes, got ${w.iv instanceof Uint8Array ? w.iv.length : typeof w.iv}`);
  }
  if (!(w.tag instanceof Uint8Array) || w.tag.length !== TAG_LENGTH[w.mode]) {
    throw new WrappedKeyError("tag", `${w.mode} needs ${TAG_LENGTH[w.mode]} bytes, got ${w.tag instanceof Uint8Array ? w.tag.length : typeof w.tag}`);
  }
  if (!(w.ct instanceof Uint8Array)) throw new WrappedKeyError("ct", "not bytes");
  if (w.mode === "CBC-HMAC-SHA256" && (w.ct.length === 0 || w.ct.length % 16 !== 0)) {
    throw new WrappedKeyError("ct", `CBC-HMAC-SHA256 needs a non-empty multiple of 16 bytes, got ${w.ct.length}`);
  }
}

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

/**
 * Strict standard base64 with padding; Buffer alone would skip bad characters silently. The bytes encoded again
 * must give back the same text: that holds for canonical padded standard base64 only (Buffer skips characters
 * outside the alphabet, takes base64url's too, and ignores missing padding and unused bits, all of which the
 * encoding would not write). The grammar is asked only to say which of two refusals it is.
 */
function unbase64(s: string, field: string): Uint8Array {
  const out = new Uint8Array(Buffer.from(s, "base64"));
  if (b64(out) !== s) {
    if (s.length % 4 !== 0 || !BASE64.test(s)) throw new WrappedKeyError(field, "not standard padded base64");
    // Non-zero bits in the last character's unused part: a second spelling of the same bytes.
    throw new WrappedKeyError(field, "not canonical base64 (unused bits set)");
  }
  return out;
}
