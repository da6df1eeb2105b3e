/**
 * @tessera/tss — the TSS bridge: TCTI transports (kernel device, swtpm TCP/Unix), sessions (password,
 * HMAC bound/salted, policy), one generic `execute`, and the EK/AK workflows.
 * @module
 */
export * from "./errors.ts";
export * from "./transport.ts";
export * from "./socket_transport.ts";
export * from "./device_transport.ts";
export * from "./tcti.ts";
export * from "./session.ts";
export * from "./tpm.ts";
export * from "./ek.ts";
export * from "./ak.ts";
export * from "./info.ts";
export * from "./seal.ts";
export * from "./persistent.ts";
export * from "./timeouts.ts";
