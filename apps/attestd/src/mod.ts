/**
 * @tessera/attestd: the Trust Authority's attestation service (PROTOCOL.md §1–3 and the token).
 * @module
 */
export * from "./deps.ts";
export type { AttestdConfig } from "./config.ts";
