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
