/**
 * Passwords: scrypt hashes in a self-describing string, and generated passwords for first starts.
 *
 * A stored hash reads `scrypt$N$r$p$salt$hash` (salt and hash base64url, no padding), so the cost can be
 * raised later without breaking the hashes already stored.
 *
 * A wrong password gives `false`. A stored string that is not a well-formed hash (wrong field count, bad
 * numbers, out-of-range cost, bad base64url, a hash of the wrong length) throws a {@link ServiceError}
 * `SERVICE_PASSWORD_HASH`: that is a corrupt or tampered database, which an operator must see, not a failed
 * login. A well-formed string whose bytes were changed simply does not verify (`false`).
 * @module
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { ServiceError } from "./errors.ts";

const N = 1 << 15;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Bounds for stored parameters: a tampered row must not make one login allocate gigabytes.
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

function derive(password: string, salt: Uint8Array, n: number, r: number, p: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    // maxmem: scrypt needs 128·N·r bytes; Node's default cap (32 MiB) is exactly N=2^15, r=8 and no margin.
    scrypt(password.normalize("NFC"), salt, length, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (e, key) => (e ? reject(e) : resolve(key))),
  );
}

/**
 * Hashes a password with scrypt (N=2^15, r=8, p=1, 16-byte random salt, 32-byte hash).
 * @example
 * ```ts
 * const stored = await hashPassword("correct horse"); // "scrypt$32768$8$1$…$…"
 * await verifyPassword("correct horse", stored); // true
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, N, R, P, HASH_BYTES);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const INT = /^[1-9]\d{0,9}$/;

function malformed(why: string): ServiceError {
  return new ServiceError("SERVICE_PASSWORD_HASH", `stored password hash is malformed: ${why}`);
}

/**
 * Checks `password` against a string {@link hashPassword} made, comparing in constant time (timingSafeEqual).
 * @returns false for a wrong password.
 * @throws ServiceError SERVICE_PASSWORD_HASH when `stored` is not a well-formed hash (see the module comment).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6) throw malformed(`expected 6 fields separated by "$", got ${parts.length}`);
  const [scheme, ns, rs, ps, salts, hashs] = parts;
  if (scheme !== "scrypt") throw malformed(`unknown scheme "${scheme}"`);
  for (const [name, v] of [["N", ns], ["r", rs], ["p", ps]] as const) if (!INT.test(v)) throw malformed(`${name} "${v}" is not a positive integer`);
  const n = Number(ns);
  const r = Number(rs);
  const p = Number(ps);
  if (n < 2 || n > MAX_N || (n & (n - 1)) !== 0) throw malformed(`N ${n} is not a power of two between 2 and ${MAX_N}`);
  if (r > MAX_R) throw malformed(`r ${r} exceeds ${MAX_R}`);
  if (p > MAX_P) throw malformed(`p ${p} exceeds ${MAX_P}`);
  if (!B64URL.test(salts) || !B64URL.test(hashs)) throw malformed("salt or hash is not base64url");
  const salt = Buffer.from(salts, "base64url");
  const expected = Buffer.from(hashs, "base64url");
  if (salt.length < 8) throw malformed(`salt is ${salt.length} bytes, expected at least 8`);
  if (expected.length < 16 || expected.length > 64) throw malformed(`hash is ${expected.length} bytes, expected 16 to 64`);
  const actual = await derive(password, salt, n, r, p, expected.length);
  return timingSafeEqual(actual, expected);
}

/** A new random password: 24 random bytes as 32 base64url characters (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString("base64url");
}
