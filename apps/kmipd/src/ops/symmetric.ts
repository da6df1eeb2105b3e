/**
 * Symmetric Encrypt and Decrypt: AES (CBC, ECB, CTR, GCM, key wrap with and without padding), 3DES (CBC, ECB),
 * ChaCha20 and ChaCha20-Poly1305, in one request or streamed over several (KMIP 1.3+ Init Indicator, Correlation
 * Value, Final Indicator).
 *
 * A stream keeps its cipher on the serving thread that began it (its Correlation Value says which: a request on a
 * connection another thread serves is told so), for the identity that began it and the key
 * it began with; it ends with its Final request, or is dropped after {@link STREAM_IDLE_MS} without one. An
 * identity has at most {@link STREAMS_PER_IDENTITY} open at once.
 * @module
 */
import { type Cipheriv as Cipher, type CipherGCMTypes, createCipheriv, createDecipheriv, type Decipheriv as Decipher, randomBytes } from "node:crypto";
import { threadId } from "node:worker_threads";
import { bool, bytes, item, type Ttlv } from "@tessera/kmip";
import type { OpContext } from "../context.ts";
import { OperationError } from "../errors.ts";
import { idItem, type ManagedObject, secretKeyOf } from "../objects.ts";

/** The cryptographic parameters a symmetric operation uses. */
export interface SymmetricParams {
  alg?: string;
  mode?: string;
  padding?: string;
  tagLength?: number;
}

interface CipherChoice {
  /** OpenSSL's name. */
  name: string;
  /** IV or nonce length in bytes (0: none). */
  ivLen: number;
  aead: boolean;
  wrap: boolean;
  /** Turns the request's IV into the one OpenSSL takes. */
  iv?: (iv: Uint8Array) => Uint8Array;
}

function aesCipher(mode: string | undefined, keyLen: number): CipherChoice {
  const bits = keyLen * 8;
  if (![128, 192, 256].includes(bits)) throw new OperationError("CryptographicFailure", `AES key of ${bits} bits`);
  switch (mode ?? "CBC") {
    case "CBC":
      return { name: `aes-${bits}-cbc`, ivLen: 16, aead: false, wrap: false };
    case "GCM":
      return { name: `aes-${bits}-gcm`, ivLen: 12, aead: true, wrap: false };
    case "ECB":
      return { name: `aes-${bits}-ecb`, ivLen: 0, aead: false, wrap: false };
    case "CTR":
      return { name: `aes-${bits}-ctr`, ivLen: 16, aead: false, wrap: false };
    case "NISTKeyWrap":
      return { name: `id-aes${bits}-wrap`, ivLen: 0, aead: false, wrap: true };
    case "AESKeyWrapPadding":
      return { name: `id-aes${bits}-wrap-pad`, ivLen: 0, aead: false, wrap: true };
    default:
      throw new OperationError("UnsupportedCryptographicParameters", `block cipher mode ${mode} is not supported`);
  }
}

function des3Cipher(mode: string | undefined): CipherChoice {
  switch (mode ?? "CBC") {
    case "CBC":
      return { name: "des-ede3-cbc", ivLen: 8, aead: false, wrap: false };
    case "ECB":
      return { name: "des-ede3", ivLen: 0, aead: false, wrap: false };
    default:
      throw new OperationError("UnsupportedCryptographicParameters", `3DES with ${mode} is not supported`);
  }
}

/**
 * ChaCha20 (RFC 8439 §2.4): OpenSSL takes 16 bytes, the block counter (32-bit little-endian words) then the
 * nonce. A 12-byte nonce is the IETF variant (counter from 0), an 8-byte one the original with a 64-bit counter
 * and nonce; 16 bytes are taken as they are.
 */
const CHACHA20: CipherChoice = {
  name: "chacha20",
  ivLen: 16,
  aead: false,
  wrap: false,
  iv: (iv) => {
    if (iv.length === 16) return iv;
    if (iv.length !== 8 && iv.length !== 12) throw new OperationError("InvalidField", `a ChaCha20 nonce is 8, 12 or 16 bytes, not ${iv.length}`);
    const out = new Uint8Array(16);
    out.set(iv, 16 - iv.length);
    return out;
  },
};

/** ChaCha20-Poly1305 (RFC 8439 §2.8): a 12-byte nonce and a 16-byte tag. */
const CHACHA20_POLY1305: CipherChoice = { name: "chacha20-poly1305", ivLen: 12, aead: true, wrap: false };

function choose(p: SymmetricParams, keyLen: number): CipherChoice {
  if (p.alg === "DES3") return des3Cipher(p.mode);
  if (p.alg === "ChaCha20") return CHACHA20;
  if (p.alg === "ChaCha20Poly1305") {
    if (p.mode !== undefined && p.mode !== "AEAD") throw new OperationError("UnsupportedCryptographicParameters", `ChaCha20-Poly1305 with ${p.mode}`);
    return CHACHA20_POLY1305;
  }
  if (p.alg === undefined || p.alg === "AES") return aesCipher(p.mode, keyLen);
  throw new OperationError("UnsupportedCryptographicParameters", `Encrypt and Decrypt with ${p.alg} are not supported`);
}

/**
 * GCM tags of 4 and 8 bytes and of 12 to 16 (NIST SP 800-38D §5.2.1.2); Poly1305 tags of 16 bytes (RFC 8439), or
 * truncated to no fewer than 12 (the OASIS ChaCha20-Poly1305 case decrypts with a 12-byte tag).
 */
function tagLength(c: CipherChoice, p: SymmetricParams): number {
  const n = p.tagLength ?? 16;
  const ok = c.name === "chacha20-poly1305" ? n >= 12 && n <= 16 : n === 4 || n === 8 || (n >= 12 && n <= 16);
  // The OASIS GCM cases (CS-BC-M-GCM-1) expect General Failure for a tag length the mode does not allow.
  if (!ok) throw new OperationError("GeneralFailure", `an authentication tag of ${n} bytes is not allowed with ${c.name}`);
  return n;
}

/** How long a stream may wait for its next request, and how many one identity may keep open. */
export const STREAM_IDLE_MS = 5 * 60_000;
export const STREAMS_PER_IDENTITY = 64;

interface Stream {
  cipher: Cipher | Decipher;
  identity: string;
  objectId: string;
  decrypt: boolean;
  aead: boolean;
  expires: number;
}
const streams = new Map<string, Stream>();

/**
 * A new Correlation Value: the serving thread's id (4 bytes), so that another thread can say where a stream
 * lives, then 12 random bytes.
 */
function newCorrelation(): Uint8Array {
  const c = new Uint8Array(randomBytes(16));
  new DataView(c.buffer).setUint32(0, threadId);
  return c;
}

/** Whether a Correlation Value this thread does not know was made by another serving thread. */
function beganElsewhere(correlation: Uint8Array): boolean {
  if (correlation.length !== 16) return false;
  const made = new DataView(correlation.buffer, correlation.byteOffset, 16).getUint32(0);
  // Thread ids are small: a value whose first bytes are not one was not made by kmipd at all.
  return made !== threadId && made < 65_536;
}

function sweep(now: number): void {
  for (const [k, s] of streams) if (s.expires < now) streams.delete(k);
}

function concat(a: Buffer, b: Buffer): Uint8Array {
  return new Uint8Array(b.length === 0 ? a : Buffer.concat([a, b]));
}

/**
 * Encrypts or decrypts with a symmetric key: in one request, or as the Init, a middle or the Final request of a
 * stream. Returns the response payload.
 */
export function symmetric(ctx: OpContext, o: ManagedObject, p: SymmetricParams, payload: Ttlv | undefined, decrypt: boolean, data: Uint8Array): Ttlv[] {
  const op = decrypt ? "Decrypt" : "Encrypt";
  const now = Date.now();
  const correlation = bytes(payload, "CorrelationValue");
  const init = bool(payload, "InitIndicator") === true;
  const final = bool(payload, "FinalIndicator") === true;
  let stream: Stream | undefined;
  /** An IV the server chose: given back to the client, which needs it to decrypt. */
  let generatedIv: Uint8Array | undefined;
  let cipher: Cipher | Decipher;
  let aead: boolean;
  if (correlation) {
    sweep(now);
    const key = Buffer.from(correlation).toString("hex");
    stream = streams.get(key);
    // Invalid Correlation Value in KMIP 2.x; 1.x clients get Invalid Field.
    if (!stream && beganElsewhere(correlation))
      throw new OperationError(
        "InvalidCorrelationValue",
        `this ${op} stream was begun on another connection, served by another kmipd thread: continue a stream on the connection that began it`,
      );
    if (!stream || stream.identity !== ctx.identity || stream.objectId !== o.id || stream.decrypt !== decrypt)
      throw new OperationError("InvalidCorrelationValue", `no ${op} stream of object ${o.id} has this Correlation Value (it ended, expired or is another's)`);
    streams.delete(key);
    cipher = stream.cipher;
    aead = stream.aead;
  } else {
    const c = choose(p, o.material!.length);
    if (c.wrap) {
      if (init) throw new OperationError("UnsupportedCryptographicParameters", "key wrapping cannot be streamed");
      const iv = Buffer.from(c.name.endsWith("pad") ? "a65959a6" : "a6a6a6a6a6a6a6a6", "hex");
      const w = decrypt ? createDecipheriv(c.name, secretKeyOf(o), iv) : createCipheriv(c.name, secretKeyOf(o), iv);
      return [idItem(o), item("Data", concat(w.update(data), w.final()))];
    }
    let iv = bytes(payload, "IVCounterNonce");
    if (c.ivLen > 0 && !iv) {
      if (decrypt) throw new OperationError("InvalidMessage", "Decrypt needs the IVCounterNonce");
      iv = generatedIv = new Uint8Array(randomBytes(c.name === "chacha20" ? 12 : c.ivLen));
    }
    const ivFor = c.ivLen > 0 ? (c.iv ? c.iv(iv!) : iv!) : null;
    aead = c.aead;
    if (c.aead) {
      const tag = tagLength(c, p);
      const given = decrypt ? bytes(payload, "AuthenticatedEncryptionTag") : undefined;
      const options = { authTagLength: decrypt && given ? given.length : tag };
      // (Typed as GCM; ChaCha20-Poly1305 takes the same arguments.)
      cipher = decrypt
        ? createDecipheriv(c.name as CipherGCMTypes, secretKeyOf(o), ivFor as Uint8Array, options)
        : createCipheriv(c.name as CipherGCMTypes, secretKeyOf(o), ivFor as Uint8Array, options);
      const aad = bytes(payload, "AuthenticatedEncryptionAdditionalData");
      if (aad) (cipher as Cipher & { setAAD(b: Uint8Array, o?: { plaintextLength: number }): void }).setAAD(aad, { plaintextLength: data.length });
    } else {
      cipher = decrypt ? createDecipheriv(c.name, secretKeyOf(o), ivFor) : createCipheriv(c.name, secretKeyOf(o), ivFor);
      if ((p.mode ?? "CBC") === "CBC" || p.mode === "ECB") cipher.setAutoPadding(p.padding === "PKCS5");
    }
  }
  const streaming = (init || stream !== undefined) && !final;
  const out = one(cipher, aead, decrypt, payload, data, streaming, stream !== undefined);
  // The response's order: Data, IV/Counter/Nonce, Correlation Value, Authenticated Encryption Tag.
  return [
    idItem(o),
    out.data,
    generatedIv ? item("IVCounterNonce", generatedIv) : undefined,
    ...continued(ctx, o, cipher, aead, decrypt, streaming, now, correlation),
    out.tag,
  ].filter((x): x is Ttlv => x !== undefined);
}

/**
 * Runs `data` through the cipher; unless the stream goes on, finishes it (the tag of an AEAD encryption too). A
 * step of a stream that has no output (a block cipher waiting for a whole block; the end of a stream) carries
 * no Data.
 */
function one(
  cipher: Cipher | Decipher,
  aead: boolean,
  decrypt: boolean,
  payload: Ttlv | undefined,
  data: Uint8Array,
  goesOn: boolean,
  ending: boolean,
): { data?: Ttlv; tag?: Ttlv } {
  if (!goesOn && aead && decrypt) {
    const tag = bytes(payload, "AuthenticatedEncryptionTag");
    if (!tag) throw new OperationError("InvalidField", "an authenticated decryption needs the AuthenticatedEncryptionTag");
    (cipher as Decipher & { setAuthTag(t: Uint8Array): void }).setAuthTag(tag);
  }
  const body = cipher.update(data);
  if (goesOn) return { data: body.length > 0 ? item("Data", new Uint8Array(body)) : undefined };
  const all = concat(body, cipher.final());
  return {
    data: all.length > 0 || !ending ? item("Data", all) : undefined,
    tag: aead && !decrypt ? item("AuthenticatedEncryptionTag", new Uint8Array((cipher as Cipher & { getAuthTag(): Buffer }).getAuthTag())) : undefined,
  };
}

/**
 * Keeps a stream that goes on under its Correlation Value, returned to the client: a new one when the stream
 * begins, the same one for the rest of it.
 */
function continued(
  ctx: OpContext,
  o: ManagedObject,
  cipher: Cipher | Decipher,
  aead: boolean,
  decrypt: boolean,
  goesOn: boolean,
  now: number,
  existing?: Uint8Array,
): Ttlv[] {
  if (!goesOn) return [];
  sweep(now);
  if (!existing) {
    let open = 0;
    for (const s of streams.values()) if (s.identity === ctx.identity) open++;
    if (open >= STREAMS_PER_IDENTITY) throw new OperationError("PermissionDenied", `${ctx.identity} already has ${open} streams open`);
  }
  const correlation = existing ?? newCorrelation();
  streams.set(Buffer.from(correlation).toString("hex"), { cipher, identity: ctx.identity, objectId: o.id, decrypt, aead, expires: now + STREAM_IDLE_MS });
  return [item("CorrelationValue", correlation)];
}
