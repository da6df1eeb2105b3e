/**
 * A KMIP client: a pool of mutually authenticated TLS connections, servers tried in order with failover,
 * timeouts, an AbortSignal on every call, batches, and the common operations. A request is sent at most once
 * unless it is idempotent (see {@link IDEMPOTENT_OPERATIONS}) or cannot have reached a server; when the
 * connection fails after such a request was written the call fails with `KmipOutcomeUnknownError`. Attributes are written in
 * the shape of the protocol version in use (1.x Template-Attribute / Attribute, 2.x Attributes).
 * @module
 */
import {
  attributeName,
  attributeTagName,
  bytes,
  child,
  children,
  childrenOf,
  decodeResponse,
  decodeTtlv,
  encodeRequest,
  encodeTtlv,
  enumName,
  enumValue,
  int,
  item,
  KmipEncodeError,
  KmipResultError,
  KmipTransportError,
  type KmipVersion,
  struct,
  tagName,
  text,
  type Ttlv,
  TTLV_TYPE,
  tagOf,
  enumText,
} from "@tessera/kmip";
import { type ClientTls, KmipConnection, type ServerAddress } from "./connection.ts";
import { KmipOutcomeUnknownError } from "./errors.ts";
import { UNSENT } from "./_unsent.ts";

/** Options of {@link KmipClient}. */
export interface KmipClientOptions {
  /** Servers in order of preference; the next is tried when one cannot be reached. */
  servers: ServerAddress[];
  tls: ClientTls;
  /** Protocol version to speak (default 1.4). */
  version?: KmipVersion;
  /**
   * Connections per server (default 4): at most this many are open to one server at a time, and kept open between
   * requests. A request finding all of them busy waits for one (first come, first served) instead of opening
   * another, so a burst of callers never pays a TLS handshake per request above the pool.
   */
  poolSize?: number;
  /** Per-request timeout in ms (default 30 000). */
  timeoutMs?: number;
  /** Connect timeout in ms (default 10 000). */
  connectTimeoutMs?: number;
}

/** One attribute to send: its tag name and value (as `item` takes it). */
export interface AttributeInput {
  name: string;
  value: Parameters<typeof item>[1];
  type?: Parameters<typeof item>[2];
}

/**
 * Options of every call that talks to a server. Aborting `signal` before the request is written rejects without
 * sending it; aborting while the response is awaited closes that connection and rejects with the signal's reason
 * (the request may then have been applied).
 */
export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Operations that change nothing on the server, so that a request made only of them may be sent again after a
 * failure that happened once it was written. Any other is sent at most once: Create, Register and Re-key make
 * objects, and an Encrypt or Decrypt may count against the key's usage limits, which the client cannot see.
 */
export const IDEMPOTENT_OPERATIONS: ReadonlySet<string> = new Set(["Get", "GetAttributes", "GetAttributeList", "Locate", "Query", "DiscoverVersions", "Check"]);
const IDEMPOTENT = IDEMPOTENT_OPERATIONS;

/** A request waiting for a connection: handed one, a free slot (undefined), or failed. */
interface Waiter {
  give(connection: KmipConnection | undefined): void;
  fail(error: Error): void;
}

function serverKey(server: ServerAddress): string {
  return `${server.host}:${server.port}`;
}

/** One operation of a batch. */
export interface BatchOperation {
  operation: string;
  payload: Ttlv[];
}

/** A KMIP client. */
export class KmipClient {
  readonly version: KmipVersion;
  readonly #o: Required<Omit<KmipClientOptions, "version">>;
  readonly #idle = new Map<string, KmipConnection[]>();
  /** Per server: connections open or being opened that are not idle (in use by a request, or reserved for one). */
  readonly #busy = new Map<string, number>();
  /** Per server: requests waiting for a connection, first come first served. */
  readonly #waiting = new Map<string, Waiter[]>();
  #closed = false;
  #opened = 0;

  /** @param options servers, TLS, version, pool */
  constructor(options: KmipClientOptions) {
    if (options.servers.length === 0) throw new KmipTransportError("no KMIP server given");
    this.version = options.version ?? { major: 1, minor: 4 };
    this.#o = {
      servers: options.servers,
      tls: options.tls,
      poolSize: options.poolSize ?? 4,
      timeoutMs: options.timeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    };
  }

  /**
   * Sends `request` (of operations `ops`) and resolves with the response. Where a request cannot have reached a
   * server (no connection, or a pooled connection found closed before writing) the next connection or server is
   * tried whatever the operation. Once it was written, only an idempotent request is sent again (on a fresh
   * connection to the same server if the failed one was pooled, else on the next server); any other fails with
   * KmipOutcomeUnknownError, so that nothing is applied twice.
   */
  async #exchange(request: Uint8Array, ops: string[], signal: AbortSignal | undefined): Promise<Uint8Array> {
    signal?.throwIfAborted();
    if (this.#closed) throw new KmipTransportError("the KMIP client is closed");
    const repeatable = ops.every((op) => IDEMPOTENT.has(op));
    const errors: Error[] = [];
    for (const server of this.#o.servers) {
      const where = `${server.host}:${server.port}`;
      let pooledFailed = false;
      for (;;) {
        const conn = await this.#connection(server, signal, pooledFailed).catch((e: unknown) => {
          signal?.throwIfAborted();
          errors.push(e as Error);
          return undefined;
        });
        if (!conn) break;
        try {
          const res = await conn.connection.send(request, { timeoutMs: this.#o.timeoutMs, signal });
          this.#release(server, conn.connection);
          return res;
        } catch (e) {
          conn.connection.close();
          this.#dropped(server);
          signal?.throwIfAborted();
          const err = e instanceof Error ? e : new KmipTransportError(String(e));
          // Closed before the request was written: a pooled connection is replaced; a fresh one counts as a
          // server that could not be reached.
          if (UNSENT.has(err) && conn.pooled) continue;
          errors.push(err);
          if (UNSENT.has(err)) break;
          if (!repeatable) throw new KmipOutcomeUnknownError(ops, where, errors);
          if (!conn.pooled) break;
          pooledFailed = true;
        }
      }
    }
    throw new KmipTransportError(`no KMIP server answered: ${errors.map((e) => e.message).join("; ")}`, {
      cause: errors.length === 1 ? errors[0] : new AggregateError(errors, "failures of each KMIP server tried"),
    });
  }

  /**
   * A connection to `server`: a pooled one that is still open (unless `fresh`), else a new one while fewer than
   * `poolSize` are busy, else the next one released (or the slot of one that failed), in arrival order. Before a
   * pooled connection is used, pending I/O is let in once, so that a close by the server that has already arrived
   * is seen and that connection replaced rather than written to. The connection returned counts as busy until
   * `#release` or `#dropped`.
   */
  async #connection(server: ServerAddress, signal: AbortSignal | undefined, fresh: boolean): Promise<{ connection: KmipConnection; pooled: boolean }> {
    const key = serverKey(server);
    for (;;) {
      if (this.#closed) throw new KmipTransportError("the KMIP client is closed");
      const idle = this.#idle.get(key);
      if (!fresh && idle?.length) {
        await new Promise((r) => setImmediate(r));
        signal?.throwIfAborted();
        let found: KmipConnection | undefined;
        for (let c = idle.pop(); c; c = idle.pop()) {
          if (c.usable) {
            found = c;
            break;
          }
          c.close();
        }
        if (found) {
          this.#busy.set(key, (this.#busy.get(key) ?? 0) + 1);
          return { connection: found, pooled: true };
        }
        continue;
      }
      if ((this.#busy.get(key) ?? 0) < this.#o.poolSize) {
        this.#busy.set(key, (this.#busy.get(key) ?? 0) + 1);
        break;
      }
      // Every connection busy: wait for one to be released (handed over, still counted busy) or to fail (its slot).
      const handed = await this.#wait(key, signal);
      if (handed === undefined) break;
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) {
        this.#release(server, handed);
        signal.throwIfAborted();
      }
      if (handed.usable) return { connection: handed, pooled: true };
      handed.close();
      this.#dropped(server);
    }
    // A slot is reserved (counted busy): open a connection in it, or give it up.
    try {
      const connection = await KmipConnection.open(server, this.#o.tls, { timeoutMs: this.#o.connectTimeoutMs, signal });
      this.#opened++;
      return { connection, pooled: false };
    } catch (e) {
      this.#dropped(server);
      throw e;
    }
  }

  /**
   * Waits for a busy connection to `key` to be released (resolves with it, still counted busy) or to fail
   * (resolves undefined with its slot reserved, counted busy). Rejects when `signal` aborts or the client closes.
   */
  #wait(key: string, signal: AbortSignal | undefined): Promise<KmipConnection | undefined> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const list = this.#waiting.get(key);
        const i = list?.indexOf(waiter) ?? -1;
        if (i >= 0) list?.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        give: (c) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(c);
        },
        fail: (e) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const list = this.#waiting.get(key) ?? [];
      this.#waiting.set(key, list);
      list.push(waiter);
    });
  }

  /** A busy connection to `server` was closed (failed, or could not be opened): its slot goes to the next waiter. */
  #dropped(server: ServerAddress): void {
    const key = serverKey(server);
    const next = this.#waiting.get(key)?.shift();
    // The slot passes to the waiter (still counted busy), who opens a connection in it.
    if (next) next.give(undefined);
    else this.#busy.set(key, Math.max(0, (this.#busy.get(key) ?? 0) - 1));
  }

  /** A busy connection to `server` is done with: to the next waiter, else to the idle pool. */
  #release(server: ServerAddress, conn: KmipConnection): void {
    const key = serverKey(server);
    if (this.#closed || !conn.usable) {
      conn.close();
      this.#dropped(server);
      return;
    }
    const next = this.#waiting.get(key)?.shift();
    if (next) {
      next.give(conn);
      return;
    }
    this.#busy.set(key, Math.max(0, (this.#busy.get(key) ?? 0) - 1));
    const idle = this.#idle.get(key) ?? [];
    this.#idle.set(key, idle);
    if (idle.length < this.#o.poolSize) idle.push(conn);
    else conn.close();
  }

  /** How many connections this client has opened so far, and how many are idle in its pool now. */
  get connections(): { opened: number; idle: number } {
    let idle = 0;
    for (const list of this.#idle.values()) idle += list.length;
    return { opened: this.#opened, idle };
  }

  /**
   * Sends a batch; resolves with each item's response payload or a KmipResultError, in order. A batch is sent again
   * after a failure only if all its operations are idempotent; otherwise such a failure is a
   * `KmipOutcomeUnknownError`.
   */
  async batch(ops: BatchOperation[], options: CallOptions = {}): Promise<(Ttlv | KmipResultError)[]> {
    // A Unique Batch Item ID is required when a message carries more than one operation (KMIP 1.4 §7.2).
    const ids = ops.length > 1 ? ops.map((_, i) => new Uint8Array([(i >> 8) & 0xff, i & 0xff])) : [];
    const req = encodeRequest({
      header: { protocolVersion: this.version, batchCount: ops.length },
      items: ops.map((o, i) => ({ operation: enumValue("Operation", o.operation), uniqueBatchItemId: ids[i], payload: struct("RequestPayload", o.payload) })),
    });
    const res = decodeResponse(decodeTtlv(await this.#exchange(
        encodeTtlv(req),
        ops.map((o) => o.operation),
        options.signal,
      )));
    if (res.items.length !== ops.length) {
      const first = res.items[0];
      if (first && first.resultStatus !== 0) {
        throw new KmipResultError(
          ops[0].operation,
          enumName("ResultStatus", first.resultStatus),
          first.resultReason !== undefined ? enumName("ResultReason", first.resultReason, this.version) : "",
          first.resultMessage ?? "",
        );
      }
      throw new KmipTransportError(`the server answered ${res.items.length} batch items for ${ops.length}`);
    }
    return res.items.map((r, i) => {
      if (r.resultStatus === 0) return r.payload ?? struct("ResponsePayload", []);
      return new KmipResultError(
        ops[i].operation,
        enumName("ResultStatus", r.resultStatus),
        r.resultReason !== undefined ? enumName("ResultReason", r.resultReason, this.version) : "",
        r.resultMessage ?? "",
      );
    });
  }

  /** Runs one operation; throws KmipResultError when it fails. */
  async request(operation: string, payload: Ttlv[], options: CallOptions = {}): Promise<Ttlv> {
    const [r] = await this.batch([{ operation, payload }], options);
    if (r instanceof KmipResultError) throw r;
    return r;
  }

  /** Attributes in this version's shape (inside a TemplateAttribute for 1.x, an Attributes structure for 2.x). */
  attributes(attrs: AttributeInput[], container: "TemplateAttribute" | "Attributes" = this.version.major >= 2 ? "Attributes" : "TemplateAttribute"): Ttlv[] {
    if (attrs.length === 0 && this.version.major < 2) return [];
    const items = attrs.map((a) => item(a.name, a.value, a.type, this.version));
    if (this.version.major >= 2) return [struct(container === "TemplateAttribute" ? "Attributes" : container, items)];
    const oneX = items.map((v, i) =>
      struct("Attribute", [item("AttributeName", attributeName(attrs[i].name) ?? attrs[i].name), { ...v, tag: tagOf("AttributeValue") } as Ttlv]),
    );
    return container === "TemplateAttribute" ? [struct("TemplateAttribute", oneX)] : oneX;
  }

  /** Discover Versions: the versions both sides speak, server's order. */
  async discoverVersions(versions: KmipVersion[] = [], options: CallOptions = {}): Promise<KmipVersion[]> {
    const p = await this.request(
      "DiscoverVersions",
      versions.map((v) => struct("ProtocolVersion", [item("ProtocolVersionMajor", v.major), item("ProtocolVersionMinor", v.minor)])),
      options,
    );
    return children(p, "ProtocolVersion").map((v) => ({ major: int(v, "ProtocolVersionMajor") ?? 0, minor: int(v, "ProtocolVersionMinor") ?? 0 }));
  }

  /** Query: operations and object types the server supports, and its vendor string. */
  async query(options: CallOptions = {}): Promise<{ operations: string[]; objectTypes: string[]; vendor?: string }> {
    const p = await this.request(
      "Query",
      ["QueryOperations", "QueryObjects", "QueryServerInformation"].map((f) => item("QueryFunction", f)),
      options,
    );
    return {
      operations: children(p, "Operation").map((o) => enumText(o, this.version)),
      objectTypes: children(p, "ObjectType").map((o) => enumText(o, this.version)),
      vendor: text(p, "VendorIdentification"),
    };
  }

  /** Create a symmetric key. */
  async create(options: { algorithm: string; length: number; usage?: string; name?: string; attributes?: AttributeInput[] } & CallOptions): Promise<string> {
    const attrs: AttributeInput[] = [
      { name: "CryptographicAlgorithm", value: options.algorithm },
      { name: "CryptographicLength", value: options.length },
      { name: "CryptographicUsageMask", value: options.usage ?? "Encrypt Decrypt" },
      ...(options.name ? [{ name: "Name", value: [item("NameValue", options.name), item("NameType", "UninterpretedTextString")] }] : []),
      ...(options.attributes ?? []),
    ];
    const p = await this.request("Create", [item("ObjectType", "SymmetricKey"), ...this.attributes(attrs)], options);
    return uid(p);
  }

  /** Register a symmetric key or secret data. */
  async register(options: {
    objectType: "SymmetricKey" | "SecretData";
    material: Uint8Array;
    algorithm?: string;
    usage?: string;
    name?: string;
  } & CallOptions): Promise<string> {
    const isKey = options.objectType === "SymmetricKey";
    const block = struct("KeyBlock", [
      item("KeyFormatType", isKey ? "Raw" : "Opaque"),
      struct("KeyValue", [item("KeyMaterial", options.material)]),
      isKey && item("CryptographicAlgorithm", options.algorithm ?? "AES"),
      isKey && item("CryptographicLength", options.material.length * 8),
    ]);
    const obj = isKey ? struct("SymmetricKey", [block]) : struct("SecretData", [item("SecretDataType", "Password"), block]);
    const attrs: AttributeInput[] = [
      { name: "CryptographicUsageMask", value: options.usage ?? (isKey ? "Encrypt Decrypt" : "Verify") },
      ...(options.name ? [{ name: "Name", value: [item("NameValue", options.name), item("NameType", "UninterpretedTextString")] }] : []),
    ];
    const p = await this.request("Register", [item("ObjectType", options.objectType), ...this.attributes(attrs), obj], options);
    return uid(p);
  }

  /** Get: the object's type, key material (when not wrapped) and algorithm/length. */
  async get(id: string, options: CallOptions = {}): Promise<{ objectType: string; material?: Uint8Array; algorithm?: string; length?: number; raw: Ttlv }> {
    const p = await this.request("Get", [item("UniqueIdentifier", id)], options);
    const typeItem = child(p, "ObjectType");
    const objectType = typeItem ? enumText(typeItem, this.version) : "";
    const obj = childrenOf(p).find((c) => c.type === TTLV_TYPE.Structure);
    const kb = child(obj, "KeyBlock");
    const kv = child(kb, "KeyValue");
    const alg = child(kb, "CryptographicAlgorithm");
    return {
      objectType,
      material: kv?.type === TTLV_TYPE.Structure ? bytes(kv, "KeyMaterial") : bytes(obj, "CertificateValue"),
      algorithm: alg ? enumText(alg, this.version) : undefined,
      length: int(kb, "CryptographicLength"),
      raw: p,
    };
  }

  /** Get Attributes: attribute name → values (1.x names, e.g. "Cryptographic Algorithm"). */
  async getAttributes(id: string, names: string[] = [], options: CallOptions = {}): Promise<Map<string, Ttlv[]>> {
    const p = await this.request(
      "GetAttributes",
      [
        item("UniqueIdentifier", id),
        ...names.map((n) =>
          this.version.major >= 2 ? item("AttributeReference", tagOf(n), TTLV_TYPE.Enumeration) : item("AttributeName", attributeName(n) ?? n),
        ),
      ],
      options,
    );
    const out = new Map<string, Ttlv[]>();
    const add = (n: string, v: Ttlv) => out.set(n, [...(out.get(n) ?? []), v]);
    for (const a of children(p, "Attribute")) {
      // 1.x: give the value its attribute's own tag, so enumerations and masks decode by name.
      const name = text(a, "AttributeName") ?? "";
      const value = child(a, "AttributeValue");
      const tn = attributeTagName(name);
      if (value) add(name, tn ? ({ ...value, tag: tagOf(tn) } as Ttlv) : value);
    }
    for (const v of childrenOf(child(p, "Attributes"))) add(attributeName(tagName(v.tag)) ?? tagName(v.tag), v);
    return out;
  }

  /** Locate by name, object type, … (attributes), with paging. */
  async locate(
    options: { name?: string; objectType?: string; attributes?: AttributeInput[]; maxItems?: number; offset?: number } & CallOptions = {},
  ): Promise<string[]> {
    const attrs: AttributeInput[] = [
      ...(options.objectType ? [{ name: "ObjectType", value: options.objectType }] : []),
      ...(options.name ? [{ name: "Name", value: [item("NameValue", options.name), item("NameType", "UninterpretedTextString")] }] : []),
      ...(options.attributes ?? []),
    ];
    const p = await this.request(
      "Locate",
      [
        options.maxItems !== undefined && item("MaximumItems", options.maxItems),
        options.offset !== undefined && item("OffsetItems", options.offset),
        ...this.attributes(attrs, this.version.major >= 2 ? "Attributes" : "Attributes"),
      ].filter((x): x is Ttlv => !!x),
      options,
    );
    return children(p, "UniqueIdentifier").map((u) => (u.type === TTLV_TYPE.TextString ? u.value : ""));
  }

  /** Activate. */
  async activate(id: string, options: CallOptions = {}): Promise<void> {
    await this.request("Activate", [item("UniqueIdentifier", id)], options);
  }

  /**
   * Adds a value of a custom text attribute: `x-name` in KMIP 1.x; in 2.x the vendor attribute of Vendor
   * Identification `x` and Attribute Name `name`.
   */
  async addCustomAttribute(id: string, name: string, value: string, options: CallOptions = {}): Promise<void> {
    await this.request("AddAttribute", [item("UniqueIdentifier", id), this.#customAttribute(name, value, "NewAttribute")], options);
  }

  /** Deletes a value of a custom text attribute (see {@link addCustomAttribute}); fails if the object lacks it. */
  async deleteCustomAttribute(id: string, name: string, value: string, options: CallOptions = {}): Promise<void> {
    if (this.version.major >= 2) {
      await this.request("DeleteAttribute", [item("UniqueIdentifier", id), this.#customAttribute(name, value, "CurrentAttribute")], options);
      return;
    }
    // KMIP 1.x deletes by index: find the value's.
    const values = (await this.getAttributes(id, [`x-${name}`], options)).get(`x-${name}`) ?? [];
    const index = values.findIndex((v) => v.value === value);
    if (index < 0) throw new KmipResultError("DeleteAttribute", "OperationFailed", "ItemNotFound", `object ${id} has no x-${name} "${value}"`);
    await this.request("DeleteAttribute", [item("UniqueIdentifier", id), item("AttributeName", `x-${name}`), item("AttributeIndex", index)], options);
  }

  #customAttribute(name: string, value: string, container: "NewAttribute" | "CurrentAttribute"): Ttlv {
    const v = item("AttributeValue", value, TTLV_TYPE.TextString);
    if (this.version.major >= 2) return struct(container, [struct("Attribute", [item("VendorIdentification", "x"), item("AttributeName", name), v])]);
    return struct("Attribute", [item("AttributeName", `x-${name}`), v]);
  }

  /** Revoke with a reason (default Unspecified). */
  async revoke(id: string, reason = "Unspecified", message?: string, options: CallOptions = {}): Promise<void> {
    await this.request(
      "Revoke",
      [item("UniqueIdentifier", id), struct("RevocationReason", [item("RevocationReasonCode", reason), message !== undefined && item("RevocationMessage", message)])],
      options,
    );
  }

  /** Destroy. */
  async destroy(id: string, options: CallOptions = {}): Promise<void> {
    await this.request("Destroy", [item("UniqueIdentifier", id)], options);
  }

  /** Encrypt with a managed key (default AES-GCM with a server-chosen IV). */
  async encrypt(
    id: string,
    data: Uint8Array,
    options: { mode?: string; padding?: string; iv?: Uint8Array; aad?: Uint8Array; tagLength?: number } & CallOptions = {},
  ): Promise<{ data: Uint8Array; iv?: Uint8Array; tag?: Uint8Array }> {
    const p = await this.request("Encrypt", cipherPayload(this.version, id, data, options), options);
    return { data: bytes(p, "Data") ?? new Uint8Array(), iv: bytes(p, "IVCounterNonce") ?? options.iv, tag: bytes(p, "AuthenticatedEncryptionTag") };
  }

  /** Decrypt with a managed key. */
  async decrypt(
    id: string,
    data: Uint8Array,
    options: { mode?: string; padding?: string; iv?: Uint8Array; aad?: Uint8Array; tag?: Uint8Array; tagLength?: number } & CallOptions = {},
  ): Promise<Uint8Array> {
    const p = await this.request("Decrypt", cipherPayload(this.version, id, data, options), options);
    return bytes(p, "Data") ?? new Uint8Array();
  }

  /** Closes pooled connections; requests waiting for a connection fail (those in flight finish, then close theirs). */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const c of list) c.close();
    this.#idle.clear();
    const closed = new KmipTransportError("the KMIP client is closed");
    for (const list of this.#waiting.values()) for (const w of list.splice(0)) w.fail(closed);
  }
}

function cryptoParams(o: { mode?: string; padding?: string; tagLength?: number }): Ttlv {
  const mode = o.mode ?? "GCM";
  return struct("CryptographicParameters", [
    item("BlockCipherMode", mode),
    (o.padding ?? (mode === "CBC" ? "PKCS5" : undefined)) !== undefined && item("PaddingMethod", o.padding ?? "PKCS5"),
    item("CryptographicAlgorithm", "AES"),
    // KMIP 1.4 §3.6 field order: Tag Length comes after Cryptographic Algorithm (strict parsers such as PyKMIP's reject it earlier).
    mode === "GCM" && item("TagLength", o.tagLength ?? 16),
  ]);
}

/**
 * The request payload of Encrypt and Decrypt: key, parameters, data, IV, AAD and (to decrypt) the tag.
 * @throws KmipEncodeError for AES-GCM or AAD under KMIP before 1.4, which has no fields for the tag and the AAD:
 * a server would encrypt and drop the tag, and nothing could decrypt.
 */
function cipherPayload(
  version: KmipVersion,
  id: string,
  data: Uint8Array,
  options: { mode?: string; padding?: string; iv?: Uint8Array; aad?: Uint8Array; tag?: Uint8Array; tagLength?: number },
): Ttlv[] {
  if ((options.mode ?? "GCM") === "GCM" || options.aad !== undefined || options.tag !== undefined) {
    if (version.major === 1 && version.minor < 4) {
      throw new KmipEncodeError("CryptographicParameters", `AES-GCM and its AAD and tag need KMIP 1.4 or later (this client speaks ${version.major}.${version.minor}): choose another mode or version`);
    }
  }
  return [
    item("UniqueIdentifier", id),
    cryptoParams(options),
    item("Data", data),
    options.iv && item("IVCounterNonce", options.iv),
    options.aad && item("AuthenticatedEncryptionAdditionalData", options.aad),
    options.tag && item("AuthenticatedEncryptionTag", options.tag),
  ].filter((x): x is Ttlv => !!x);
}

function uid(p: Ttlv): string {
  const u = child(p, "UniqueIdentifier");
  if (!u || u.type !== TTLV_TYPE.TextString) throw new KmipTransportError("the response carries no UniqueIdentifier");
  return u.value;
}
