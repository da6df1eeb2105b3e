/**
 * The KMIP XML encoding of TTLV items (KMIP Additional Message Encodings v1.0 §6.1 "XML Encoding", the XML
 * Profile used by the OASIS KMIP test cases), read and written without an XML library.
 *
 * An item is an element named after its tag (`<ObjectType …/>`), or `<TTLV tag="0x540001" …>` for tags the
 * registry does not know (§6.1.2, §6.1.6), with a `type` attribute (omitted for a Structure, §6.1.4) and a
 * `value` attribute (§6.1.5): Integer → decimal, or for mask tags (and an AttributeValue whose attribute is a
 * mask) the bit names separated by spaces ("Encrypt Decrypt"); LongInteger and Interval → decimal; BigInteger
 * → hex of the two's complement bytes, sign-extended to a multiple of 8 bytes, no prefix; Enumeration →
 * member name (for an AttributeValue: of the sibling AttributeName's attribute) or `0x` + 8 hex digits;
 * Boolean → `true`/`false`; ByteString → hex; DateTime → ISO 8601 (`2008-03-14T11:56:40Z`); DateTimeExtended
 * → ISO 8601 with microseconds. Reading also takes `0x` hex for every number type, `0`/`1` Booleans, ISO
 * times with any UTC offset, and mask words mixed with hex or separated by `|`.
 *
 * The test cases stand for server-chosen values with placeholders (`$NOW`, `$NOW-3600`,
 * `$UNIQUE_IDENTIFIER_0`…): {@link parseXml} hands each to a resolver, or keeps it as an item with the zero
 * value of its type and a `placeholder` property, which {@link toXml} writes back.
 *
 * The reader takes what KMIP documents use: elements, attributes in double or single quotes, the five XML
 * entities and character references (control characters included, which {@link toXml} writes as `&#N;` so
 * that any TextString survives), comments, the XML declaration and processing instructions (skipped).
 * Character data inside elements carries nothing and is skipped; outside them it is an error. DOCTYPE and
 * CDATA are refused.
 * @example
 * ```ts
 * const [request] = parseXml('<RequestMessage><RequestHeader>…</RequestHeader>…</RequestMessage>');
 * toXml({ tag: 0x420057, type: 0x05, value: 2 }); // '<ObjectType type="Enumeration" value="SymmetricKey"/>'
 * ```
 * @module
 */
import { KmipDecodeError } from "./errors.ts";
import { VALUE_TEXT } from "./json.ts";
import { tagName, type KmipVersion } from "./registry.ts";
import { TTLV_TYPE, TTLV_TYPE_NAME, type Ttlv, type TtlvType } from "./ttlv.ts";

/** A TTLV item read from XML: any item may stand for a placeholder of the test cases (`$NOW`…). */
export type XmlItem = { tag: number; type: 0x01; value: XmlItem[]; placeholder?: string } | (Exclude<Ttlv, { type: 0x01 }> & { placeholder?: string });

/**
 * Maps a placeholder (`$NOW-3600`) of the item with this tag name and type name to the value text to use
 * (`2024-05-01T10:00:00Z`), or returns undefined to keep the placeholder.
 */
export type PlaceholderResolver = (placeholder: string, tag: string, type: string) => string | undefined;

/** Options of {@link parseXml}. */
export interface ParseXmlOptions {
  /** Resolves placeholders; without it every placeholder is kept. */
  resolve?: PlaceholderResolver;
  /** Maximum element nesting (default 64). */
  maxDepth?: number;
  /** Protocol version for enumeration names; by default each message's own ProtocolVersion. */
  version?: KmipVersion;
}

/** Options of {@link toXml}. */
export interface ToXmlOptions {
  /** One level of indentation (default two spaces); `""` writes everything on one line. */
  indent?: string;
  /** Protocol version for enumeration names; by default the message's own ProtocolVersion. */
  version?: KmipVersion;
}

/** A placeholder of the OASIS test cases: `$NAME`, optionally `+N`/`-N` (seconds, for `$NOW`). */
export const XML_PLACEHOLDER = /^\$[A-Z][A-Z0-9_]*(?:[+-]\d+)?$/;

interface Element {
  name: string;
  attrs: Map<string, string>;
  children: Element[];
  /** Index in the text of its `<`. */
  at: number;
}

/**
 * Parses a KMIP XML document into its items: the children of a `<KMIP>` wrapper (as in the test case
 * files) or the top-level elements. Comments, the XML declaration and processing instructions are skipped.
 * Throws {@link KmipDecodeError} for malformed XML or values, with the element path and `line:column`.
 * @param options options, or just the placeholder resolver
 */
export function parseXml(text: string, options: ParseXmlOptions | PlaceholderResolver = {}): XmlItem[] {
  const o: ParseXmlOptions = typeof options === "function" ? { resolve: options } : options;
  const doc = new Reader(text, o.maxDepth ?? 64).document();
  const items: XmlItem[] = [];
  for (const el of doc) {
    for (const m of el.name === "KMIP" && !el.attrs.size ? el.children : [el]) {
      const conv = new Converter(text, o.resolve, o.version ?? elementVersion(m));
      items.push(conv.item(m, m.name, undefined));
    }
  }
  return items;
}

/**
 * Writes an item as KMIP XML, one element per line (placeholders as their `$NAME`).
 * @param options options, or just the indentation unit
 * @example toXml(item("CryptographicUsageMask", "Encrypt Decrypt")) // '<CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>'
 */
export function toXml(item: XmlItem, options: ToXmlOptions | string = {}): string {
  const o: ToXmlOptions = typeof options === "string" ? { indent: options } : options;
  const indent = o.indent ?? "  ";
  const lines: string[] = [];
  write(lines, item, "", indent, o.version ?? VALUE_TEXT.messageVersion(item), undefined);
  return lines.join(indent === "" ? "" : "\n");
}

function write(lines: string[], item: XmlItem, pad: string, indent: string, version: KmipVersion | undefined, attrTag: number | undefined): void {
  const known = VALUE_TEXT.isKnownTag(item.tag);
  const name = known ? tagName(item.tag) : "TTLV";
  const tagAttr = known ? "" : ` tag="0x${item.tag.toString(16).padStart(6, "0")}"`;
  if (item.type === 0x01) {
    if (item.value.length === 0) {
      lines.push(`${pad}<${name}${tagAttr}/>`);
      return;
    }
    lines.push(`${pad}<${name}${tagAttr}>`);
    let attr: number | undefined;
    for (const c of item.value) {
      write(lines, c, pad + indent, indent, version, attr);
      if (c.tag === VALUE_TEXT.ATTRIBUTE_NAME && c.type === 0x07) attr = VALUE_TEXT.attributeTag(c.value);
    }
    lines.push(`${pad}</${name}>`);
    return;
  }
  const value = item.placeholder ?? valueText(item, VALUE_TEXT.contextTag(item.tag, attrTag), version);
  lines.push(`${pad}<${name}${tagAttr} type="${TTLV_TYPE_NAME[item.type]}" value="${escape(value)}"/>`);
}

function valueText(item: Exclude<Ttlv, { type: 0x01 }>, ctx: number, version: KmipVersion | undefined): string {
  switch (item.type) {
    case 0x02:
      return VALUE_TEXT.maskWords(ctx, item.value) ?? String(item.value);
    case 0x05:
      return VALUE_TEXT.enumText(ctx, item.value, version);
    case 0x03:
    case 0x0a:
      return String(item.value);
    case 0x04:
      return VALUE_TEXT.bigIntHex(item.value);
    case 0x06:
      return item.value ? "true" : "false";
    case 0x07:
      return item.value;
    case 0x08:
      return VALUE_TEXT.hex(item.value);
    case 0x09:
      return VALUE_TEXT.formatDateTime(item.value);
    case 0x0b:
      return VALUE_TEXT.formatDateTimeExtended(item.value);
  }
}

function escape(s: string): string {
  return s.replace(/[&<>"\u0000-\u001f]/g, (c) => {
    switch (c) {
      case "&":
        return "&amp;";
      case "<":
        return "&lt;";
      case ">":
        return "&gt;";
      case '"':
        return "&quot;";
      default:
        return `&#${c.charCodeAt(0)};`;
    }
  });
}

// ——— Reading ———

function xmlError(text: string, at: number, where: string, why: string): KmipDecodeError {
  let line = 1;
  let last = -1;
  for (let i = text.indexOf("\n"); i !== -1 && i < at; i = text.indexOf("\n", i + 1)) {
    line++;
    last = i;
  }
  const byte = new TextEncoder().encode(text.slice(0, at)).length;
  return new KmipDecodeError(`${where} (XML line ${line}:${at - last})`, byte, why);
}

const NAME_RE = /[A-Za-z_:][-A-Za-z0-9._:]*/y;
const SPACE_RE = /[ \t\r\n]*/y;

/** A small XML reader for what KMIP documents use: elements, attributes, entities, comments. */
class Reader {
  readonly text: string;
  readonly maxDepth: number;
  i = 0;
  stack: Element[] = [];

  constructor(text: string, maxDepth: number) {
    this.text = text;
    this.maxDepth = maxDepth;
  }

  fail(at: number, why: string): never {
    throw xmlError(this.text, at, this.stack.length ? this.stack.map((e) => e.name).join("/") : "(XML document)", why);
  }

  document(): Element[] {
    const t = this.text;
    const top: Element[] = [];
    if (t.charCodeAt(0) === 0xfeff) this.i = 1;
    while (this.i < t.length) {
      // Character data carries nothing in KMIP XML (values are attributes): inside elements it is skipped, as
      // the notes ("# [[DeriveKey using SHA_256]]") that some OASIS test cases have between messages.
      const lt = t.indexOf("<", this.i);
      const end = lt === -1 ? t.length : lt;
      if (!this.stack.length) {
        const text = /[^ \t\r\n]/.exec(t.slice(this.i, end));
        if (text) this.fail(this.i + text.index, "text outside the elements");
      }
      if (lt === -1) break;
      this.i = lt;
      if (t.startsWith("<!--", lt)) {
        const close = t.indexOf("-->", lt + 4);
        if (close === -1) this.fail(lt, "unterminated comment");
        this.i = close + 3;
      } else if (t.startsWith("<?", lt)) {
        const close = t.indexOf("?>", lt + 2);
        if (close === -1) this.fail(lt, "unterminated processing instruction");
        this.i = close + 2;
      } else if (t.startsWith("<!", lt)) {
        this.fail(lt, "DOCTYPE declarations and CDATA sections are not supported");
      } else if (t.startsWith("</", lt)) {
        this.closeTag(lt);
      } else {
        const isTop = this.stack.length === 0;
        const el = this.openTag(lt);
        if (isTop) top.push(el);
      }
    }
    if (this.stack.length) {
      const open = this.stack[this.stack.length - 1];
      this.fail(t.length, `<${open.name}> opened at ${position(t, open.at)} is not closed`);
    }
    return top;
  }

  name(at: number): string {
    NAME_RE.lastIndex = this.i;
    const m = NAME_RE.exec(this.text);
    if (!m) this.fail(at, `expected a name at ${position(this.text, this.i)}`);
    this.i += m[0].length;
    return m[0];
  }

  space(): number {
    SPACE_RE.lastIndex = this.i;
    const n = SPACE_RE.exec(this.text)?.[0].length ?? 0;
    this.i += n;
    return n;
  }

  /** Reads `<name attr="v"…>` (and pushes the element: its children follow) or `<name …/>`. */
  openTag(lt: number): Element {
    const t = this.text;
    this.i = lt + 1;
    const el: Element = { name: this.name(lt), attrs: new Map(), children: [], at: lt };
    for (;;) {
      const sp = this.space();
      if (this.i >= t.length) this.fail(lt, `unterminated start tag <${el.name}>`);
      if (t.startsWith("/>", this.i)) {
        this.i += 2;
        this.attach(el, lt);
        return el;
      }
      if (t[this.i] === ">") {
        this.i++;
        this.attach(el, lt);
        this.stack.push(el);
        return el;
      }
      if (!sp) this.fail(this.i, `expected whitespace, ">" or "/>" in <${el.name}>`);
      const attrAt = this.i;
      const an = this.name(attrAt);
      this.space();
      if (t[this.i] !== "=") this.fail(this.i, `expected "=" after attribute ${an}`);
      this.i++;
      this.space();
      const q = t[this.i];
      if (q !== '"' && q !== "'") this.fail(this.i, `attribute ${an} value must be quoted`);
      const close = t.indexOf(q, this.i + 1);
      if (close === -1) this.fail(attrAt, `unterminated value of attribute ${an}`);
      const raw = t.slice(this.i + 1, close);
      const ltIn = raw.indexOf("<");
      if (ltIn !== -1) this.fail(this.i + 1 + ltIn, `"<" in the value of attribute ${an}`);
      if (el.attrs.has(an)) this.fail(attrAt, `duplicate attribute ${an}`);
      el.attrs.set(an, this.entities(raw.replace(/\r\n?/g, "\n").replace(/[\t\n]/g, " "), this.i + 1));
      this.i = close + 1;
    }
  }

  attach(el: Element, lt: number): void {
    if (this.stack.length >= this.maxDepth) this.fail(lt, `elements nested deeper than ${this.maxDepth}`);
    if (this.stack.length) this.stack[this.stack.length - 1].children.push(el);
  }

  closeTag(lt: number): void {
    this.i = lt + 2;
    const name = this.name(lt);
    this.space();
    if (this.text[this.i] !== ">") this.fail(this.i, `expected ">" to end </${name}>`);
    this.i++;
    const open = this.stack.pop();
    if (!open) this.fail(lt, `</${name}> closes nothing`);
    if (open.name !== name) {
      this.stack.push(open);
      this.fail(lt, `</${name}> does not close <${open.name}> opened at ${position(this.text, open.at)}`);
    }
  }

  entities(s: string, at: number): string {
    if (!s.includes("&")) return s;
    return s.replace(/&([^;&]*)(;?)/g, (all, body: string, semi: string, off: number) => {
      const where = at + off;
      if (!semi) this.fail(where, `"&" must start an entity such as &amp;`);
      switch (body) {
        case "amp":
          return "&";
        case "lt":
          return "<";
        case "gt":
          return ">";
        case "quot":
          return '"';
        case "apos":
          return "'";
      }
      const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(body);
      const cp = m ? parseInt(m[1] ?? m[2], m[1] ? 16 : 10) : NaN;
      // Control characters, NUL included, are taken as character references (XML 1.0 forbids some) so that
      // every TextString survives toXml; surrogates and values beyond Unicode are not characters.
      if (!(cp >= 0 && cp <= 0x10ffff) || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(where, `unknown or invalid entity ${all}`);
      return String.fromCodePoint(cp);
    });
  }
}

function position(text: string, at: number): string {
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  return `${line}:${at - before.lastIndexOf("\n")}`;
}

/** The ProtocolVersion in a message element's header. */
function elementVersion(m: Element): KmipVersion | undefined {
  const child = (e: Element | undefined, name: string) => e?.children.find((c) => c.name === name);
  const pv = child(child(m, "RequestHeader") ?? child(m, "ResponseHeader"), "ProtocolVersion");
  const major = Number(child(pv, "ProtocolVersionMajor")?.attrs.get("value"));
  const minor = Number(child(pv, "ProtocolVersionMinor")?.attrs.get("value"));
  return Number.isInteger(major) && Number.isInteger(minor) ? { major, minor } : undefined;
}

const TYPE_BY_NAME: ReadonlyMap<string, TtlvType> = new Map(Object.entries(TTLV_TYPE));

function zero(tag: number, type: TtlvType, placeholder: string): XmlItem {
  switch (type) {
    case 0x01:
      return { tag, type, value: [], placeholder };
    case 0x02:
    case 0x05:
    case 0x0a:
      return { tag, type, value: 0, placeholder };
    case 0x03:
    case 0x04:
    case 0x09:
    case 0x0b:
      return { tag, type, value: 0n, placeholder };
    case 0x06:
      return { tag, type, value: false, placeholder };
    case 0x07:
      return { tag, type, value: "", placeholder };
    case 0x08:
      return { tag, type, value: new Uint8Array(0), placeholder };
  }
}

/** Turns elements into items, with the enumeration context of AttributeValues. */
class Converter {
  readonly text: string;
  readonly resolve: PlaceholderResolver | undefined;
  readonly version: KmipVersion | undefined;

  constructor(text: string, resolve: PlaceholderResolver | undefined, version: KmipVersion | undefined) {
    this.text = text;
    this.resolve = resolve;
    this.version = version;
  }

  item(el: Element, path: string, attrTag: number | undefined): XmlItem {
    const fail = (why: string): never => {
      throw xmlError(this.text, el.at, path, why);
    };
    for (const a of el.attrs.keys()) {
      if (a !== "type" && a !== "value" && !(a === "tag" && el.name === "TTLV")) fail(`unexpected attribute ${a} (an item has only type and value)`);
    }
    let tagText = el.name;
    if (el.name === "TTLV") {
      const t = el.attrs.get("tag");
      if (t === undefined) return fail(`<TTLV> needs a tag attribute (tag="0x540001")`);
      tagText = t;
    }
    const tag = VALUE_TEXT.parseTag(tagText);
    if (typeof tag === "string") return fail(tag);
    const typeText = el.attrs.get("type");
    const type = typeText === undefined ? TTLV_TYPE.Structure : TYPE_BY_NAME.get(typeText);
    if (type === undefined) return fail(`"${typeText}" is not a TTLV type name`);
    const value = el.attrs.get("value");
    if (type === TTLV_TYPE.Structure) {
      if (value !== undefined) fail("a Structure has no value attribute");
      const children: XmlItem[] = [];
      let attr: number | undefined;
      for (const c of el.children) {
        const x = this.item(c, `${path}/${c.name}`, attr);
        if (x.tag === VALUE_TEXT.ATTRIBUTE_NAME && x.type === 0x07) attr = VALUE_TEXT.attributeTag(x.value);
        children.push(x);
      }
      return { tag, type, value: children };
    }
    if (el.children.length) fail(`a ${typeText} has no child elements`);
    if (value === undefined) return fail(`a ${typeText} needs a value attribute`);
    let v = value;
    if (XML_PLACEHOLDER.test(value)) {
      const r = this.resolve?.(value, tagName(tag), TTLV_TYPE_NAME[type]);
      if (r === undefined) return zero(tag, type, value);
      v = r;
    }
    const r = VALUE_TEXT.parseText(tag, type, v, VALUE_TEXT.contextTag(tag, attrTag), this.version, " ");
    return typeof r === "string" ? fail(r) : r;
  }
}
