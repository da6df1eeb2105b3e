/**
 * Distinguished names as unambiguous strings (RFC 4514), for naming a certificate's holder: one string per
 * name, and the name back from its string.
 *
 * The string form follows RFC 4514: RDNs in reverse order (the last RDN of the DER sequence first), joined
 * with `,`; the attributes of a multi-valued RDN joined with `+`; types by their RFC 4514 short name (`CN`, `L`,
 * `ST`, `O`, `OU`, `C`, `STREET`, `DC`, `UID`) or dotted OID; `,` `+` `"` `\` `<` `>` `;` `=`, a leading `#`
 * or space, a trailing space and control characters escaped. A value that is not a directory string, or whose
 * text does not re-encode to the same bytes, is written as `#` and the hex of its DER.
 *
 * The string type of a value (PrintableString, UTF8String, …) is not part of the string, as RFC 5280 §7.1 name
 * matching ignores it: `CN=bob` in PrintableString and in UTF8String are the same name. Any other difference
 * (structure, attribute types, text) gives a different string, and {@link parseDistinguishedName} gives back the
 * DER, with each value in the string type a CA picks for its text (PrintableString when it fits, IA5String for
 * `DC` and e-mail addresses, UTF8String otherwise).
 *
 * @module
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { AttributeTypeAndValue, AttributeValue, Certificate, Name, RelativeDistinguishedName } from "@peculiar/asn1-x509";
import { escapeValue, toHex } from "./_name_text.ts";
import { PkiError } from "./errors.ts";
import { formatName } from "./format_name.ts";

/** One attribute of a name. */
export interface NameAttribute {
  /** Dotted OID of the attribute type. */
  readonly oid: string;
  /** Its RFC 4514 short name, or the dotted OID. */
  readonly type: string;
  /** Its text, or undefined when the value is not a directory string (then see `der`). */
  readonly text: string | undefined;
  /** DER of the value. */
  readonly der: Uint8Array;
}

/** A distinguished name in its forms. */
export interface DistinguishedName {
  /** The unambiguous RFC 4514 string: two names that differ (other than in string types) never share it. */
  readonly rfc4514: string;
  /** The form for people and logs ({@link formatName}: `O=Example, CN=bob`, RDNs in certificate order); never compared. */
  readonly readable: string;
  /** DER of the Name. */
  readonly der: Uint8Array;
  /** The RDNs in DER order, each its attributes. */
  readonly rdns: readonly (readonly NameAttribute[])[];
}

const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "2.5.4.9": "STREET",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
};
const OIDS: Record<string, string> = Object.fromEntries(Object.entries(SHORT_NAMES).map(([oid, n]) => [n, oid]));
/** Types whose values are IA5String (RFC 4519 DC, PKCS #9 emailAddress). */
const IA5_TYPES = new Set(["0.9.2342.19200300.100.1.25", "1.2.840.113549.1.9.1"]);
const STRING_CHOICES = ["printableString", "utf8String", "ia5String", "bmpString", "universalString", "teletexString"] as const;
type StringChoice = (typeof STRING_CHOICES)[number];

/** The string type a CA picks for `text` in an attribute of type `oid`. */
function canonicalChoice(oid: string, text: string): StringChoice {
  if (IA5_TYPES.has(oid) && /^[\x00-\x7f]*$/.test(text)) return "ia5String";
  if (/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) return "printableString";
  return "utf8String";
}

function valueDer(v: AttributeValue): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(v));
}

/** The value's text when it is a string that re-encodes to the same bytes (so text and type say it all). */
function textOf(v: AttributeValue, der: Uint8Array): string | undefined {
  const choice = STRING_CHOICES.find((c) => v[c] !== undefined);
  if (!choice) return undefined;
  const text = v[choice]!;
  // Lone surrogates have no UTF-8 form for the string to carry.
  if (!text.isWellFormed()) return undefined;
  let again: Uint8Array;
  try {
    again = valueDer(new AttributeValue({ [choice]: text }));
  } catch {
    return undefined;
  }
  return toHex(again) === toHex(der) ? text : undefined;
}

function fromAsn(name: Name, der: Uint8Array): DistinguishedName {
  const rdns = name.map((rdn) =>
    rdn.map((atv): NameAttribute => {
      const vder = valueDer(atv.value);
      return { oid: atv.type, type: SHORT_NAMES[atv.type] ?? atv.type, text: textOf(atv.value, vder), der: vder };
    }),
  );
  const rfc4514 = [...rdns]
    .reverse()
    .map((rdn) => rdn.map((a) => `${a.type}=${a.text !== undefined ? escapeValue(a.text, "rfc4514") : `#${toHex(a.der)}`}`).join("+"))
    .join(",");
  return { rfc4514, readable: formatName(name), der, rdns };
}

/**
 * The forms of the distinguished name whose DER (an X.501 Name) is `nameDer`. Throws PkiError `PKI_PARSE`.
 *
 * @example
 * ```ts
 * distinguishedName(der).rfc4514; // "CN=bob\\,O\\=Example,O=Example"
 * ```
 */
export function distinguishedName(nameDer: Uint8Array): DistinguishedName {
  let name: Name;
  try {
    name = AsnConvert.parse(nameDer, Name);
  } catch (e) {
    throw new PkiError("PKI_PARSE", `Cannot decode the distinguished name: ${(e as Error).message}`, { cause: e });
  }
  // Re-encoded, not the input: trailing bytes or a non-DER encoding would otherwise make one name two.
  const der = new Uint8Array(AsnConvert.serialize(name));
  return fromAsn(name, der);
}

/** The subject of the DER certificate `certificateDer`. Throws PkiError `PKI_PARSE`. */
export function certificateSubject(certificateDer: Uint8Array): DistinguishedName {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(certificateDer, Certificate);
  } catch (e) {
    throw new PkiError("PKI_PARSE", `Cannot decode the certificate: ${(e as Error).message}`, { cause: e });
  }
  return distinguishedName(new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.subject)));
}

/** The issuer of the DER certificate `certificateDer`. Throws PkiError `PKI_PARSE`. */
export function certificateIssuer(certificateDer: Uint8Array): DistinguishedName {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(certificateDer, Certificate);
  } catch (e) {
    throw new PkiError("PKI_PARSE", `Cannot decode the certificate: ${(e as Error).message}`, { cause: e });
  }
  return distinguishedName(new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.issuer)));
}

function bad(text: string, at: number, what: string): PkiError {
  return new PkiError("PKI_PARSE", `Cannot parse distinguished name ${JSON.stringify(text)} at character ${at}: ${what}`);
}

/** Splits at unescaped `sep`, keeping escapes; returns the parts and their offsets. */
function split(text: string, start: number, end: number, sep: string): [number, number][] {
  const parts: [number, number][] = [];
  let from = start;
  for (let i = start; i < end; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === sep) {
      parts.push([from, i]);
      from = i + 1;
    }
  }
  parts.push([from, end]);
  return parts;
}

function unescape(text: string, start: number, end: number): string {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = start; i < end; i++) {
    const c = text[i];
    if (c === "\\") {
      const pair = text.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(pair)) {
        bytes.push(parseInt(pair, 16));
        i += 2;
      } else if (i + 1 < end && ',+"\\<>;=# '.includes(text[i + 1])) {
        bytes.push(text.charCodeAt(i + 1));
        i++;
      } else throw bad(text, i, "a backslash must precede a special character or two hex digits");
    } else if ('"+,;<>\\'.includes(c) || c.charCodeAt(0) === 0) throw bad(text, i, `unescaped ${JSON.stringify(c)}`);
    else {
      // One whole code point (a surrogate pair stays together).
      const cp = text.codePointAt(i)!;
      const s = String.fromCodePoint(cp);
      if (!s.isWellFormed()) throw bad(text, i, "a lone surrogate");
      bytes.push(...enc.encode(s));
      i += s.length - 1;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    throw bad(text, start, "escaped bytes are not UTF-8");
  }
}

/**
 * The name an RFC 4514 string stands for (as {@link distinguishedName} writes it; `\XX` escapes, other short
 * names' case and the `#` form of any value are accepted too). Throws PkiError `PKI_PARSE` naming the character.
 */
export function parseDistinguishedName(text: string): DistinguishedName {
  const name = new Name();
  if (text.length > 0) {
    const rdns = split(text, 0, text.length, ",").reverse();
    for (const [rs, re] of rdns) {
      const rdn = new RelativeDistinguishedName();
      for (const [as, ae] of split(text, rs, re, "+")) {
        const eq = text.indexOf("=", as);
        if (eq < 0 || eq >= ae) throw bad(text, as, "an attribute needs TYPE=VALUE");
        const typeText = text.slice(as, eq);
        let oid: string;
        if (/^[0-9]+(\.[0-9]+)+$/.test(typeText)) oid = typeText;
        else if (/^[A-Za-z][A-Za-z0-9-]*$/.test(typeText) && OIDS[typeText.toUpperCase()]) oid = OIDS[typeText.toUpperCase()];
        else throw bad(text, as, `unknown attribute type ${JSON.stringify(typeText)}`);
        let value: AttributeValue;
        if (text[eq + 1] === "#") {
          const h = text.slice(eq + 2, ae);
          if (!/^([0-9a-fA-F]{2})+$/.test(h)) throw bad(text, eq + 1, "a # value needs hex digits");
          try {
            value = AsnConvert.parse(Buffer.from(h, "hex"), AttributeValue);
          } catch (e) {
            throw bad(text, eq + 1, `the # value is not DER: ${(e as Error).message}`);
          }
          // A hex value that is a string this module would write as text is fine: it names the same.
        } else {
          const v = unescape(text, eq + 1, ae);
          value = new AttributeValue({ [canonicalChoice(oid, v)]: v });
        }
        rdn.push(new AttributeTypeAndValue({ type: oid, value }));
      }
      name.push(rdn);
    }
  }
  let der: Uint8Array;
  try {
    der = new Uint8Array(AsnConvert.serialize(name));
  } catch (e) {
    throw bad(text, 0, `cannot be encoded: ${(e as Error).message}`);
  }
  return distinguishedName(der);
}
