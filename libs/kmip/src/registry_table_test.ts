import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ATTRIBUTE_NAMES, ENUMERATIONS, MASKS, TAGS, type TtlvTypeName } from "./registry_table.ts";
import { fixturePath } from "@tessera/fixtures";

// ---------------------------------------------------------------------------------------------------
// Helpers over the table (deliberately independent of registry.ts: this checks the data itself).

type TagRow = (typeof TAGS)[number];
const VERSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1"] as const;
const TYPE_NAMES: readonly TtlvTypeName[] = [
  "Structure",
  "Integer",
  "LongInteger",
  "BigInteger",
  "Enumeration",
  "Boolean",
  "TextString",
  "ByteString",
  "DateTime",
  "Interval",
  "DateTimeExtended",
];

const tagByName = new Map<string, TagRow>(TAGS.map((row) => [row[0], row]));
const attrTagByText = new Map<string, string>(ATTRIBUTE_NAMES.map(([text, tagName]) => [text, tagName]));

function lookup(enumeration: string, name: string): readonly (readonly [string, number, string?])[] {
  return (ENUMERATIONS[enumeration] ?? []).filter(([n]) => n === name);
}

/** The member a writer of protocol version `version` uses for `value`: the newest one defined by then. */
function spellingAt(enumeration: string, value: number, version: string): string | undefined {
  const candidates = (ENUMERATIONS[enumeration] ?? []).filter(([, v, since]) => v === value && (since ?? "0") <= version);
  candidates.sort((a, b) => (a[2] ?? "0").localeCompare(b[2] ?? "0"));
  return candidates.at(-1)?.[0];
}

// ---------------------------------------------------------------------------------------------------
// The OASIS test vectors.

const FIXTURES = fixturePath("kmip-test-vectors");
const DIRS: readonly (readonly [string, string])[] = [
  ["v1.4", "1.4"],
  ["v2.1/mandatory", "2.1"],
  ["v2.1/optional", "2.1"],
];

interface Element {
  file: string;
  version: string; // protocol version of the test-vector set
  name: string;
  type: string | undefined;
  value: string | undefined;
  /** The AttributeName text of the enclosing structure seen before this element (for AttributeValue). */
  attributeName: string | undefined;
}

const TOKEN = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[\w:-]+\s*=\s*"[^"]*")*)\s*(\/?)>/g;
const ATTR = /([\w:-]+)\s*=\s*"([^"]*)"/g;

function walk(file: string, version: string, xml: string): Element[] {
  const out: Element[] = [];
  // one frame per open element: the last AttributeName text seen among its children
  const stack: { name: string; attributeName: string | undefined }[] = [];
  for (const m of xml.matchAll(TOKEN)) {
    const [whole, close, name, attrs, selfClosing] = m;
    if (whole.startsWith("<!--") || whole.startsWith("<?") || name === undefined) continue;
    if (close) {
      const top = stack.pop();
      if (top?.name !== name) throw new Error(`${file}: </${name}> closes <${top?.name ?? "nothing"}>`);
      continue;
    }
    if (name === "KMIP" && stack.length === 0) {
      if (!selfClosing) stack.push({ name, attributeName: undefined });
      continue;
    }
    const a = new Map<string, string>();
    for (const [, k, v] of (attrs ?? "").matchAll(ATTR)) a.set(k, v);
    const parent = stack.at(-1);
    const el: Element = { file, version, name, type: a.get("type"), value: a.get("value"), attributeName: parent?.attributeName };
    out.push(el);
    if (name === "AttributeName" && parent && el.value !== undefined) parent.attributeName = el.value;
    if (!selfClosing) stack.push({ name, attributeName: undefined });
  }
  if (stack.length !== 0) throw new Error(`${file}: unclosed <${stack.map((f) => f.name).join("><")}>`);
  return out;
}

function loadFixtures(): { files: string[]; elements: Element[] } {
  const files: string[] = [];
  const elements: Element[] = [];
  for (const [dir, version] of DIRS) {
    for (const f of readdirSync(join(FIXTURES, dir))
      .filter((n) => n.endsWith(".xml"))
      .sort()) {
      const path = join(FIXTURES, dir, f);
      files.push(path);
      elements.push(...walk(`${dir}/${f}`, version, readFileSync(path, "utf8")));
    }
  }
  return { files, elements };
}

const isHex = (v: string): boolean => /^0x[0-9a-f]+$/i.test(v);
const isPlaceholder = (v: string): boolean => v.startsWith("$");

// ---------------------------------------------------------------------------------------------------
// The table on its own.

test("tags are unique by name and by number, well-formed, and point at existing enumerations/masks", (t) => {
  const names = new Set<string>();
  const numbers = new Set<number>();
  for (const [name, tag, type, since, enumeration] of TAGS) {
    t.false(names.has(name), `duplicate tag name ${name}`);
    t.false(numbers.has(tag), `duplicate tag number 0x${tag.toString(16)}`);
    names.add(name);
    numbers.add(tag);
    t.regex(name, /^[A-Z][A-Za-z0-9_]*$/, `tag name ${name}`);
    t.true(tag >= 0x420001 && tag <= 0x42ffff, `${name}: 0x${tag.toString(16)} is outside the KMIP range`);
    t.true(type === "*" || TYPE_NAMES.includes(type), `${name}: type ${type}`);
    t.true((VERSIONS as readonly string[]).includes(since), `${name}: version ${since}`);
    if (enumeration !== undefined) {
      t.true(enumeration in ENUMERATIONS || enumeration in MASKS, `${name}: no enumeration or mask ${enumeration}`);
      if (enumeration in MASKS) t.is(type, "Integer", `${name}: masks are Integers`);
      else t.true(type === "Enumeration" || type === "*", `${name}: an enumeration on a ${type}`);
    } else {
      t.not(type, "Enumeration", `${name}: an Enumeration tag without an enumeration`);
    }
  }
  // tags come in number order and every tag 0x420001..0x420176 is there except the (Reserved) ones
  for (let i = 1; i < TAGS.length; i++) t.true(TAGS[i][1] > TAGS[i - 1][1], `${TAGS[i][0]} out of order`);
  const reserved = new Set([0x420137, 0x42013e, 0x42013f]);
  for (let tag = 0x420001; tag <= 0x420176; tag++) {
    if (!reserved.has(tag)) t.true(numbers.has(tag), `tag 0x${tag.toString(16)} is missing`);
  }
  t.false(
    [...numbers].some((n) => reserved.has(n)),
    "a (Reserved) tag number is registered",
  );
});

test("enumeration values are unique within an enumeration for every protocol version", (t) => {
  for (const [enumeration, members] of Object.entries(ENUMERATIONS)) {
    const names = new Set<string>();
    for (const [name, value, since] of members) {
      t.false(names.has(name), `${enumeration}.${name} listed twice`);
      names.add(name);
      t.regex(name, /^[A-Za-z_][A-Za-z0-9_]*$/, `${enumeration}.${name}`);
      t.true(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, `${enumeration}.${name} = ${value}`);
      if (since !== undefined) t.true((VERSIONS as readonly string[]).includes(since), `${enumeration}.${name}: version ${since}`);
    }
    // Per version, each value has one newest spelling: no two members share a value and a first version.
    const seen = new Set<string>();
    for (const [name, value, since] of members) {
      const key = `${value}@${since ?? "-"}`;
      t.false(seen.has(key), `${enumeration}: value 0x${value.toString(16)} defined twice for ${since ?? "its first version"} (${name})`);
      seen.add(key);
    }
    for (const version of VERSIONS) {
      const values = new Map<number, string>();
      for (const [name, value, since] of members) {
        if ((since ?? "0") > version) continue;
        const newest = spellingAt(enumeration, value, version);
        if (newest !== name) continue;
        t.false(values.has(value), `${enumeration} ${version}: 0x${value.toString(16)} is both ${values.get(value)} and ${name}`);
        values.set(value, name);
      }
    }
  }
  // the 2.x Tag enumeration is the tag table
  t.is(ENUMERATIONS.Tag.length, TAGS.length);
});

test("masks are single bits, unique within a mask", (t) => {
  for (const [mask, bits] of Object.entries(MASKS)) {
    const names = new Set<string>();
    let all = 0;
    for (const [name, bit] of bits) {
      t.false(names.has(name), `${mask}.${name} listed twice`);
      names.add(name);
      t.regex(name, /^[A-Z][A-Za-z0-9_]*$/, `${mask}.${name}`);
      t.true(bit > 0 && (bit & (bit - 1)) === 0, `${mask}.${name} = 0x${bit.toString(16)} is not one bit`);
      t.is(all & bit, 0, `${mask}: bit 0x${bit.toString(16)} used twice`);
      all |= bit;
    }
    t.false(mask in ENUMERATIONS, `${mask} is both a mask and an enumeration`);
  }
});

test("KMIP 1.x attribute names map to registered tags", (t) => {
  const texts = new Set<string>();
  for (const [text, tagName] of ATTRIBUTE_NAMES) {
    t.false(texts.has(text), `attribute name "${text}" listed twice`);
    texts.add(text);
    t.true(tagByName.has(tagName), `"${text}" → unknown tag ${tagName}`);
    t.is(
      text.replace(/[ .#]/g, (c) => (c === " " ? "" : "_")),
      tagName,
      `"${text}" → ${tagName}`,
    );
  }
});

// ---------------------------------------------------------------------------------------------------
// Spot checks against the specification text.

test("spot checks against the KMIP specifications", (t) => {
  const tag = (name: string): number | undefined => tagByName.get(name)?.[1];
  t.is(tag("ActivationDate"), 0x420001);
  t.is(tag("BatchItem"), 0x42000f);
  t.is(tag("RequestMessage"), 0x420078);
  t.is(tag("ResponseMessage"), 0x42007b);
  t.is(tag("UniqueIdentifier"), 0x420094);
  t.is(tag("X_509CertificateIdentifier"), 0x4200b5);
  t.is(tag("PKCS_12FriendlyName"), 0x4200fb);
  t.is(tag("ReplaceExisting"), 0x420124);
  t.is(tag("Attributes"), 0x420125);
  t.is(tag("AttributeReference"), 0x42013b);
  t.is(tag("ProtectionStorageMask"), 0x42015e);
  t.is(tag("Ephemeral"), 0x420154);
  t.is(tag("AsynchronousCorrelationValues"), 0x420176);
  t.deepEqual(tagByName.get("ProtocolVersionMajor")?.slice(1, 3), [0x42006a, "Integer"]);
  t.deepEqual(tagByName.get("UsageLimitsCount")?.slice(1, 3), [0x420096, "LongInteger"]);
  t.deepEqual(tagByName.get("SubmissionDate")?.slice(1, 3), [0x420174, "DateTimeExtended"]);
  t.is(tagByName.get("CryptographicUsageMask")?.[4], "CryptographicUsageMask");

  const value = (e: string, n: string): number | undefined => lookup(e, n)[0]?.[1];
  t.is(value("Operation", "Create"), 0x01);
  t.is(value("Operation", "Get"), 0x0a);
  t.is(value("Operation", "DiscoverVersions"), 0x1e);
  t.is(value("Operation", "Ping"), 0x3b);
  t.is(value("ObjectType", "SymmetricKey"), 0x02);
  t.is(value("ObjectType", "Template"), 0x06); // 1.x only
  t.is(value("ObjectType", "CertificateRequest"), 0x0a); // 2.x
  t.is(value("ResultReason", "ItemNotFound"), 0x01);
  t.is(value("ResultReason", "GeneralFailure"), 0x100);
  t.is(value("ResultReason", "WrongKeyLifecycleState"), 0x43);
  t.is(value("CryptographicAlgorithm", "AES"), 0x03);
  t.is(value("CryptographicAlgorithm", "DES3"), 0x02);
  t.is(value("State", "PreActive"), 0x01);
  t.is(value("LinkType", "PublicKeyLink"), 0x102);
  t.is(value("KeyFormatType", "TransparentECPublicKey"), 0x15);
  t.is(value("ResultStatus", "Success"), 0x00);
  t.is(value("PKCS_11Function", "C_GetInfo"), 3);
  t.is(value("PKCS_11ReturnCode", "OK"), 0);
  t.is(value("Tag", "Attributes"), 0x420125);
  t.is(spellingAt("HashingAlgorithm", 0x0e, "1.4"), "SHA_3_224");
  t.is(spellingAt("HashingAlgorithm", 0x0e, "2.0"), "SHA3_224");
  t.deepEqual(
    MASKS.CryptographicUsageMask.filter(([n]) => ["Sign", "Encrypt", "Decrypt", "MACVerify"].includes(n)).map(([, b]) => b),
    [0x01, 0x04, 0x08, 0x100],
  );
  t.deepEqual(
    MASKS.StorageStatusMask.map(([, b]) => b),
    [0x1, 0x2, 0x4],
  );
  t.is(attrTagByText.get("Cryptographic Algorithm"), "CryptographicAlgorithm");
});

// ---------------------------------------------------------------------------------------------------
// Every element of every OASIS test vector.

test("every tag, type, enumeration value and mask bit of the OASIS test vectors is registered", (t) => {
  const { files, elements } = loadFixtures();
  t.true(files.length > 200, `only ${files.length} test-vector files`);
  const tagsSeen = new Set<string>();
  const enumsSeen = new Set<string>();
  const masksSeen = new Set<string>();
  const problems: string[] = [];
  const fail = (el: Element, msg: string): void => {
    problems.push(`${el.file}: <${el.name}${el.type ? ` type="${el.type}"` : ""}${el.value !== undefined ? ` value="${el.value}"` : ""}>: ${msg}`);
  };

  for (const el of elements) {
    const row = tagByName.get(el.name);
    if (!row) {
      fail(el, "unknown tag");
      continue;
    }
    tagsSeen.add(el.name);
    const [, , type, since] = row;
    let enumeration = row[4];
    if (since > el.version) fail(el, `tag defined only since ${since}`);

    // the type: as registered, or — for AttributeValue — the type of the attribute named beside it
    let expected: TtlvTypeName | "*" = type;
    if (el.name === "AttributeValue" && el.attributeName !== undefined) {
      const attrTag = attrTagByText.get(el.attributeName);
      const attrRow = attrTag === undefined ? undefined : tagByName.get(attrTag);
      if (attrRow) {
        expected = attrRow[2];
        enumeration = attrRow[4];
      }
    }
    if (el.type === undefined) {
      if (expected !== "Structure" && expected !== "*") fail(el, `a structure, but the registry says ${expected}`);
    } else if (expected !== "*" && el.type !== expected) {
      fail(el, `type ${el.type}, registered as ${expected}`);
    }

    const v = el.value;
    if (v === undefined || isPlaceholder(v)) continue;
    if (el.type === "Enumeration" && !isHex(v)) {
      if (enumeration === undefined || !(enumeration in ENUMERATIONS)) {
        fail(el, `an enumeration value, but the tag has no enumeration (${enumeration ?? "none"})`);
        continue;
      }
      enumsSeen.add(enumeration);
      const members = lookup(enumeration, v);
      if (members.length === 0) {
        fail(el, `not a member of ${enumeration}`);
        continue;
      }
      const [, num, memberSince] = members[0];
      if ((memberSince ?? "0") > el.version) fail(el, `${enumeration}.${v} is defined only since ${memberSince ?? "?"}`);
      // what a writer of this protocol version would emit for the value
      const spelled = spellingAt(enumeration, num, el.version);
      if (spelled !== v) fail(el, `${enumeration} 0x${num.toString(16)} is spelled ${spelled ?? "(nothing)"} in ${el.version}`);
    } else if (el.type === "Integer" && /[A-Za-z]/.test(v) && !isHex(v)) {
      if (enumeration === undefined || !(enumeration in MASKS)) {
        fail(el, `mask text, but the tag has no mask (${enumeration ?? "none"})`);
        continue;
      }
      masksSeen.add(enumeration);
      const bits = MASKS[enumeration];
      for (const word of v.split(/[\s|]+/).filter((w) => w.length > 0)) {
        if (!bits.some(([n]) => n === word)) fail(el, `"${word}" is not a bit of ${enumeration}`);
      }
    }
  }

  t.deepEqual(problems, []);
  t.log(
    `${files.length} files, ${elements.length} elements: ${tagsSeen.size} distinct tags, ` +
      `${enumsSeen.size} enumerations (${[...enumsSeen].sort().join(", ")}), ${masksSeen.size} masks (${[...masksSeen].sort().join(", ")})`,
  );
  console.log(
    `registry_table: checked ${tagsSeen.size} distinct tags, ${enumsSeen.size} distinct enumerations and ` +
      `${masksSeen.size} masks in ${elements.length} elements of ${files.length} OASIS test-vector files`,
  );
});
