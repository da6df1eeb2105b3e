/**
 * How an attribute value of an X.501 Name is written as text (private): the one escaping routine of both name
 * forms, `formatName`'s readable form and `distinguishedName`'s RFC 4514 identity string. Depends on
 * nothing, so that the name modules load with @peculiar/asn1-schema and asn1-x509 alone.
 * @module
 */

/** The two ways Tessera writes a name: for people and logs, or as the unambiguous identity string. */
export type NameForm = "readable" | "rfc4514";

/**
 * Escapes an attribute value as RFC 4514 section 2.4 says: `,` `+` `"` `\` `<` `>` `;`, a leading `#` or space
 * and a trailing space by a backslash; control characters (U+0000 to U+001F, U+007F) as a backslash and two hex
 * digits, so that a value can never break a line of a log. The `rfc4514` form also escapes `=` (so that a value
 * never reads as a type) and writes the hex digits in lower case; the `readable` form writes them in upper case
 * (`\0A`, as @peculiar/x509 writes a newline).
 */
export function escapeValue(text: string, form: NameForm): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) {
      const h = code.toString(16).padStart(2, "0");
      out += `\\${form === "rfc4514" ? h : h.toUpperCase()}`;
    } else if (',+"\\<>;'.includes(c) || (c === "=" && form === "rfc4514")) out += `\\${c}`;
    else if ((c === "#" || c === " ") && i === 0) out += `\\${c}`;
    else if (c === " " && i === text.length - 1) out += "\\ ";
    else out += c;
  }
  return out;
}

/** Lower-case hex of `bytes` (a value written as `#` and its DER). */
export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const x of b) out += x.toString(16).padStart(2, "0");
  return out;
}
