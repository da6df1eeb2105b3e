/**
 * @tessera/vtpm — vTPM state encryption, pure (no I/O).
 *
 * - {@link sealEnvelope} / {@link sealEnvelopeParts} / {@link openEnvelope}: the one envelope of the codebase: a
 *   versioned header (provider name and kind, key id and version, the wrapped data key, algorithm, nonce) and the
 *   content, AES-256-GCM under the data key, every header byte its associated data.
 * - {@link rewrapEnvelope}: a new data key, or the same one under a new primary key, without touching the
 *   ciphertext (the tag recomputed for the new header: {@link gcmRetag}).
 * - {@link readEnvelopeHeader}: what an envelope says about its key, without the key.
 * - {@link EnvelopeError}: every failure, with a stable `code`, the field and the byte offset.
 * - {@link parseVmConfig}, {@link newVmConfig}, {@link vtpmRefusal}: a VM's vm.json and who may have a vTPM.
 * @module
 */
export * from "./errors.ts";
export * from "./envelope.ts";
export * from "./gcm_retag.ts";
export * from "./vm_config.ts";
