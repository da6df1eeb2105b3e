/**
 * The envelope: Tessera's one format for data encrypted under a key from a key provider (a vTPM's `.nvram`, a
 * file `tactl kmip encrypt` writes, key material at rest). Declared as a schema with @tessera/tpm2's generic
 * big-endian codec. Version 2 (written since 2026-12-03; version 1 is still read, and rewrapped into version 2):
 *
 * | field | type | |
 * | --- | --- | --- |
 * | magic | 4 bytes | `TENV` |
 * | version | UINT16 | 2 |
 * | algorithm | UINT16 | 1 = AES-256-GCM content under the data key; 2 = AES-256-GCM content under a content key that AES-256-GCM under the data key wraps (what a rewrap to a new data key makes) |
 * | context | UINT16 size + UTF-8 | what the content belongs to (a VM, an object id), bound to the content; may be empty |
 * | providerKind | UINT8 | 1 trusted, 2 standard, 3 local |
 * | providerName | UINT16 size + UTF-8 | the key provider |
 * | keyId | UINT16 size + UTF-8 | the provider's key (primary key id) |
 * | keyVersion | UINT32 | its version |
 * | wrappedDataKey | UINT16 size + bytes | the data key as its provider wrapped it (opaque here; empty: not wrapped, e.g. a local master key) |
 * | contentNonce | 12 bytes | the content's GCM nonce |
 * | keyNonce | 12 bytes | algorithm 2 only: the content key's GCM nonce |
 * | wrappedContentKey | 48 bytes | algorithm 2 only: the 32-byte content key and its tag, AES-256-GCM under the data key, every field before it as associated data |
 * | content | the rest | the content's ciphertext and its 16-byte tag; the whole header (every byte before the ciphertext) is its associated data |
 *
 * A seal is one AES-256-GCM pass under the data key with the header as associated data (algorithm 1), so it costs
 * what the bare cipher costs plus the header. A rewrap — the same data key under a new primary key, or a new data
 * key — writes a new header and leaves the ciphertext's bytes as they are: GCM's tag is linear in the associated
 * data, so the content's tag is recomputed for the new header from the old tag and the content key alone
 * ({@link gcmRetag}); a new data key wraps the old content key (algorithm 2). A changed byte, a cut, another data key
 * or an unknown version is an {@link EnvelopeError}, and no plaintext, whole or partial, is ever returned with it.
 *
 * Version 1 (read and rewrapped, never written): magic, version 1, algorithm 1 (content key wrapped by the data key),
 * context, contentNonce, then providerKind … wrappedDataKey, keyNonce, wrappedContentKey, content; the content's tag
 * covers the fields up to contentNonce, the content key's every field before it.
 * @module
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, timingSafeEqual, type KeyObject } from "node:crypto";
import { concat, decoding, fixed, reader, sized, sizedUtf8, struct, TpmDecodeError, TpmEncodeError, u16, u32, u8, type Reader, type Writer } from "@tessera/tpm2";
import { EnvelopeError } from "./errors.ts";
import { gcmRetag } from "./gcm_retag.ts";

/** The first four bytes of every envelope. */
export const ENVELOPE_MAGIC: Uint8Array = new TextEncoder().encode("TENV");
/** The version this code writes. */
export const ENVELOPE_VERSION = 2;
/** The versions this code reads. */
export const ENVELOPE_VERSIONS_READ: readonly number[] = [1, 2];
/** Largest `context` and `keyId` in UTF-8 bytes. */
export const MAX_ID_BYTES = 1024;
/** Largest provider name in UTF-8 bytes. */
export const MAX_PROVIDER_NAME_BYTES = 255;
/** Largest wrapped data key. */
export const MAX_WRAPPED_DATA_KEY = 16 * 1024;

/** Who wraps the data key: a trusted key provider (kmxd, attestation required), a standard one (a KMIP server used directly), or a local key (a master key, a TPM seal). */
export type ProviderKind = "trusted" | "standard" | "local";
const KIND_CODES: Readonly<Record<ProviderKind, number>> = { trusted: 1, standard: 2, local: 3 };
const KINDS: readonly (ProviderKind | undefined)[] = [undefined, "trusted", "standard", "local"];

/**
 * The content algorithm: `A256GCM` the content under the data key (what a seal writes), `A256GCM+CK` under a content
 * key that the data key wraps (what a rewrap to a new data key writes; every version 1 envelope).
 */
export type EnvelopeAlgorithm = "A256GCM" | "A256GCM+CK";
/** Version 2's algorithm codes. */
const ALG_DIRECT = 1;
const ALG_CONTENT_KEY = 2;

/** Which key the envelope's data key is, as the key's provider knows it. */
export interface EnvelopeKey {
  /** The key provider: its name and kind. */
  readonly provider: { readonly name: string; readonly kind: ProviderKind };
  /** The provider's key (its primary key) and version. */
  readonly key: { readonly id: string; readonly version: number };
  /** The data key as the provider wrapped it (opaque here); empty when nobody wraps it (a local master key). */
  readonly wrappedDataKey: Uint8Array;
}

/** What {@link readEnvelopeHeader} tells without any key. Its `wrappedDataKey` is a view of the envelope's bytes. */
export interface EnvelopeHeader extends EnvelopeKey {
  /** The format version. */
  readonly version: number;
  /** The content algorithm. */
  readonly algorithm: EnvelopeAlgorithm;
  /** What the content belongs to (bound to it; empty when the sealer gave none). */
  readonly context: string;
  /** The plaintext's length in bytes. */
  readonly contentLength: number;
}

// Byte fields are read as views of the envelope (no copies: a copy of more than 64 bytes is a backing store of its
// own, which an 8 KiB open paid for in garbage collection); the header's wrappedDataKey is such a view too. Names
// are read and written as strings (sizedUtf8: UTF-8 checked as it is read, encoded straight into the header).
const VIEW = { view: true } as const;
const PREFIX = struct("TESSERA_ENVELOPE", { magic: fixed("magic", 4, VIEW), version: u16 });
const PREFIX_VALUE = Object.freeze({ magic: ENVELOPE_MAGIC, version: ENVELOPE_VERSION });
const KEY_FIELDS = {
  providerKind: u8,
  providerName: sizedUtf8("providerName", MAX_PROVIDER_NAME_BYTES),
  keyId: sizedUtf8("keyId", MAX_ID_BYTES),
  keyVersion: u32,
  wrappedDataKey: sized("wrappedDataKey", MAX_WRAPPED_DATA_KEY, VIEW),
};
/** Version 2: everything after the prefix up to the content (algorithm 2 adds {@link CONTENT_KEY_PART}). */
const V2_HEAD = struct("TESSERA_ENVELOPE", {
  algorithm: u16,
  context: sizedUtf8("context", MAX_ID_BYTES),
  ...KEY_FIELDS,
  contentNonce: fixed("contentNonce", 12, VIEW),
});
/** A wrapped content key: 32 bytes and their tag. */
const WRAPPED_CONTENT_KEY_BYTES = 48;
const CONTENT_KEY_PART = struct("TESSERA_ENVELOPE", {
  keyNonce: fixed("keyNonce", 12, VIEW),
  wrappedContentKey: fixed("wrappedContentKey", WRAPPED_CONTENT_KEY_BYTES, VIEW),
});
/** Version 1's parts. */
const V1_CONTENT_PART = struct("TESSERA_ENVELOPE", {
  algorithm: u16,
  context: sizedUtf8("context", MAX_ID_BYTES),
  contentNonce: fixed("contentNonce", 12, VIEW),
});
const V1_KEY_PART = struct("TESSERA_ENVELOPE", { ...KEY_FIELDS, keyNonce: fixed("keyNonce", 12, VIEW) });
const WRAPPED_CONTENT_KEY = struct("TESSERA_ENVELOPE", { wrappedContentKey: fixed("wrappedContentKey", WRAPPED_CONTENT_KEY_BYTES, VIEW) });
const TAG = 16;

/** Bytes of a string's UTF-8 (counted here for ASCII, the usual case, without a call into Node). */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, "utf8");
  return s.length;
}

/**
 * Nonces come from one buffer of randomness filled 4 KiB at a time: node:crypto's randomBytes costs about 4 µs a call
 * whatever its size, as much as a third of a whole 8 KiB seal. Each byte is handed out once. Only nonces (public: they
 * are written in the header) are taken from it, never key material, so what is handed out is not wiped.
 */
const RANDOM_POOL = new Uint8Array(4096);
let randomAt = RANDOM_POOL.length;

/** `n` random bytes as a view of the pool (for a nonce), to be used at once. */
function randomView(n: number): Uint8Array {
  if (randomAt + n > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const out = RANDOM_POOL.subarray(randomAt, randomAt + n);
  randomAt += n;
  return out;
}

/** `n` random bytes of their own (for a nonce). */
function random(n: number): Uint8Array {
  return randomView(n).slice();
}

/** The wrapped content key of an algorithm-2 (or version 1) envelope, and what its tag covers. */
interface ContentKeyPart {
  keyNonce: Uint8Array;
  /** End of the fields the content key's tag covers (= where wrappedContentKey starts). */
  aadEnd: number;
}

/** The parsed parts of an envelope, with the offsets its tags are computed over. */
interface Parsed {
  header: EnvelopeHeader;
  contentNonce: Uint8Array;
  /** The content's associated data. */
  contentAad: Uint8Array;
  /** Absent: the content is under the data key itself (version 2, algorithm 1). */
  contentKey: ContentKeyPart | undefined;
  /** Where the ciphertext starts. */
  contentStart: number;
}

interface KeyFieldsValue {
  providerKind: number;
  providerName: string;
  keyId: string;
  keyVersion: number;
  wrappedDataKey: Uint8Array;
}

/**
 * The header of the key fields (checked) and the rest. The key fields start at `base` plus the UTF-8 length of
 * `before` (worked out only to name the byte of a fault).
 */
function headerOf(
  version: number,
  algorithm: EnvelopeAlgorithm,
  context: string,
  v: KeyFieldsValue,
  base: number,
  before: string,
  contentLength: number,
): EnvelopeHeader {
  const kind = KINDS[v.providerKind];
  if (kind === undefined) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", "providerKind", `${v.providerKind} is not a provider kind (1 trusted, 2 standard, 3 local)`, {
      offset: base + utf8Length(before),
    });
  }
  if (v.providerName === "") throw new EnvelopeError("ENVELOPE_MALFORMED", "providerName", "is empty", { offset: base + utf8Length(before) + 1 });
  if (v.keyId === "") throw new EnvelopeError("ENVELOPE_MALFORMED", "keyId", "is empty", { offset: base + utf8Length(before) + 3 + utf8Length(v.providerName) });
  return {
    version,
    algorithm,
    context,
    provider: { name: v.providerName, kind },
    key: { id: v.keyId, version: v.keyVersion },
    wrappedDataKey: v.wrappedDataKey,
    contentLength,
  };
}

function contentLengthOf(bytes: Uint8Array, start: number): number {
  const n = bytes.length - start - TAG;
  if (n < 0) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", "content", `${bytes.length - start} bytes are left for the content, less than its ${TAG}-byte tag (cut short?)`, {
      offset: start,
    });
  }
  return n;
}

/**
 * The envelope's parts, read with one reader; a decode failure becomes ENVELOPE_MALFORMED naming the field and byte
 * (the field's own offset: a size field for a name).
 */
function parse(bytes: Uint8Array): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeError("ENVELOPE_MALFORMED", "envelope", "is not bytes");
  try {
    return decoding("TESSERA_ENVELOPE", () => parseWith(bytes, reader(bytes)));
  } catch (e) {
    if (e instanceof TpmDecodeError) throw new EnvelopeError("ENVELOPE_MALFORMED", e.field || "envelope", e.reason, { cause: e, offset: e.offset });
    throw e;
  }
}

function parseWith(bytes: Uint8Array, r: Reader): Parsed {
  if (bytes.length < 6 || !isEnvelope(bytes)) {
    const prefix = PREFIX.read(r); // names what is missing of a prefix cut short
    throw new EnvelopeError("ENVELOPE_MALFORMED", "magic", `is not an envelope (it starts ${Buffer.from(prefix.magic).toString("hex")}, not TENV)`, {
      offset: 0,
    });
  }
  r.pos = 4;
  const version = u16.read(r);
  if (version === 1) return parseV1(bytes, r);
  if (version !== 2) {
    throw new EnvelopeError("ENVELOPE_VERSION", "version", `version ${version} is unknown here (this code reads versions ${ENVELOPE_VERSIONS_READ.join(" and ")})`, {
      offset: 4,
    });
  }
  const head = V2_HEAD.read(r);
  const alg = head.algorithm;
  if (alg !== ALG_DIRECT && alg !== ALG_CONTENT_KEY) {
    throw new EnvelopeError("ENVELOPE_VERSION", "algorithm", `algorithm ${alg} is unknown (version 2 has 1, AES-256-GCM, and 2, AES-256-GCM under a wrapped content key)`, {
      offset: 6,
    });
  }
  let contentKey: ContentKeyPart | undefined;
  if (alg === ALG_CONTENT_KEY) {
    const aadEnd = r.pos + 12;
    const ck = CONTENT_KEY_PART.read(r);
    contentKey = { keyNonce: ck.keyNonce, aadEnd };
  }
  const contentStart = r.pos;
  const contentLength = contentLengthOf(bytes, contentStart);
  return {
    header: headerOf(version, alg === ALG_DIRECT ? "A256GCM" : "A256GCM+CK", head.context, head, 10, head.context, contentLength),
    contentNonce: head.contentNonce,
    contentAad: bytes.subarray(0, contentStart),
    contentKey,
    contentStart,
  };
}

function parseV1(bytes: Uint8Array, r: Reader): Parsed {
  const contentPartStart = r.pos;
  const content = V1_CONTENT_PART.read(r);
  if (content.algorithm !== 1) {
    throw new EnvelopeError("ENVELOPE_VERSION", "algorithm", `algorithm ${content.algorithm} is unknown (version 1 has 1, AES-256-GCM)`, { offset: contentPartStart });
  }
  const contentAadEnd = r.pos;
  const keyPart = V1_KEY_PART.read(r);
  const keyAadEnd = r.pos;
  WRAPPED_CONTENT_KEY.read(r); // present and whole (opened in place by contentKeyOf)
  return {
    header: headerOf(1, "A256GCM+CK", content.context, keyPart, contentAadEnd, "", contentLengthOf(bytes, r.pos)),
    contentNonce: content.contentNonce,
    contentAad: bytes.subarray(0, contentAadEnd),
    contentKey: { keyNonce: keyPart.keyNonce, aadEnd: keyAadEnd },
    contentStart: r.pos,
  };
}

/**
 * The header of an envelope, read without any key (what `tactl vm describe` shows; which provider and key to ask
 * for the data key). Not authenticated until the envelope is opened.
 * @throws EnvelopeError ENVELOPE_MALFORMED (naming the field and byte) or ENVELOPE_VERSION
 */
export function readEnvelopeHeader(bytes: Uint8Array): EnvelopeHeader {
  return parse(bytes).header;
}

function checkDataKey(dataKey: Uint8Array, what: string): void {
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== 32) {
    throw new EnvelopeError(
      "ENVELOPE_INPUT",
      what,
      `must be a 32-byte AES-256 key, got ${dataKey instanceof Uint8Array ? `${dataKey.length} bytes` : typeof dataKey}`,
    );
  }
}

/** What {@link V2_HEAD} writes. */
interface V2HeadValue extends KeyFieldsValue {
  algorithm: number;
  context: string;
  contentNonce: Uint8Array;
}

/**
 * A version 2 header's fields from the caller's key and context. What the codec checks as it writes them (types,
 * sizes, ranges) is not checked here: its errors name the field ({@link v2Head}).
 */
function v2HeadValue(algorithm: number, context: string, k: EnvelopeKey, contentNonce: Uint8Array): V2HeadValue {
  const provider = k.provider;
  const name = provider?.name;
  const id = k.key?.id;
  if (name === "" || name === undefined) throw new EnvelopeError("ENVELOPE_INPUT", "providerName", `must be 1 to ${MAX_PROVIDER_NAME_BYTES} UTF-8 bytes, got none`);
  if (id === "" || id === undefined) throw new EnvelopeError("ENVELOPE_INPUT", "keyId", `must be 1 to ${MAX_ID_BYTES} UTF-8 bytes, got none`);
  const kind = Object.hasOwn(KIND_CODES, provider.kind) ? KIND_CODES[provider.kind] : undefined;
  if (kind === undefined) throw new EnvelopeError("ENVELOPE_INPUT", "providerKind", `"${String(provider.kind)}" is not trusted, standard or local`);
  return { algorithm, context, providerKind: kind, providerName: name, keyId: id, keyVersion: k.key.version, wrappedDataKey: k.wrappedDataKey, contentNonce };
}

/**
 * Headers are written straight into an arena: one 32 KiB buffer with its DataView, made once and filled from its start
 * to its end, each header a view of its own part of it — no copy, and no Buffer, writer or DataView per header. A
 * full arena is replaced by a new one; an old one lives as long as a header over it does (as Node's pool of small
 * Buffers does). A header that does not fit (the codec grows the writer's buffer for it) is copied into bytes of its
 * own, and the arena replaced. Every byte of an arena is zero or a header's: the memory a header is a view of holds
 * nothing but other headers, which are public.
 */
const ARENA_BYTES = 32 * 1024;
const arena: Writer = newArena();

function newArena(): Writer {
  const buf = new Uint8Array(ARENA_BYTES);
  return { buf, view: new DataView(buf.buffer), pos: 0 };
}

function renewArena(): void {
  const fresh = newArena();
  arena.buf = fresh.buf;
  arena.view = fresh.view;
  arena.pos = 0;
}

/** A version 2 header up to the content (algorithm 1) or up to the content key part (algorithm 2), in bytes of its own. */
function v2Head(h: V2HeadValue): Uint8Array {
  // Its memory transferred to another thread (a detached buffer's length is 0), or nearly full.
  if (arena.buf.length - arena.pos < 512) renewArena();
  const buf = arena.buf;
  const at = arena.pos;
  try {
    PREFIX.write(arena, PREFIX_VALUE);
    V2_HEAD.write(arena, h);
  } catch (e) {
    zeroFrom(buf, at);
    // A field the codec refused: named by it (its type, size or range).
    if (e instanceof TpmEncodeError) throw new EnvelopeError("ENVELOPE_INPUT", e.fields[0] ?? "header", e.reason, { cause: e });
    throw e;
  }
  const end = arena.pos;
  if (arena.buf !== buf) {
    // Grown past the arena by the codec: the header's bytes are copied out of the grown buffer, and the arena is new.
    const own = arena.buf.slice(at, end);
    zeroFrom(buf, at);
    renewArena();
    return own;
  }
  arena.pos = (end + 7) & ~7; // the next header on an 8-byte boundary
  return new Uint8Array(buf.buffer, at, end - at);
}

/** An arena's bytes from `at` to its end back to zero (what a header that failed, or did not fit, wrote there). */
function zeroFrom(buf: Uint8Array, at: number): void {
  if (arena.buf !== buf) {
    arena.buf = buf;
    arena.view = new DataView(buf.buffer);
  }
  arena.pos = at;
  if (buf.length > at) buf.fill(0, at);
}

/** A plain Uint8Array over a Buffer's bytes (the same memory). */
const bytesOf = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

/**
 * One AES-256-GCM pass: the ciphertext and its tag, as pieces, as node:crypto made them (Buffers, which are
 * Uint8Arrays): a plain Uint8Array made over each cost ~0.4 µs of a ~10 µs seal of 8 KiB, for pieces that are
 * written out or joined, then dropped.
 */
function gcmSeal(key: KeyObject, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): [Uint8Array, Uint8Array] {
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  const rest = c.final(); // GCM writes everything in update()
  return [rest.length === 0 ? body : concat(body, rest), c.getAuthTag()];
}

/**
 * Opens the GCM box (ciphertext ‖ tag) at `bytes[start, end)` or throws ENVELOPE_AUTH (`field`, `start`, why: {@link
 * authFailure}); what update() produced is wiped and never returned on failure.
 */
function gcmOpen(key: KeyObject, nonce: Uint8Array, aad: Uint8Array, bytes: Uint8Array, start: number, end: number, field: "content" | "wrappedContentKey", p: Parsed): Uint8Array {
  const d = createDecipheriv("aes-256-gcm", key, nonce);
  d.setAAD(aad);
  d.setAuthTag(bytes.subarray(end - TAG, end));
  const body = d.update(bytes.subarray(start, end - TAG));
  try {
    d.final();
  } catch (e) {
    body.fill(0);
    throw new EnvelopeError("ENVELOPE_AUTH", field, authFailure(field, p), { cause: e, offset: start });
  }
  return bytesOf(body);
}

function authFailure(field: "content" | "wrappedContentKey", p: Parsed): string {
  const h = p.header;
  if (field === "wrappedContentKey") {
    return `does not open with this data key: the data key is not ${h.provider.name}'s key ${h.key.id} version ${h.key.version} of this envelope, or its header was changed`;
  }
  return p.contentKey === undefined
    ? `fails authentication: the data key is not ${h.provider.name}'s key ${h.key.id} version ${h.key.version} of this envelope, or a byte of it was changed`
    : "fails authentication: the content or the header was changed";
}

/**
 * The key the content is under: the data key itself (version 2, algorithm 1) or the content key it unwraps. The
 * bytes are the caller's to wipe when they are not `dataKey` itself.
 */
function contentKeyOf(bytes: Uint8Array, p: Parsed, dataKey: Uint8Array): Uint8Array {
  checkDataKey(dataKey, "dataKey");
  if (p.contentKey === undefined) return dataKey;
  const ck = p.contentKey;
  return gcmOpen(createSecretKey(dataKey), ck.keyNonce, bytes.subarray(0, ck.aadEnd), bytes, ck.aadEnd, ck.aadEnd + WRAPPED_CONTENT_KEY_BYTES, "wrappedContentKey", p);
}

function openContent(bytes: Uint8Array, p: Parsed, contentKey: Uint8Array): Uint8Array {
  return gcmOpen(createSecretKey(contentKey), p.contentNonce, p.contentAad, bytes, p.contentStart, bytes.length, "content", p);
}

/**
 * Encrypts `plaintext` into a new envelope, as its pieces: the header, the ciphertext and the tag, to be written one
 * after another (a file handle's writev) without joining them. One AES-256-GCM pass under `dataKey` (32 bytes, from
 * `key`'s provider, which also gave `key.wrappedDataKey`), the header as associated data. The header is a view of
 * memory shared with other headers (as a small Buffer is a view of Node's pool): its bytes are its own, its `.buffer`
 * is not — copy it before transferring that to another thread (a transferred arena is replaced at the next seal).
 * The ciphertext and tag are node:crypto's Buffers (Uint8Arrays; a Buffer's `slice` is a view, not a copy).
 * @param options.context what the content belongs to, bound to it (opening does not need it; it is shown)
 * @throws EnvelopeError ENVELOPE_INPUT for a data key that is not 32 bytes, an empty or too long name or id
 */
export function sealEnvelopeParts(
  plaintext: Uint8Array,
  dataKey: Uint8Array,
  key: EnvelopeKey,
  options: { readonly context?: string } = {},
): readonly [header: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array] {
  checkDataKey(dataKey, "dataKey");
  if (!(plaintext instanceof Uint8Array)) throw new EnvelopeError("ENVELOPE_INPUT", "content", "must be bytes");
  const nonce = randomView(12);
  const header = v2Head(v2HeadValue(ALG_DIRECT, options.context ?? "", key, nonce));
  const [ciphertext, tag] = gcmSeal(createSecretKey(dataKey), nonce, header, plaintext);
  return [header, ciphertext, tag];
}

/**
 * Encrypts `plaintext` into a new envelope (see {@link sealEnvelopeParts}), as one array that owns its memory.
 * @throws EnvelopeError as {@link sealEnvelopeParts}
 */
export function sealEnvelope(plaintext: Uint8Array, dataKey: Uint8Array, key: EnvelopeKey, options: { readonly context?: string } = {}): Uint8Array {
  // One array of its own (never a slice of Node's shared pool).
  return concat(...sealEnvelopeParts(plaintext, dataKey, key, options));
}

/**
 * Opens an envelope with its data key (which the header's provider unwraps from `wrappedDataKey`).
 * @throws EnvelopeError ENVELOPE_MALFORMED / ENVELOPE_VERSION (see {@link readEnvelopeHeader}), ENVELOPE_AUTH when
 *   the data key is another one or any byte was changed — never with any of the plaintext
 */
export function openEnvelope(bytes: Uint8Array, dataKey: Uint8Array): { header: EnvelopeHeader; plaintext: Uint8Array } {
  const p = parse(bytes);
  const contentKey = contentKeyOf(bytes, p, dataKey);
  try {
    return { header: p.header, plaintext: openContent(bytes, p, contentKey) };
  } finally {
    if (contentKey !== dataKey) contentKey.fill(0);
  }
}

/**
 * Rewraps an envelope: a new header for a new data key (perhaps of another provider) or for the same data key as a
 * new primary key wrapped it, as `next` describes. The ciphertext's bytes are not touched: the content's tag is
 * recomputed for the new header ({@link gcmRetag}). Under the same data key the content stays under it (algorithm
 * 1); under another, the key the content is under is wrapped by the new data key (algorithm 2). A version 1
 * envelope comes out as version 2. The data key is checked first: by the wrapped content key's tag, or, for content
 * under the data key itself, by decrypting it once (the plaintext wiped) — a rewrap with a wrong key would
 * otherwise write an envelope no key opens.
 * @throws EnvelopeError as {@link openEnvelope} for `dataKey`, ENVELOPE_INPUT for a bad `next`
 */
export function rewrapEnvelope(bytes: Uint8Array, dataKey: Uint8Array, next: EnvelopeKey, nextDataKey: Uint8Array): Uint8Array {
  const p = parse(bytes);
  checkDataKey(nextDataKey, "nextDataKey");
  const fields = v2HeadValue(ALG_DIRECT, p.header.context, next, p.contentNonce);
  const contentKey = contentKeyOf(bytes, p, dataKey);
  try {
    if (p.contentKey === undefined) openContent(bytes, p, contentKey).fill(0);
    const sameKey = timingSafeEqual(contentKey, nextDataKey);
    let header: Uint8Array;
    if (sameKey) {
      header = v2Head(fields);
    } else {
      fields.algorithm = ALG_CONTENT_KEY;
      const head = v2Head(fields);
      const keyNonce = random(12);
      const aad = concat(head, keyNonce);
      const [wck, wckTag] = gcmSeal(createSecretKey(nextDataKey), keyNonce, aad, contentKey);
      header = concat(aad, wck, wckTag);
    }
    const ciphertext = bytes.subarray(p.contentStart, bytes.length - TAG);
    const tag = gcmRetag(createSecretKey(contentKey), bytes.subarray(bytes.length - TAG), p.contentAad, header, ciphertext.length);
    return concat(header, ciphertext, tag);
  } finally {
    if (contentKey !== dataKey) contentKey.fill(0);
  }
}

/** True when `bytes` start with the envelope's magic (to tell an envelope from an older format before reading it). */
export function isEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === ENVELOPE_MAGIC[0] && bytes[1] === ENVELOPE_MAGIC[1] && bytes[2] === ENVELOPE_MAGIC[2] && bytes[3] === ENVELOPE_MAGIC[3];
}
