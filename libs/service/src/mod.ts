/**
 * @tessera/service: the process plumbing every Tessera service shares.
 *
 * - {@link ensurePrivateDir}: the data directory, 0700.
 * - {@link writeSecretFile} / {@link readPem}: atomic 0600 files whatever the umask; PEM files named in errors.
 * - {@link ensureLocalTls}: a local CA and server (and client) certificates on first start;
 *   {@link prepareServiceHome}: a service's data directory, TLS and master key in one call.
 * - {@link aesGcmKeyring}, {@link loadOrCreateMasterKey}, {@link loadOrCreateSealedMasterKey}: keys at rest.
 * - {@link hashPassword}, {@link verifyPassword}, {@link generatePassword}: scrypt passwords.
 * - {@link randomBytesFromPool}: CSPRNG bytes from a pooled buffer (many small nonces, one OpenSSL call).
 * - {@link uuidV7}, {@link timeOrderedBytes}: random identifiers and nonces that sort by creation time (index-friendly keys).
 * - {@link ServiceError}: every failure, with a stable `code`.
 *
 * @module
 */
export { ensurePrivateDir } from "./data_dir.ts";
export { readPem, writeSecretFile, type WriteSecretFileOptions } from "./secret_file.ts";
export { prepareServiceHome, type ServiceHomeOptions, type ServiceTls } from "./service_home.ts";
export { ensureLocalTls, type GeneratedTls, type GeneratedTlsWithClient, type LocalTlsOptions } from "./local_tls.ts";
export { aesGcmKeyring, assertMasterKeyUnwraps, loadOrCreateMasterKey, loadOrCreateSealedMasterKey, type Keyring, type WrappedAtRest } from "./master_key.ts";
export { randomBytesFromPool } from "./random_bytes_from_pool.ts";
export { TIME_PREFIX_BYTES, timeOfOrdered, timeOrderedBytes, uuidV7 } from "./time_ordered.ts";
export { generatePassword, hashPassword, verifyPassword } from "./password.ts";
export { SERVICE_ERROR_CODES, ServiceError, type ServiceErrorCode } from "./errors.ts";
