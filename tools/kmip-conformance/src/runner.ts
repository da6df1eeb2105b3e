/**
 * Replays one OASIS KMIP test case (an XML file of alternating RequestMessage / ResponseMessage) against a
 * server and compares every response with the one the case expects, field by field: the same tags in the
 * same order, the same types, the same values.
 *
 * The cases write `$NAME` placeholders where the server picks the value:
 * - `$NOW`, `$NOW-3600`, `$NOW+3600`: in a request, the current time (plus the offset); in a response, a
 *   DateTime within ±{@link RunOptions.timeToleranceSeconds} (120 s) of it.
 * - `$UNIQUE_IDENTIFIER_n` and every other `$X`: the first occurrence in a response binds it to the
 *   server's value; later occurrences in responses must equal it, and requests send it. Two different
 *   `$UNIQUE_IDENTIFIER_*` must not bind the same identifier.
 *
 * Beyond the placeholders, only the fields of {@link FREE_VALUES} escape comparison: values a conforming
 * server chooses and no test vector can predict. Everything else must match.
 * @module
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import {
  attributeTagName,
  decodeTtlv,
  encodeTtlv,
  enumName,
  isMask,
  maskText,
  parseXml,
  tagEnumeration,
  tagName,
  tagOf,
  TTLV_TYPE_NAME,
  type KmipVersion,
  type Ttlv,
  type XmlItem,
} from "@tessera/kmip";
import { fixturesRoot } from "@tessera/fixtures";
const SHARED_FIXTURES = fixturesRoot();

/** Anything that sends one request message and resolves with the response bytes (a `KmipConnection`). */
export interface KmipTransport {
  /** Sends a TTLV request message; resolves with the TTLV response message. */
  send(request: Uint8Array, timeoutMs?: number): Promise<Uint8Array>;
}

/** Options of {@link runCase}. */
export interface RunOptions {
  /** Allowed distance of a `$NOW` DateTime from the clock, in seconds (default 120). */
  timeToleranceSeconds?: number;
  /** Time to wait for each response, in ms (default 10 000). */
  timeoutMs?: number;
  /** The clock, in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

/** One difference between the expected and the actual response. */
export interface Mismatch {
  /** Where: `ResponseMessage/BatchItem[0]/ResponsePayload/Attribute[3]/AttributeValue`. */
  path: string;
  /** What the case expects (`(absent)` for an unexpected field). */
  expected: string;
  /** What the server sent (`(absent)` for a missing field). */
  actual: string;
}

/** A mismatch in one step of a case. */
export interface StepMismatch extends Mismatch {
  /** Index of the request/response pair in the case (0-based). */
  step: number;
  /** The operation(s) of the step's request. */
  operation: string;
}

/** The outcome of one test case. */
export interface CaseResult {
  /** Path of the XML file. */
  file: string;
  /** File name without `.xml` (`BL-M-1-21`). */
  name: string;
  /** Profile prefix: the file name up to its number (`BL-M`, `CS-BC-M-GCM`). */
  profile: string;
  /** KMIP version of the case, from its folder (`1.4`, `2.1`). */
  version: string;
  /** Whether every step answered as expected. */
  passed: boolean;
  /** Request/response pairs in the case. */
  steps: number;
  /** Steps that were sent. */
  stepsRun: number;
  /** Every mismatch, in order. */
  mismatches: StepMismatch[];
  /** A failure that stopped the case (unreadable file, transport error, undecodable response). */
  error?: string;
  /** Wall time of the case in ms. */
  durationMs: number;
}

/** Where a field sits, for deciding whether {@link FREE_VALUES} lets it go. */
export interface FieldContext {
  /** Tag name of the field. */
  tag: string;
  /** Tag names from the message down to the field's parent. */
  ancestors: readonly string[];
  /** Operation of the enclosing batch item. */
  operation: string | undefined;
  /** The (bound) request payload of the enclosing batch item. */
  requestPayload: Ttlv | undefined;
  /** The actual response payload of the enclosing batch item. */
  responsePayload: Ttlv | undefined;
  /** Whether the batch item works on an object whose key material the server generated (Create, CreateKeyPair…). */
  serverGeneratedObject: boolean;
  /**
   * Names of the CryptographicAlgorithm, PaddingMethod and DigitalSignatureAlgorithm values in the request
   * and in the request that registered or created the object it works on (`RSA`, `OAEP`, `PSS`…).
   */
  schemes: readonly string[];
}

/** A field whose value a conforming server chooses freely. */
export interface FreeValueRule {
  /** Tag name of the field. */
  readonly tag: string;
  /** When the rule applies, in words. */
  readonly when: string;
  /** Why no test vector can predict the value. */
  readonly why: string;
  /**
   * `value`: tag, type and (for a Structure) the shape below must match, values not.
   * `optional`: in addition the server may leave the field out or add it.
   */
  readonly kind: "value" | "optional";
  /** Whether the rule applies to this field. */
  readonly applies: (at: FieldContext) => boolean;
}

/** Operations whose new objects carry key material (or certificates) the server generated. */
const GENERATING_OPERATIONS = new Set(["Create", "CreateKeyPair", "ReKey", "ReKeyKeyPair", "CreateSplitKey", "Certify", "ReCertify"]);

/** Tags of the identifiers a generating operation returns. */
const IDENTIFIER_TAGS = new Set(["UniqueIdentifier", "PrivateKeyUniqueIdentifier", "PublicKeyUniqueIdentifier"]);

const parentIs = (at: FieldContext, name: string) => at.ancestors[at.ancestors.length - 1] === name;
const inResponsePayload = (at: FieldContext) => at.ancestors.includes("ResponsePayload");

/**
 * The fields a conforming server chooses and no test vector can predict — the only values, besides the
 * placeholders, that the comparison does not check:
 *
 * | field | when | why |
 * | --- | --- | --- |
 * | ServerCorrelationValue | in ResponseHeader (optional) | the server's own log correlation; the 2.1 vectors recorded one server's values |
 * | ResultMessage | in a BatchItem (optional) | free text; ResultStatus and ResultReason carry the meaning and are compared |
 * | TimeStamp | in ResponseHeader, when a vector gives a literal time | the server's clock (`$NOW` is still checked) |
 * | DigestValue | of an object the server generated | a hash of key material the server generated |
 * | KeyMaterial (subtree) | of an object the server generated | the key itself (tags and types below it still compared) |
 * | CertificateValue | of a certificate the server issued (Certify) | the server's signature and serial number |
 * | Data, IVCounterNonce, AuthenticatedEncryptionTag, MACData, SignatureData | in the response of an operation with a server-generated key | output of a cryptographic operation under a key no vector knows |
 * | IVCounterNonce, Data, AuthenticatedEncryptionTag | in an Encrypt response when the request gave no IV and the server returned one | the server generated the IV |
 * | SignatureData | in a Sign response with PSS padding or (EC)DSA | randomized signature schemes |
 * | Data | in an Encrypt response under RSA (OAEP or PKCS#1 v1.5 padding) | randomized encryption schemes |
 * | Data | in an RNGRetrieve response | random bytes |
 */
export const FREE_VALUES: readonly FreeValueRule[] = [
  {
    tag: "RNGAlgorithm",
    when: "in a response (the tag only occurs in Random Number Generator attributes, 1.x and 2.x shapes)",
    kind: "value",
    why: "which generator the server uses (KMIP 1.4 §3.44, 2.1 §4.49); the vectors recorded one server's ANSI X9.31, a withdrawn generator",
    applies: (at) => inResponsePayload(at),
  },
  {
    tag: "DRBGAlgorithm",
    when: "in a response (only in Random Number Generator attributes)",
    kind: "optional",
    why: "the DRBG of a server that uses one (KMIP 2.1 §4.49, optional)",
    applies: (at) => inResponsePayload(at),
  },
  {
    tag: "ServerCorrelationValue",
    when: "in ResponseHeader",
    kind: "optional",
    why: "the server's own correlation value (KMIP 2.1 §8.2, optional); the 2.1 vectors recorded one server's",
    applies: (at) => parentIs(at, "ResponseHeader"),
  },
  {
    tag: "ResultMessage",
    when: "in a BatchItem",
    kind: "optional",
    why: "free text (KMIP 2.1 §11.3, optional); ResultStatus and ResultReason carry the meaning and are compared",
    applies: (at) => parentIs(at, "BatchItem"),
  },
  {
    tag: "TimeStamp",
    when: "in ResponseHeader, when a vector gives a literal time",
    kind: "value",
    why: "the server's clock; `$NOW` in the vectors is still checked within the tolerance",
    applies: (at) => parentIs(at, "ResponseHeader"),
  },
  {
    tag: "DigestValue",
    when: "of an object the server generated",
    kind: "value",
    why: "a hash of key material the server generated",
    applies: (at) => at.serverGeneratedObject && inResponsePayload(at),
  },
  {
    tag: "KeyMaterial",
    when: "of an object the server generated",
    kind: "value",
    why: "the generated key itself; the tags and types below KeyMaterial are still compared",
    applies: (at) => at.serverGeneratedObject && inResponsePayload(at),
  },
  {
    tag: "CertificateValue",
    when: "of a certificate the server issued",
    kind: "value",
    why: "the server's CA signature, serial number and validity",
    applies: (at) => at.serverGeneratedObject && inResponsePayload(at),
  },
  ...["Data", "IVCounterNonce", "AuthenticatedEncryptionTag", "MACData", "SignatureData"].map((tag): FreeValueRule => ({
    tag,
    when: "in the response of an operation with a server-generated key",
    kind: "value",
    why: "output of a cryptographic operation under a key no vector knows",
    applies: (at) => at.serverGeneratedObject && parentIs(at, "ResponsePayload"),
  })),
  ...["IVCounterNonce", "Data", "AuthenticatedEncryptionTag"].map((tag): FreeValueRule => ({
    tag,
    when: "in an Encrypt response when the request gave no IV and the server returned one",
    kind: "value",
    why: "the server generated the IV (and so the ciphertext)",
    applies: (at) =>
      at.operation === "Encrypt" &&
      parentIs(at, "ResponsePayload") &&
      !hasDescendant(at.requestPayload, "IVCounterNonce") &&
      hasDescendant(at.responsePayload, "IVCounterNonce"),
  })),
  {
    tag: "SignatureData",
    when: "in a Sign response with PSS padding or (EC)DSA",
    kind: "value",
    why: "randomized signature schemes give a different signature each time",
    applies: (at) => at.operation === "Sign" && parentIs(at, "ResponsePayload") && at.schemes.some((n) => /PSS|DSA|^EC$/i.test(n)),
  },
  {
    tag: "Data",
    when: "in an Encrypt response under RSA (OAEP or PKCS#1 v1.5 padding)",
    kind: "value",
    why: "randomized encryption schemes give a different ciphertext each time",
    applies: (at) => at.operation === "Encrypt" && parentIs(at, "ResponsePayload") && at.schemes.includes("RSA") && !at.schemes.includes("None"),
  },
  {
    tag: "Data",
    when: "in an RNGRetrieve response",
    kind: "value",
    why: "random bytes",
    applies: (at) => at.operation === "RNGRetrieve" && parentIs(at, "ResponsePayload"),
  },
];

function hasDescendant(node: Ttlv | undefined, name: string): boolean {
  if (!node || node.type !== 0x01) return false;
  const tag = tagOf(name);
  return node.value.some((c) => c.tag === tag || hasDescendant(c, name));
}

/** The algorithm and scheme names a request payload names, as plain tags or as KMIP 1.x attributes. */
function schemeNames(node: Ttlv | undefined, version?: KmipVersion): string[] {
  const out: string[] = [];
  const tags = new Set(["CryptographicAlgorithm", "PaddingMethod", "DigitalSignatureAlgorithm"].map(tagOf));
  const walk = (n: Ttlv) => {
    if (n.type !== 0x01) return;
    let attrTag: number | undefined;
    for (const c of n.value) {
      if (c.tag === tagOf("AttributeName") && c.type === 0x07) {
        const t = attributeTagName(c.value);
        attrTag = t ? tagOf(t) : undefined;
      }
      const ctx = c.tag === tagOf("AttributeValue") && attrTag !== undefined ? attrTag : c.tag;
      if (tags.has(ctx) && c.type === 0x05) out.push(enumText(c, ctx, version));
      walk(c);
    }
  };
  if (node) walk(node);
  return out;
}

function enumText(n: Ttlv, ctxTag = n.tag, version?: KmipVersion): string {
  const e = tagEnumeration(ctxTag);
  if (n.type !== 0x05 || !e) return String(n.value);
  try {
    return enumName(e, n.value, version);
  } catch {
    return `0x${n.value.toString(16).padStart(8, "0")}`;
  }
}

/** The state of one case run: placeholder bindings and what the server generated. */
export class CaseState {
  /** Placeholder → the value the server gave it. */
  readonly bindings = new Map<string, Ttlv>();
  /** Unique identifiers of objects whose key material the server generated. */
  readonly generated = new Set<string>();
  /** Algorithm and scheme names of the request that made each object (see {@link FieldContext.schemes}). */
  readonly schemes = new Map<string, string[]>();
  /** The latest value the server sent for each tag (for requests that use a placeholder no response bound). */
  readonly lastByTag = new Map<number, Ttlv>();
  /** Clock in ms. */
  readonly now: () => number;
  /** `$NOW` tolerance in seconds. */
  readonly tolerance: number;

  /** @param options clock and tolerance */
  constructor(options: RunOptions = {}) {
    this.now = options.now ?? Date.now;
    this.tolerance = options.timeToleranceSeconds ?? 120;
  }
}

const PLACEHOLDER = /^\$([A-Z][A-Z0-9_]*?)([+-]\d+)?$/;

function nowPlaceholder(p: string): number | undefined {
  const m = PLACEHOLDER.exec(p);
  return m && m[1] === "NOW" ? Number(m[2] ?? 0) : undefined;
}

/**
 * Replaces the placeholders of a request with their values: `$NOW±n` by the clock, the others by their
 * bindings. A placeholder no response bound (other than a `$UNIQUE_IDENTIFIER_*`) takes the latest value the
 * server sent under the same tag: two OASIS cases, CS-BC-M-13-14 and CS-AC-M-6, use `$DATA_0`/`$MAC_DATA`
 * without binding them. Otherwise an unbound placeholder throws.
 */
export function bindRequest(item: XmlItem, state: CaseState): Ttlv {
  if (item.placeholder !== undefined) {
    const offset = nowPlaceholder(item.placeholder);
    if (offset !== undefined) {
      const seconds = BigInt(Math.floor(state.now() / 1000) + offset);
      if (item.type === 0x09) return { tag: item.tag, type: 0x09, value: seconds };
      if (item.type === 0x0b) return { tag: item.tag, type: 0x0b, value: seconds * 1_000_000n };
      throw new Error(`${tagName(item.tag)}: ${item.placeholder} on a ${TTLV_TYPE_NAME[item.type]}, not a DateTime`);
    }
    const bound = state.bindings.get(item.placeholder) ?? (/^\$UNIQUE_IDENTIFIER/.test(item.placeholder) ? undefined : state.lastByTag.get(item.tag));
    if (!bound) throw new Error(`${tagName(item.tag)}: the request uses ${item.placeholder} before any response gave it a value`);
    if (bound.type !== item.type) {
      throw new Error(`${tagName(item.tag)}: ${item.placeholder} is a ${TTLV_TYPE_NAME[bound.type]}, the request uses it as a ${TTLV_TYPE_NAME[item.type]}`);
    }
    return { ...bound, tag: item.tag } as Ttlv;
  }
  if (item.type === 0x01)
    return {
      tag: item.tag,
      type: 0x01,
      value: item.value.map((c) => bindRequest(c, state)),
    };
  return { tag: item.tag, type: item.type, value: item.value } as Ttlv;
}

// ——— Comparison ———

interface Scope {
  state: CaseState;
  version: KmipVersion | undefined;
  ancestors: string[];
  /** The batch item being compared. */
  batch:
    | {
        operation: string | undefined;
        request: Ttlv | undefined;
        response: Ttlv | undefined;
        generated: boolean;
        schemes: string[];
      }
    | undefined;
  /** A {@link FREE_VALUES} rule of an enclosing structure (KeyMaterial): values below are free. */
  free: boolean;
  out: Mismatch[];
}

/**
 * Compares an actual response message with the expected one (placeholders bind in `state`). `requests` are
 * the bound request batch items' payloads, by batch item index, for the rules that depend on the request.
 * Returns the mismatches (empty when the response conforms).
 */
export function compareResponse(expected: XmlItem, actual: Ttlv, state: CaseState, requests: readonly (Ttlv | undefined)[] = []): Mismatch[] {
  const out: Mismatch[] = [];
  const scope: Scope = {
    state,
    version: messageVersion(actual) ?? messageVersion(expected),
    ancestors: [],
    batch: undefined,
    free: false,
    out,
  };
  // What the new objects are (server-generated, which algorithm) is known before the comparison looks at them.
  const batchTag = tagOf("BatchItem");
  const itemsOf = (m: Ttlv) => (m.type === 0x01 ? m.value.filter((c) => c.tag === batchTag) : []);
  const actualItems = itemsOf(actual);
  actualItems.forEach((b, i) => {
    const op = operationOf(b, scope.version);
    if (!op || resultStatusOf(b) !== 0) return;
    for (const c of childrenOf(childNamed(b, "ResponsePayload"))) {
      if (!IDENTIFIER_TAGS.has(tagName(c.tag)) || c.type !== 0x07) continue;
      if (GENERATING_OPERATIONS.has(op)) state.generated.add(c.value);
      if (GENERATING_OPERATIONS.has(op) || op === "Register") state.schemes.set(c.value, schemeNames(requests[i], scope.version));
    }
  });
  const name = tagName(expected.tag);
  if (expected.tag !== actual.tag) {
    out.push({
      path: name,
      expected: describe(expected, expected.tag, scope.version),
      actual: describe(actual, actual.tag, scope.version),
    });
    return out;
  }
  const batchIndex = new Map<Ttlv, number>(actualItems.map((b, i) => [b, i]));
  compareItem(expected, actual, name, { ...scope, ancestors: [] }, expected.tag, (act) => {
    const i = batchIndex.get(act);
    return i === undefined ? undefined : requests[i];
  });
  recordTags(actual, state);
  return out;
}

function recordTags(node: Ttlv, state: CaseState): void {
  if (node.type === 0x01) for (const c of node.value) recordTags(c, state);
  else state.lastByTag.set(node.tag, node);
}

function messageVersion(m: Ttlv | XmlItem): KmipVersion | undefined {
  const h = childNamed(m as Ttlv, "ResponseHeader") ?? childNamed(m as Ttlv, "RequestHeader");
  const pv = childNamed(h, "ProtocolVersion");
  const major = childNamed(pv, "ProtocolVersionMajor");
  const minor = childNamed(pv, "ProtocolVersionMinor");
  return major?.type === 0x02 && minor?.type === 0x02 ? { major: major.value, minor: minor.value } : undefined;
}

function childrenOf(node: Ttlv | undefined): Ttlv[] {
  return node?.type === 0x01 ? node.value : [];
}

function childNamed(node: Ttlv | undefined, name: string): Ttlv | undefined {
  const tag = tagOf(name);
  return childrenOf(node).find((c) => c.tag === tag);
}

function operationOf(batchItem: Ttlv, version: KmipVersion | undefined): string | undefined {
  const op = childNamed(batchItem, "Operation");
  return op ? enumText(op, op.tag, version) : undefined;
}

function resultStatusOf(batchItem: Ttlv): number | undefined {
  const s = childNamed(batchItem, "ResultStatus");
  return s?.type === 0x05 ? s.value : undefined;
}

function ruleFor(tag: string, scope: Scope, kind?: FreeValueRule["kind"]): FreeValueRule | undefined {
  const at: FieldContext = {
    tag,
    ancestors: scope.ancestors,
    operation: scope.batch?.operation,
    requestPayload: scope.batch?.request,
    responsePayload: scope.batch?.response,
    serverGeneratedObject: scope.batch?.generated ?? false,
    schemes: scope.batch?.schemes ?? [],
  };
  return FREE_VALUES.find((r) => r.tag === tag && (kind === undefined || r.kind === kind) && r.applies(at));
}

function compareItem(exp: XmlItem, act: Ttlv, path: string, scope: Scope, ctxTag: number, requestOf: (batchItem: Ttlv) => Ttlv | undefined): void {
  const name = tagName(exp.tag);
  const mismatch = (expected: string, actual: string) => scope.out.push({ path, expected, actual });
  if (exp.type !== act.type) {
    mismatch(describe(exp, ctxTag, scope.version), describe(act, ctxTag, scope.version));
    return;
  }
  if (exp.placeholder !== undefined) {
    comparePlaceholder(exp.placeholder, act, scope, (e) => mismatch(e, describe(act, ctxTag, scope.version)));
    return;
  }
  const free = scope.free || ruleFor(name, scope) !== undefined;
  if (act.type !== 0x01 || exp.type !== 0x01) {
    if (!free && !sameValue(exp, act)) mismatch(describe(exp, ctxTag, scope.version), describe(act, ctxTag, scope.version));
    return;
  }
  let inner: Scope = { ...scope, ancestors: [...scope.ancestors, name], free };
  if (name === "BatchItem") {
    const request = requestOf(act);
    const response = childNamed(act, "ResponsePayload");
    const uid = tagOf("UniqueIdentifier");
    const ids = [...childrenOf(request), ...childrenOf(response)].filter((c) => c.tag === uid);
    inner = {
      ...inner,
      batch: {
        operation: operationOf(act, scope.version) ?? operationOf(exp as Ttlv, scope.version),
        request,
        response,
        generated: ids.some((c) => c.type === 0x07 && scope.state.generated.has(c.value)),
        schemes: [...schemeNames(request, scope.version), ...ids.flatMap((c) => (c.type === 0x07 ? (scope.state.schemes.get(c.value) ?? []) : []))],
      },
    };
  }
  const before = scope.out.length;
  compareChildren(exp.value, act.value, path, inner, requestOf);
  // ResultMessage is not compared, but it tells why a server failed (or refused) an operation.
  const message = name === "BatchItem" ? childNamed(act, "ResultMessage") : undefined;
  if (message?.type === 0x07) {
    for (const m of scope.out.slice(before)) {
      if (/\/(ResultStatus|ResultReason)$/.test(m.path) && m.actual !== "(absent)") m.actual += ` (ResultMessage ${JSON.stringify(message.value)})`;
    }
  }
}

function comparePlaceholder(p: string, act: Ttlv, scope: Scope, mismatch: (expected: string) => void): void {
  const state = scope.state;
  const offset = nowPlaceholder(p);
  if (offset !== undefined) {
    const seconds = act.type === 0x09 ? Number(act.value) : act.type === 0x0b ? Number(act.value / 1_000_000n) : NaN;
    const want = Math.floor(state.now() / 1000) + offset;
    if (!(Math.abs(seconds - want) <= state.tolerance)) {
      mismatch(`${p} (${iso(BigInt(want))} ± ${state.tolerance} s)`);
    }
    return;
  }
  const bound = state.bindings.get(p);
  if (bound) {
    if (bound.type !== act.type || !sameValue(bound, act)) mismatch(`${p} = ${describe(bound, bound.tag, scope.version)}`);
    return;
  }
  if (/^\$UNIQUE_IDENTIFIER/.test(p)) {
    for (const [other, v] of state.bindings) {
      if (/^\$UNIQUE_IDENTIFIER/.test(other) && sameValue(v, act) && v.type === act.type) {
        mismatch(`${p}: a new identifier, not the one bound to ${other}`);
        return;
      }
    }
  }
  state.bindings.set(p, act);
}

function sameValue(a: Ttlv | XmlItem, b: Ttlv): boolean {
  if (a.type === 0x01 || b.type === 0x01) {
    if (a.type !== 0x01 || b.type !== 0x01 || a.value.length !== b.value.length) return false;
    const bs = b.value;
    return a.value.every((c, i) => c.tag === bs[i].tag && sameValue(c, bs[i]));
  }
  if (a.type === 0x08 || b.type === 0x08) {
    if (a.type !== 0x08 || b.type !== 0x08) return false;
    const bb = b.value;
    return a.value.length === bb.length && a.value.every((x, i) => x === bb[i]);
  }
  return a.type === b.type && a.value === b.value;
}

/** Aligns children by tag (longest common subsequence), then compares the pairs; the rest are missing or extra. */
function compareChildren(exp: XmlItem[], act: Ttlv[], path: string, scope: Scope, requestOf: (batchItem: Ttlv) => Ttlv | undefined): void {
  const optional = (c: Ttlv | XmlItem) => ruleFor(tagName(c.tag), scope, "optional") !== undefined;
  const e = exp.filter((c) => !optional(c));
  const a = act.filter((c) => !optional(c));
  const repeated = new Set<number>();
  for (const list of [e, a] as (Ttlv | XmlItem)[][]) {
    const seen = new Set<number>();
    for (const c of list) (seen.has(c.tag) ? repeated : seen).add(c.tag);
  }
  const label = (c: Ttlv | XmlItem, list: (Ttlv | XmlItem)[], i: number) => {
    const n = tagName(c.tag);
    if (!repeated.has(c.tag) && n !== "BatchItem") return `${path}/${n}`;
    let k = 0;
    for (let j = 0; j < i; j++) if (list[j].tag === c.tag) k++;
    return `${path}/${n}[${k}]`;
  };
  // LCS table over tags.
  const n = e.length;
  const m = a.length;
  const L: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) L[i][j] = e[i].tag === a[j].tag ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  // The enumeration context of a KMIP 1.x AttributeValue is its sibling AttributeName.
  let attrCtx: number | undefined;
  const ctxOf = (c: Ttlv | XmlItem) => {
    if (c.tag === tagOf("AttributeName") && c.type === 0x07) {
      const t = attributeTagName(c.value);
      attrCtx = t ? tagOf(t) : undefined;
    }
    return c.tag === tagOf("AttributeValue") && attrCtx !== undefined ? attrCtx : c.tag;
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && e[i].tag === a[j].tag) {
      const ctx = ctxOf(e[i]);
      compareItem(e[i], a[j], label(e[i], e, i), scope, ctx, requestOf);
      i++;
      j++;
    } else if (j < m && (i >= n || L[i][j + 1] >= L[i + 1][j])) {
      scope.out.push({
        path: label(a[j], a, j),
        expected: "(absent)",
        actual: describe(a[j], ctxOf(a[j]), scope.version),
      });
      j++;
    } else {
      scope.out.push({
        path: label(e[i], e, i),
        expected: describe(e[i], ctxOf(e[i]), scope.version),
        actual: "(absent)",
      });
      i++;
    }
  }
}

function iso(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toISOString().replace(".000Z", "Z");
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** A short rendering of an item for reports: `Enumeration PreActive`, `ByteString 0a1b…`, `Structure {…}`. */
export function describe(item: Ttlv | XmlItem, ctxTag: number = item.tag, version?: KmipVersion): string {
  if ("placeholder" in item && item.placeholder !== undefined) return `${TTLV_TYPE_NAME[item.type]} ${item.placeholder}`;
  const type = TTLV_TYPE_NAME[item.type] ?? `type 0x${(item.type as number).toString(16)}`;
  const cut = (s: string) => (s.length > 120 ? `${s.slice(0, 117)}…` : s);
  switch (item.type) {
    case 0x01: {
      const inner = item.value.map((c) => {
        const n = tagName(c.tag);
        return c.type === 0x01 ? `${n} {…}` : `${n}=${describe(c, c.tag, version).replace(/^\S+ /, "")}`;
      });
      return cut(`Structure {${inner.join(", ")}}`);
    }
    case 0x02: {
      const e = tagEnumeration(ctxTag);
      return e && isMask(e) ? `${type} ${item.value} (${maskText(e, item.value) || "none"})` : `${type} ${item.value}`;
    }
    case 0x05:
      return `${type} ${enumText(item, ctxTag, version)}`;
    case 0x07:
      return cut(`${type} ${JSON.stringify(item.value)}`);
    case 0x08:
      return cut(`${type} ${item.value.length === 0 ? "(empty)" : hex(item.value)}`);
    case 0x09:
      return `${type} ${iso(item.value)}`;
    default:
      return `${type} ${String(item.value)}`;
  }
}

// ——— Cases ———

/** The profile prefix and version of a case file: `…/v2.1/mandatory/CS-BC-M-GCM-2-21.xml` → `CS-BC-M-GCM`, `2.1`. */
export function caseInfo(file: string): {
  name: string;
  profile: string;
  version: string;
} {
  const name = path.basename(file).replace(/\.xml$/i, "");
  const profile = /^(.*?)-\d+-\d+/.exec(name)?.[1] ?? name;
  const v = /(?:^|[\\/])v(\d+\.\d+)(?:[\\/]|$)/.exec(path.dirname(file))?.[1];
  const version = v ?? /-(\d)(\d)(?:_|$)/.exec(name)?.slice(1, 3).join(".") ?? "?";
  return { name, profile, version };
}

/** Splits a parsed case into request/response pairs; throws when the file does not alternate them. */
export function casePairs(items: XmlItem[]): { request: XmlItem; response: XmlItem }[] {
  const pairs: { request: XmlItem; response: XmlItem }[] = [];
  for (let i = 0; i < items.length; i += 2) {
    const request = items[i];
    const response = items[i + 1];
    if (tagName(request.tag) !== "RequestMessage") throw new Error(`message ${i} is a ${tagName(request.tag)}, not a RequestMessage`);
    if (!response || tagName(response.tag) !== "ResponseMessage") throw new Error(`message ${i + 1} is not a ResponseMessage`);
    pairs.push({ request, response });
  }
  return pairs;
}

/**
 * Runs one test case file against a server and compares every response. Never throws: file, transport
 * and decoding failures end the case with {@link CaseResult.error}. After a step with mismatches the case
 * goes on (later steps clean up the objects), and their mismatches are recorded too.
 * @example
 * ```ts
 * const r = await runCase("v2.1/mandatory/BL-M-1-21.xml", conn);
 * if (!r.passed) console.log(r.mismatches[0]);
 * ```
 */
export async function runCase(file: string, conn: KmipTransport, options: RunOptions = {}): Promise<CaseResult> {
  const started = performance.now();
  const info = caseInfo(file);
  const result: CaseResult = {
    file,
    ...info,
    passed: false,
    steps: 0,
    stepsRun: 0,
    mismatches: [],
    durationMs: 0,
  };
  const done = () => {
    result.passed = result.error === undefined && result.mismatches.length === 0 && result.stepsRun === result.steps;
    result.durationMs = Math.round(performance.now() - started);
    return result;
  };
  let pairs: { request: XmlItem; response: XmlItem }[];
  try {
    pairs = casePairs(parseXml(await readFile(file, "utf8")));
  } catch (e) {
    result.error = `cannot read the case: ${(e as Error).message}`;
    return done();
  }
  result.steps = pairs.length;
  const state = new CaseState(options);
  for (const [step, { request, response }] of pairs.entries()) {
    const version = messageVersion(request);
    const batchTag = tagOf("BatchItem");
    const requestItems = request.type === 0x01 ? request.value.filter((c) => c.tag === batchTag) : [];
    const operation = requestItems
      .map((b) => {
        const op = b.type === 0x01 ? b.value.find((c) => c.tag === tagOf("Operation")) : undefined;
        return op ? enumText(op as Ttlv, op.tag, version) : "?";
      })
      .join("+");
    let bound: Ttlv;
    try {
      bound = bindRequest(request, state);
    } catch (e) {
      result.error = `step ${step} (${operation}): ${(e as Error).message}`;
      return done();
    }
    let answer: Ttlv;
    try {
      const bytes = await conn.send(encodeTtlv(bound), options.timeoutMs ?? 10_000);
      result.stepsRun++;
      answer = decodeTtlv(bytes);
    } catch (e) {
      result.error = `step ${step} (${operation}): ${(e as Error).message}`;
      return done();
    }
    const payloads = childrenOf(bound)
      .filter((c) => c.tag === batchTag)
      .map((b) => childNamed(b, "RequestPayload"));
    for (const m of compareResponse(response, answer, state, payloads)) result.mismatches.push({ step, operation, ...m });
  }
  return done();
}

/** Where the OASIS test cases are in this workspace's machine unless a flag says otherwise. */
export const DEFAULT_VECTORS = SHARED_FIXTURES + "/kmip-test-vectors";

/** All case files under a vectors folder (`v1.4/`, `v2.1/mandatory/`, `v2.1/optional/`), in natural order. */
export async function findCases(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith(".xml")) out.push(p);
    }
  };
  await walk(root);
  return out.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}
