/**
 * The two wrap modes, each a seal and an open over KMIP with the primary key, which never leaves the key server.
 * - A256GCM: KMIP Encrypt/Decrypt AES-GCM, our 12-byte random IV, the AAD, a 16-byte tag.
 * - CBC-HMAC-SHA256 (for servers without GCM): KMIP Encrypt AES-CBC/PKCS5 with a 16-byte random IV, then KMIP MAC
 *   HMAC-SHA256 with the same key over AAD‖IV‖ciphertext; open checks that MAC (constant-time) before Decrypt.
 * @module
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { bytes, item, struct } from "@tessera/kmip";
import type { KmipClient } from "@tessera/kmip-client";
import { ProviderKeyError } from "./errors.ts";
import { kmipCall } from "./_kmip_faults.ts";
import type { WrapMode } from "./wrapped_form.ts";

/** What a seal produces. */
export interface Sealed {
  iv: Uint8Array;
  ct: Uint8Array;
  tag: Uint8Array;
}

/** Where an error message says the key is. */
export interface KeyRef {
  keyId: string;
  /** e.g. `provider "kms-1" key version 2`, for messages. */
  label: string;
}

/** Seals `plaintext` in `mode` with the key. */
export function seal(client: KmipClient, key: KeyRef, mode: WrapMode, aad: Uint8Array, plaintext: Uint8Array): Promise<Sealed> {
  return mode === "A256GCM" ? sealGcm(client, key, aad, plaintext) : sealCbc(client, key, aad, plaintext);
}

/** Opens what {@link seal} made; a failed authentication is ProviderKeyError UNWRAP_FAILED. */
export function open(client: KmipClient, key: KeyRef, mode: WrapMode, aad: Uint8Array, sealed: Sealed): Promise<Uint8Array> {
  return mode === "A256GCM" ? openGcm(client, key, aad, sealed) : openCbc(client, key, aad, sealed);
}

function unsupported(key: KeyRef, mode: WrapMode, what: string): ProviderKeyError {
  return new ProviderKeyError("MODE_UNSUPPORTED", `The key server's ${mode} with ${key.label} (key ${JSON.stringify(key.keyId)}) ${what}`);
}

function unwrapFailed(key: KeyRef, what: string, cause?: Error): ProviderKeyError {
  return new ProviderKeyError("UNWRAP_FAILED", `The wrapped key does not open with ${key.label}: ${what}`, cause ? { cause } : undefined);
}

async function sealGcm(client: KmipClient, key: KeyRef, aad: Uint8Array, plaintext: Uint8Array): Promise<Sealed> {
  const iv = new Uint8Array(randomBytes(12));
  const r = await kmipCall(key.keyId, () => client.encrypt(key.keyId, plaintext, { mode: "GCM", iv, aad, tagLength: 16 }));
  if (r.iv !== undefined && !equal(r.iv, iv)) throw unsupported(key, "A256GCM", "used an IV other than the one given");
  if (r.tag?.length !== 16) throw unsupported(key, "A256GCM", `answered ${r.tag ? `a ${r.tag.length}-byte tag` : "no tag"} (16 bytes expected)`);
  if (r.data.length !== plaintext.length) throw unsupported(key, "A256GCM", `answered ${r.data.length} bytes for ${plaintext.length}`);
  return { iv, ct: r.data, tag: r.tag };
}

function openGcm(client: KmipClient, key: KeyRef, aad: Uint8Array, s: Sealed): Promise<Uint8Array> {
  // Servers differ in how they refuse a bad tag (kmipd: Cryptographic Failure, PyKMIP: General Failure), so any
  // refusal of this Decrypt other than a missing or inactive key is an authentication failure.
  return kmipCall(
    key.keyId,
    () => client.decrypt(key.keyId, s.ct, { mode: "GCM", iv: s.iv, aad, tag: s.tag, tagLength: 16 }),
    (e) => unwrapFailed(key, `the key server refused to decrypt it (${e.message})`, e),
  );
}

async function sealCbc(client: KmipClient, key: KeyRef, aad: Uint8Array, plaintext: Uint8Array): Promise<Sealed> {
  const iv = new Uint8Array(randomBytes(16));
  const r = await kmipCall(key.keyId, () => client.encrypt(key.keyId, plaintext, { mode: "CBC", padding: "PKCS5", iv }));
  const expected = (Math.floor(plaintext.length / 16) + 1) * 16;
  if (r.data.length !== expected)
    throw unsupported(key, "CBC-HMAC-SHA256", `answered ${r.data.length} bytes of ciphertext for ${plaintext.length} (PKCS#5: ${expected})`);
  const tag = await mac(client, key, concat(aad, iv, r.data));
  return { iv, ct: r.data, tag };
}

async function openCbc(client: KmipClient, key: KeyRef, aad: Uint8Array, s: Sealed): Promise<Uint8Array> {
  const tag = await mac(client, key, concat(aad, s.iv, s.ct));
  if (tag.length !== s.tag.length || !timingSafeEqual(tag, s.tag)) throw unwrapFailed(key, "its HMAC-SHA256 does not match");
  return kmipCall(
    key.keyId,
    () => client.decrypt(key.keyId, s.ct, { mode: "CBC", padding: "PKCS5", iv: s.iv }),
    (e) => unwrapFailed(key, `the key server refused to decrypt it (${e.message})`, e),
  );
}

/** KMIP MAC, HMAC-SHA256 with the (AES) primary key: needs MAC Generate in the key's usage mask. */
async function mac(client: KmipClient, key: KeyRef, data: Uint8Array): Promise<Uint8Array> {
  const p = await kmipCall(key.keyId, () =>
    client.request("MAC", [
      item("UniqueIdentifier", key.keyId),
      struct("CryptographicParameters", [item("CryptographicAlgorithm", "HMAC_SHA256")]),
      item("Data", data),
    ]),
  );
  const out = bytes(p, "MACData");
  if (out?.length !== 32) throw unsupported(key, "CBC-HMAC-SHA256", `answered the MAC with ${out ? `${out.length} bytes` : "no MAC Data"} (32 expected)`);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
