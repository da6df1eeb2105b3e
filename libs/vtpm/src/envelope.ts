/**
 * The envelope: Tessera's one format for data encrypted under a key from a key provider (a vTPM's `.nvram`, a
 * file `tactl kmip encrypt` writes, key material at rest). Declared as a schema with @tessera/tpm2's generic
 * big-endian codec:
 *
 * | field | type | |
 * | --- | --- | --- |
 * | magic | 4 bytes | `TENV` |
 * | version | UINT16 | 1 |
 * | algorithm | UINT16 | 1 = AES-256-GCM content under a random content key, that key AES-256-GCM under the data key |
 * | context | UINT16 size + UTF-8 | what the content belongs to (a VM, an object id), bound to the content; may be empty |
 * | contentNonce | 12 bytes | the content's GCM nonce |
 * | providerKind | UINT8 | 1 trusted, 2 standard, 3 local |
 * | providerName | UINT16 size + UTF-8 | the key provider |
 * | keyId | UINT16 size + UTF-8 | the provider's key (primary key id) |
 * | keyVersion | UINT32 | its version |
 * | wrappedDataKey | UINT16 size + bytes | the data key as its provider wrapped it (opaque here; empty: not wrapped, e.g. a local master key) |
 * | keyNonce | 12 bytes | the content key's GCM nonce |
 * | wrappedContentKey | 48 bytes | the 32-byte content key and its tag, AES-256-GCM under the data key |
 * | content | the rest | the content's ciphertext and its 16-byte tag |
 *
 * Every header byte is authenticated: the content's tag covers the fields up to `contentNonce` (which never change
 * for the content) as associated data, the content key's tag covers every field before `wrappedContentKey`. So a
 * rewrap — a new data key, or the same data key as a new primary key wraps it — rewrites only the key part of the
 * header and leaves the content's bytes as they are. A changed byte, a cut, another data key or an unknown version
 * is an {@link EnvelopeError}, and no plaintext, whole or partial, is ever returned with it.
 * @module
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import { fixed, marshal, sized, struct, TpmDecodeError, TpmEncodeError, u16, u32, u8, unmarshalAt, type Codec } from "@tessera/tpm2";
import { EnvelopeError } from "./errors.ts";

/** The first four bytes of every envelope. */
export const ENVELOPE_MAGIC: Uint8Array = new TextEncoder().encode("TENV");
/** The version this code writes (and the only one it reads). */
export const ENVELOPE_VERSION = 1;
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

/** The content algorithm (the only one of version 1). */
export type EnvelopeAlgorithm = "A256GCM";
const ALG_A256GCM = 1;

/** Which key the envelope's data key is, as the key's provider knows it. */
export interface EnvelopeKey {
  /** The key provider: its name and kind. */
  readonly provider: { readonly name: string; readonly kind: ProviderKind };
  /** The provider's key (its primary key) and version. */
  readonly key: { readonly id: string; readonly version: number };
  /** The data key as the provider wrapped it (opaque here); empty when nobody wraps it (a local master key). */
  readonly wrappedDataKey: Uint8Array;
}

/** What {@link readEnvelopeHeader} tells without any key. */
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

const PREFIX = struct("TESSERA_ENVELOPE", { magic: fixed("magic", 4), version: u16 });
const CONTENT_PART = struct("TESSERA_ENVELOPE", { algorithm: u16, context: sized("context", MAX_ID_BYTES), contentNonce: fixed("contentNonce", 12) });
const KEY_PART = struct("TESSERA_ENVELOPE", {
  providerKind: u8,
  providerName: sized("providerName", MAX_PROVIDER_NAME_BYTES),
  keyId: sized("keyId", MAX_ID_BYTES),
  keyVersion: u32,
  wrappedDataKey: sized("wrappedDataKey", MAX_WRAPPED_DATA_KEY),
  keyNonce: fixed("keyNonce", 12),
});
const WRAPPED_CONTENT_KEY = struct("TESSERA_ENVELOPE", { wrappedContentKey: fixed("wrappedContentKey", 48) });
const TAG = 16;
/** The piece of content encrypted at a time by sealEnvelope (its ciphertext is copied out while still cached; 64 KiB measured best of 8 KiB–1 MiB). */
const SEAL_CHUNK = 64 * 1024;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The parsed parts of an envelope, with the offsets its tags are computed over. */
interface Parsed {
  header: EnvelopeHeader;
  contentNonce: Uint8Array;
  keyNonce: Uint8Array;
  wrappedContentKey: Uint8Array;
  /** End of the fields the content's tag covers. */
  contentAadEnd: number;
  /** End of the fields the content key's tag covers (= where wrappedContentKey starts). */
  keyAadEnd: number;
  /** Where the content starts. */
  contentStart: number;
}

/** Reads `codec` at `offset`, a decode failure becoming ENVELOPE_MALFORMED naming the field and byte. */
function at<T>(codec: Codec<T>, bytes: Uint8Array, offset: number): { value: T; offset: number } {
  try {
    return unmarshalAt(codec, bytes, offset);
  } catch (e) {
    if (e instanceof TpmDecodeError) throw new EnvelopeError("ENVELOPE_MALFORMED", e.field || "envelope", e.reason, { cause: e, offset: e.offset });
    throw e;
  }
}

function text(b: Uint8Array, field: string, offset: number): string {
  try {
    return strictUtf8.decode(b);
  } catch (e) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", field, "is not UTF-8", { cause: e, offset });
  }
}

function parse(bytes: Uint8Array): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeError("ENVELOPE_MALFORMED", "envelope", "is not bytes");
  const prefix = at(PREFIX, bytes, 0);
  if (!prefix.value.magic.every((b, i) => b === ENVELOPE_MAGIC[i])) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", "magic", `is not an envelope (it starts ${Buffer.from(prefix.value.magic).toString("hex")}, not TENV)`, {
      offset: 0,
    });
  }
  if (prefix.value.version !== ENVELOPE_VERSION) {
    throw new EnvelopeError("ENVELOPE_VERSION", "version", `version ${prefix.value.version} is unknown here (this code reads version ${ENVELOPE_VERSION})`, {
      offset: 4,
    });
  }
  const content = at(CONTENT_PART, bytes, prefix.offset);
  if (content.value.algorithm !== ALG_A256GCM) {
    throw new EnvelopeError("ENVELOPE_VERSION", "algorithm", `algorithm ${content.value.algorithm} is unknown (version 1 has 1, AES-256-GCM)`, {
      offset: prefix.offset,
    });
  }
  const contextOffset = prefix.offset + 2;
  const key = at(KEY_PART, bytes, content.offset);
  const kind = KINDS[key.value.providerKind];
  if (kind === undefined) {
    throw new EnvelopeError("ENVELOPE_MALFORMED", "providerKind", `${key.value.providerKind} is not a provider kind (1 trusted, 2 standard, 3 local)`, {
      offset: content.offset,
    });
  }
  const providerName = text(key.value.providerName, "providerName", content.offset + 1);
  if (providerName === "") throw new EnvelopeError("ENVELOPE_MALFORMED", "providerName", "is empty", { offset: content.offset + 1 });
  const keyIdOffset = content.offset + 3 + key.value.providerName.length;
  const keyId = text(key.value.keyId, "keyId", keyIdOffset);
  if (keyId === "") throw new EnvelopeError("ENVELOPE_MALFORMED", "keyId", "is empty", { offset: keyIdOffset });
  const wck = at(WRAPPED_CONTENT_KEY, bytes, key.offset);
  const contentLength = bytes.length - wck.offset - TAG;
  if (contentLength < 0) {
    throw new EnvelopeError(
      "ENVELOPE_MALFORMED",
      "content",
      `${bytes.length - wck.offset} bytes are left for the content, less than its ${TAG}-byte tag (cut short?)`,
      { offset: wck.offset },
    );
  }
  return {
    header: {
      version: prefix.value.version,
      algorithm: "A256GCM",
      context: text(content.value.context, "context", contextOffset),
      provider: { name: providerName, kind },
      key: { id: keyId, version: key.value.keyVersion },
      wrappedDataKey: key.value.wrappedDataKey,
      contentLength,
    },
    contentNonce: content.value.contentNonce,
    keyNonce: key.value.keyNonce,
    wrappedContentKey: wck.value.wrappedContentKey,
    contentAadEnd: content.offset,
    keyAadEnd: key.offset,
    contentStart: wck.offset,
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

function encodePart<T>(codec: Codec<T>, value: T): Uint8Array {
  try {
    return marshal(codec, value);
  } catch (e) {
    // The values are checked before: this is a field this code let through.
    if (e instanceof TpmEncodeError) throw new EnvelopeError("ENVELOPE_INPUT", "header", e.message, { cause: e });
    throw e;
  }
}

/** The key part of a header, checked. */
function keyPart(k: EnvelopeKey, keyNonce: Uint8Array): Uint8Array {
  const name = utf8.encode(k.provider?.name ?? "");
  const id = utf8.encode(k.key?.id ?? "");
  if (name.length === 0 || name.length > MAX_PROVIDER_NAME_BYTES)
    throw new EnvelopeError("ENVELOPE_INPUT", "providerName", `must be 1 to ${MAX_PROVIDER_NAME_BYTES} UTF-8 bytes, got ${name.length}`);
  if (id.length === 0 || id.length > MAX_ID_BYTES)
    throw new EnvelopeError("ENVELOPE_INPUT", "keyId", `must be 1 to ${MAX_ID_BYTES} UTF-8 bytes, got ${id.length}`);
  const kind = KIND_CODES[k.provider.kind];
  if (kind === undefined) throw new EnvelopeError("ENVELOPE_INPUT", "providerKind", `"${String(k.provider.kind)}" is not trusted, standard or local`);
  const version = k.key.version;
  if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) throw new EnvelopeError("ENVELOPE_INPUT", "keyVersion", `${version} is not a UINT32`);
  if (!(k.wrappedDataKey instanceof Uint8Array) || k.wrappedDataKey.length > MAX_WRAPPED_DATA_KEY) {
    throw new EnvelopeError("ENVELOPE_INPUT", "wrappedDataKey", `must be bytes, at most ${MAX_WRAPPED_DATA_KEY}`);
  }
  return encodePart(KEY_PART, { providerKind: kind, providerName: name, keyId: id, keyVersion: version, wrappedDataKey: k.wrappedDataKey, keyNonce });
}

/** The ciphertext and its tag, as pieces: the caller joins them into its output once (no copy in between). */
function gcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): [Buffer, Buffer] {
  // A KeyObject: node:crypto takes a raw key buffer about 12 µs slower per cipher (measured with kmipd's keyring).
  const c = createCipheriv("aes-256-gcm", createSecretKey(key), nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  c.final();
  return [body, c.getAuthTag()];
}

/**
 * A Buffer as a plain Uint8Array: the same memory when the Buffer owns its ArrayBuffer (a large one), a copy when it
 * is a slice of Node's shared pool (small ones), whose `.buffer` would show other allocations' bytes.
 */
function view(b: Buffer): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? new Uint8Array(b.buffer, 0, b.length) : new Uint8Array(b);
}

/** Opens a GCM box or throws ENVELOPE_AUTH; what update() produced is wiped and never returned on failure. */
function gcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, box: Uint8Array, field: string, offset: number, why: string): Uint8Array {
  const d = createDecipheriv("aes-256-gcm", createSecretKey(key), nonce);
  d.setAAD(aad);
  d.setAuthTag(box.subarray(box.length - TAG));
  const body = d.update(box.subarray(0, box.length - TAG));
  try {
    d.final();
  } catch (e) {
    body.fill(0);
    throw new EnvelopeError("ENVELOPE_AUTH", field, why, { cause: e, offset });
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** The content key of a parsed envelope, opened with `dataKey`. */
function contentKeyOf(bytes: Uint8Array, p: Parsed, dataKey: Uint8Array): Uint8Array {
  checkDataKey(dataKey, "dataKey");
  return gcmOpen(
    dataKey,
    p.keyNonce,
    bytes.subarray(0, p.keyAadEnd),
    p.wrappedContentKey,
    "wrappedContentKey",
    p.keyAadEnd,
    `does not open with this data key: the data key is not ${p.header.provider.name}'s key ${p.header.key.id} version ${p.header.key.version} of this envelope, or its header was changed`,
  );
}

/**
 * Encrypts `plaintext` into a new envelope: a random content key encrypts it (AES-256-GCM), `dataKey` (32 bytes,
 * from `key`'s provider, which also gave `key.wrappedDataKey`) encrypts the content key.
 * @param options.context what the content belongs to, bound to it (opening does not need it; it is shown)
 * @throws EnvelopeError ENVELOPE_INPUT for a data key that is not 32 bytes, an empty or too long name or id
 */
export function sealEnvelope(plaintext: Uint8Array, dataKey: Uint8Array, key: EnvelopeKey, options: { readonly context?: string } = {}): Uint8Array {
  checkDataKey(dataKey, "dataKey");
  if (!(plaintext instanceof Uint8Array)) throw new EnvelopeError("ENVELOPE_INPUT", "content", "must be bytes");
  const context = utf8.encode(options.context ?? "");
  if (context.length > MAX_ID_BYTES) throw new EnvelopeError("ENVELOPE_INPUT", "context", `is ${context.length} UTF-8 bytes, over ${MAX_ID_BYTES}`);
  const contentNonce = new Uint8Array(randomBytes(12));
  const keyNonce = new Uint8Array(randomBytes(12));
  const head = new Uint8Array([...ENVELOPE_MAGIC, ENVELOPE_VERSION >> 8, ENVELOPE_VERSION & 0xff]);
  const contentPart = encodePart(CONTENT_PART, { algorithm: ALG_A256GCM, context, contentNonce });
  const kp = keyPart(key, keyNonce);
  const contentAad = Buffer.concat([head, contentPart]);
  const keyAad = Buffer.concat([contentAad, kp]);
  const contentKey = new Uint8Array(randomBytes(32));
  try {
    const [wck, wckTag] = gcmSeal(dataKey, keyNonce, keyAad, contentKey);
    // The output is allocated once (owned memory) and the content encrypted into it chunk by chunk: each chunk's
    // ciphertext is copied while it is still in the CPU's cache. One cipher output of the whole content copied
    // afterwards cost a 1 MiB seal about 40% more than the bare cipher (BENCHMARKS.md, vTPM).
    const out = Buffer.allocUnsafeSlow(keyAad.length + 48 + plaintext.length + TAG);
    let at = 0;
    for (const part of [keyAad, wck, wckTag]) at += part.copy(out, at);
    const c = createCipheriv("aes-256-gcm", createSecretKey(contentKey), contentNonce);
    c.setAAD(contentAad);
    for (let off = 0; off < plaintext.length; off += SEAL_CHUNK) at += c.update(plaintext.subarray(off, off + SEAL_CHUNK)).copy(out, at);
    at += c.final().copy(out, at);
    c.getAuthTag().copy(out, at);
    return new Uint8Array(out.buffer, 0, out.length);
  } finally {
    contentKey.fill(0);
  }
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
    const plaintext = gcmOpen(
      contentKey,
      p.contentNonce,
      bytes.subarray(0, p.contentAadEnd),
      bytes.subarray(p.contentStart),
      "content",
      p.contentStart,
      "fails authentication: the content or the header's first fields were changed",
    );
    return { header: p.header, plaintext };
  } finally {
    contentKey.fill(0);
  }
}

/**
 * Rewraps an envelope: its content key, opened with `dataKey`, is wrapped again under `nextDataKey` as `next`
 * describes (a new data key, perhaps of another provider; or the same data key as a new primary key wrapped it).
 * The content's bytes are not touched (not even decrypted).
 * @throws EnvelopeError as {@link openEnvelope} for `dataKey`, ENVELOPE_INPUT for a bad `next`
 */
export function rewrapEnvelope(bytes: Uint8Array, dataKey: Uint8Array, next: EnvelopeKey, nextDataKey: Uint8Array): Uint8Array {
  const p = parse(bytes);
  checkDataKey(nextDataKey, "nextDataKey");
  const contentKey = contentKeyOf(bytes, p, dataKey);
  try {
    const keyNonce = new Uint8Array(randomBytes(12));
    const contentAad = bytes.subarray(0, p.contentAadEnd);
    const keyAad = Buffer.concat([contentAad, keyPart(next, keyNonce)]);
    const wrappedContentKey = gcmSeal(nextDataKey, keyNonce, keyAad, contentKey);
    return view(Buffer.concat([keyAad, ...wrappedContentKey, bytes.subarray(p.contentStart)]));
  } finally {
    contentKey.fill(0);
  }
}

/** True when `bytes` start with the envelope's magic (to tell an envelope from an older format before reading it). */
export function isEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ENVELOPE_MAGIC.every((b, i) => bytes[i] === b);
}
