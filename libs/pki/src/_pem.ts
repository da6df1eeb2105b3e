/**
 * PEM armor (RFC 7468): encoding DER as PEM, and finding PEM blocks inside text that may carry
 * other lines around them (such as an `openssl x509 -text` dump before the block).
 *
 * @module
 */
import { PkiError } from "./errors.ts";

/** A decoded PEM block. */
export interface PemBlock {
  /** The label, e.g. `CERTIFICATE`, `PRIVATE KEY`. */
  readonly label: string;
  /** The decoded bytes. */
  readonly der: Uint8Array<ArrayBuffer>;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Encodes DER bytes as PEM with 64-character lines and a final newline. */
export function derToPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const base64 = toBase64(der instanceof Uint8Array ? der : new Uint8Array(der));
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** All PEM blocks in `text`, in order. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const body = (match[2] ?? "").replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) continue;
    let der: Uint8Array<ArrayBuffer>;
    try {
      der = fromBase64(body);
    } catch {
      continue; // not valid base64 (bad padding): not a PEM block
    }
    blocks.push({ label: match[1] ?? "", der });
  }
  return blocks;
}

/**
 * The first PEM block in `text` whose label is one of `labels`.
 * @throws PkiError PKI_PARSE naming `what` when there is none.
 */
export function pemBlock(text: string, labels: readonly string[], what: string): PemBlock {
  const block = pemBlocks(text).find((b) => labels.includes(b.label));
  if (block === undefined) {
    throw new PkiError("PKI_PARSE", `Cannot parse ${what}: no PEM block labelled ${labels.map((l) => `"${l}"`).join(" or ")}`);
  }
  return block;
}

/** Copies bytes into a fresh, exactly sized ArrayBuffer-backed Uint8Array. */
export function ownBytes(bytes: Uint8Array | ArrayBuffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
}

// atob/btoa rather than Buffer: they exist in every runtime, and this lib does no Node-only work.
function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
