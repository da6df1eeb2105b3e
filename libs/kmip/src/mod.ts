/**
 * @tessera/kmip — KMIP: the TTLV codec, the tag/type/enumeration registry (KMIP 1.0–2.1), tree builders
 * and accessors, request/response messages, and JSON/XML renderings.
 * @module
 */
export * from "./errors.ts";
export * from "./ttlv.ts";
export * from "./registry.ts";
export * from "./node.ts";
export * from "./message.ts";
export { fromJson, type JsonOptions, type JsonTtlv, toJson } from "./json.ts";
export { type ParseXmlOptions, parseXml, type PlaceholderResolver, toXml, type ToXmlOptions, XML_PLACEHOLDER, type XmlItem } from "./xml.ts";
