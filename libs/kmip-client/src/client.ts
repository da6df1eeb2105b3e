/**
 * A KMIP client: a pool of mutually authenticated TLS connections, servers tried in order with failover,
 * timeouts, reconnect on a broken connection, batches, and the common operations. Attributes are written in
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

/** Options of {@link KmipClient}. */
export interface KmipClientOptions {
  /** Servers in order of preference; the next is tried when one cannot be reached. */
  servers: ServerAddress[];
  tls: ClientTls;
  /** Protocol version to speak (default 1.4). */
  version?: KmipVersion;
  /** Connections kept per server (default 4). */
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
  #closed = false;

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

  async #exchange(request: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) throw new KmipTransportError("the KMIP client is closed");
    const errors: string[] = [];
    for (const server of this.#o.servers) {
      const key = `${server.host}:${server.port}`;
      const idle = this.#idle.get(key) ?? [];
      this.#idle.set(key, idle);
      // A pooled connection may have been closed by the server since: retry once on a fresh one.
      for (let attempt = 0; attempt < 2; attempt++) {
        let conn = idle.pop();
        while (conn && !conn.usable) conn = idle.pop();
        try {
          const fresh = !conn;
          conn ??= await KmipConnection.open(server, this.#o.tls, this.#o.connectTimeoutMs);
          try {
            const res = await conn.send(request, this.#o.timeoutMs);
            if (idle.length < this.#o.poolSize && !this.#closed) idle.push(conn);
            else conn.close();
            return res;
          } catch (e) {
            conn.close();
            if (fresh) throw e;
          }
        } catch (e) {
          errors.push((e as Error).message);
          break;
        }
      }
    }
    throw new KmipTransportError(`no KMIP server answered: ${errors.join("; ")}`);
  }

  /** Sends a batch; resolves with each item's response payload or a KmipResultError, in order. */
  async batch(ops: BatchOperation[]): Promise<(Ttlv | KmipResultError)[]> {
    // A Unique Batch Item ID is required when a message carries more than one operation (KMIP 1.4 §7.2).
    const ids = ops.length > 1 ? ops.map((_, i) => new Uint8Array([(i >> 8) & 0xff, i & 0xff])) : [];
    const req = encodeRequest({
      header: { protocolVersion: this.version, batchCount: ops.length },
      items: ops.map((o, i) => ({ operation: enumValue("Operation", o.operation), uniqueBatchItemId: ids[i], payload: struct("RequestPayload", o.payload) })),
    });
    const res = decodeResponse(decodeTtlv(await this.#exchange(encodeTtlv(req))));
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
  async request(operation: string, payload: Ttlv[]): Promise<Ttlv> {
    const [r] = await this.batch([{ operation, payload }]);
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
  async discoverVersions(versions: KmipVersion[] = []): Promise<KmipVersion[]> {
    const p = await this.request(
      "DiscoverVersions",
      versions.map((v) => struct("ProtocolVersion", [item("ProtocolVersionMajor", v.major), item("ProtocolVersionMinor", v.minor)])),
    );
    return children(p, "ProtocolVersion").map((v) => ({ major: int(v, "ProtocolVersionMajor") ?? 0, minor: int(v, "ProtocolVersionMinor") ?? 0 }));
  }

  /** Query: operations and object types the server supports, and its vendor string. */
  async query(): Promise<{ operations: string[]; objectTypes: string[]; vendor?: string }> {
    const p = await this.request(
      "Query",
      ["QueryOperations", "QueryObjects", "QueryServerInformation"].map((f) => item("QueryFunction", f)),
    );
    return {
      operations: children(p, "Operation").map((o) => enumText(o, this.version)),
      objectTypes: children(p, "ObjectType").map((o) => enumText(o, this.version)),
      vendor: text(p, "VendorIdentification"),
    };
  }

  /** Create a symmetric key. */
  async create(options: { algorithm: string; length: number; usage?: string; name?: string; attributes?: AttributeInput[] }): Promise<string> {
    const attrs: AttributeInput[] = [
      { name: "CryptographicAlgorithm", value: options.algorithm },
      { name: "CryptographicLength", value: options.length },
      { name: "CryptographicUsageMask", value: options.usage ?? "Encrypt Decrypt" },
      ...(options.name ? [{ name: "Name", value: [item("NameValue", options.name), item("NameType", "UninterpretedTextString")] }] : []),
      ...(options.attributes ?? []),
    ];
    const p = await this.request("Create", [item("ObjectType", "SymmetricKey"), ...this.attributes(attrs)]);
    return uid(p);
  }

  /** Register a symmetric key or secret data. */
  async register(options: {
    objectType: "SymmetricKey" | "SecretData";
    material: Uint8Array;
    algorithm?: string;
    usage?: string;
    name?: string;
  }): Promise<string> {
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
    const p = await this.request("Register", [item("ObjectType", options.objectType), ...this.attributes(attrs), obj]);
    return uid(p);
  }

  /** Get: the object's type, key material (when not wrapped) and algorithm/length. */
  async get(id: string): Promise<{ objectType: string; material?: Uint8Array; algorithm?: string; length?: number; raw: Ttlv }> {
    const p = await this.request("Get", [item("UniqueIdentifier", id)]);
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
  async getAttributes(id: string, names: string[] = []): Promise<Map<string, Ttlv[]>> {
    const p = await this.request("GetAttributes", [
      item("UniqueIdentifier", id),
      ...names.map((n) =>
        this.version.major >= 2 ? item("AttributeReference", tagOf(n), TTLV_TYPE.Enumeration) : item("AttributeName", attributeName(n) ?? n),
      ),
    ]);
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
  async locate(options: { name?: string; objectType?: string; attributes?: AttributeInput[]; maxItems?: number; offset?: number } = {}): Promise<string[]> {
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
    );
    return children(p, "UniqueIdentifier").map((u) => (u.type === TTLV_TYPE.TextString ? u.value : ""));
  }

  /** Activate. */
  async activate(id: string): Promise<void> {
    await this.request("Activate", [item("UniqueIdentifier", id)]);
  }

  /**
   * Adds a value of a custom text attribute: `x-name` in KMIP 1.x; in 2.x the vendor attribute of Vendor
   * Identification `x` and Attribute Name `name`.
   */
  async addCustomAttribute(id: string, name: string, value: string): Promise<void> {
    await this.request("AddAttribute", [item("UniqueIdentifier", id), this.#customAttribute(name, value, "NewAttribute")]);
  }

  /** Deletes a value of a custom text attribute (see {@link addCustomAttribute}); fails if the object lacks it. */
  async deleteCustomAttribute(id: string, name: string, value: string): Promise<void> {
    if (this.version.major >= 2) {
      await this.request("DeleteAttribute", [item("UniqueIdentifier", id), this.#customAttribute(name, value, "CurrentAttribute")]);
      return;
    }
    // KMIP 1.x deletes by index: find the value's.
    const values = (await this.getAttributes(id, [`x-${name}`])).get(`x-${name}`) ?? [];
    const index = values.findIndex((v) => v.value === value);
    if (index < 0) throw new KmipResultError("DeleteAttribute", "OperationFailed", "ItemNotFound", `object ${id} has no x-${name} "${value}"`);
    await this.request("DeleteAttribute", [item("UniqueIdentifier", id), item("AttributeName", `x-${name}`), item("AttributeIndex", index)]);
  }

  #customAttribute(name: string, value: string, container: "NewAttribute" | "CurrentAttribute"): Ttlv {
    const v = item("AttributeValue", value, TTLV_TYPE.TextString);
    if (this.version.major >= 2) return struct(container, [struct("Attribute", [item("VendorIdentification", "x"), item("AttributeName", name), v])]);
    return struct("Attribute", [item("AttributeName", `x-${name}`), v]);
  }

  /** Revoke with a reason (default Unspecified). */
  async revoke(id: string, reason = "Unspecified", message?: string): Promise<void> {
    await this.request("Revoke", [
      item("UniqueIdentifier", id),
      struct("RevocationReason", [item("RevocationReasonCode", reason), message !== undefined && item("RevocationMessage", message)]),
    ]);
  }

  /** Destroy. */
  async destroy(id: string): Promise<void> {
    await this.request("Destroy", [item("UniqueIdentifier", id)]);
  }

  /** Encrypt with a managed key (default AES-GCM with a server-chosen IV). */
  async encrypt(
    id: string,
    data: Uint8Array,
    options: { mode?: string; padding?: string; iv?: Uint8Array; aad?: Uint8Array; tagLength?: number } = {},
  ): Promise<{ data: Uint8Array; iv?: Uint8Array; tag?: Uint8Array }> {
    const p = await this.request("Encrypt", cipherPayload(id, data, options));
    return { data: bytes(p, "Data") ?? new Uint8Array(), iv: bytes(p, "IVCounterNonce") ?? options.iv, tag: bytes(p, "AuthenticatedEncryptionTag") };
  }

  /** Decrypt with a managed key. */
  async decrypt(
    id: string,
    data: Uint8Array,
    options: { mode?: string; padding?: string; iv?: Uint8Array; aad?: Uint8Array; tag?: Uint8Array; tagLength?: number } = {},
  ): Promise<Uint8Array> {
    const p = await this.request("Decrypt", cipherPayload(id, data, options));
    return bytes(p, "Data") ?? new Uint8Array();
  }

  /** Closes pooled connections. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const c of list) c.close();
    this.#idle.clear();
  }
}

function cryptoParams(o: { mode?: string; padding?: string; tagLength?: number }): Ttlv {
  const mode = o.mode ?? "GCM";
  return struct("CryptographicParameters", [
    item("BlockCipherMode", mode),
    (o.padding ?? (mode === "CBC" ? "PKCS5" : undefined)) !== undefined && item("PaddingMethod", o.padding ?? "PKCS5"),
    mode === "GCM" && item("TagLength", o.tagLength ?? 16),
    item("CryptographicAlgorithm", "AES"),
  ]);
}

/** The request payload of Encrypt and Decrypt: key, parameters, data, IV, AAD and (to decrypt) the tag. */
function cipherPayload(
  id: string,
  data: Uint8Array,
  options: { mode?: string; padding?: string; iv?: Uint8Array; aad?: Uint8Array; tag?: Uint8Array; tagLength?: number },
): Ttlv[] {
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
