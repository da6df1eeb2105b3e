/**
 * @tessera/appraisal — the Trust Authority's decision, pure (no I/O): {@link appraise} takes a host's evidence
 * (AK, quote, signature, PCR values, event log, optional binding key), a policy (accepted images, PCR selection,
 * Secure Boot, algorithms) and the nonce, and gives a verdict listing every failed check with the codes of
 * PROTOCOL.md.
 * @module
 */
export * from "./types.ts";
export * from "./appraise.ts";
