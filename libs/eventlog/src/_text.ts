/**
 * Text in event data (private): ASCII/UTF-8 strings (grub, EV_EFI_ACTION) and UCS-2 strings (S-CRTM version,
 * systemd-boot), told apart by their bytes.
 * @module
 */
import { ucs2Units } from "./_codec.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Whether `s` has no control characters other than tab and line breaks. */
export function isPrintable(s: string): boolean {
  return !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.test(s);
}

/** CHAR16 text: the high byte of most units is 0 (an odd last byte must be a stray 0, as some loaders log). */
function looksUcs2(b: Uint8Array): boolean {
  if (b.length < 2 || (b.length % 2 !== 0 && b[b.length - 1] !== 0)) return false;
  let zeroHigh = 0;
  const units = b.length >> 1;
  for (let i = 1; i < 2 * units; i += 2) if (b[i] === 0) zeroHigh++;
  return zeroHigh * 2 >= units && b[1] === 0;
}

/** Strips trailing NULs. */
export function trimNuls(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0) end--;
  return s.slice(0, end);
}

/** The text in `data` (trailing NULs removed), or undefined when the bytes are not printable text. */
export function asText(data: Uint8Array): string | undefined {
  let s: string;
  if (looksUcs2(data)) s = ucs2Units(data);
  else {
    try {
      s = utf8.decode(data);
    } catch {
      return undefined;
    }
  }
  s = trimNuls(s);
  return isPrintable(s) ? s : undefined;
}
